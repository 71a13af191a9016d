package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/voicemail-platform/voicemail/app/internal/haproxy"
	"github.com/voicemail-platform/voicemail/app/internal/kamailio"
	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Edge is one instance of the operator edge in front of every stamp, built from the same
// generated configurations an operator starts from: Kamailio in the edge role for SIP (it
// probes each stamp's dispatcher with OPTIONS, dispatches new dialogs by the stamps' priority
// (home region first) and weight, fails over on 503 or silence, record-routes) and HAProxy for
// IMAP (each stamp in rotation while its health answers 200, lower priorities as backups).
type Edge struct {
	SIP  *kamailio.Process // nil without SIP
	IMAP *haproxy.Process  // nil without IMAP
}

// SIPAddr is the edge's SIP address (UDP and TCP), empty without SIP.
func (e *Edge) SIPAddr() string {
	if e.SIP == nil {
		return ""
	}
	return e.SIP.Addr("udp")
}

// IMAPAddr is the edge's IMAP address, empty without IMAP.
func (e *Edge) IMAPAddr() string {
	if e.IMAP == nil {
		return ""
	}
	return e.IMAP.Config.Listen
}

// SIPUp returns the stamps the edge's Kamailio sends new dialogs to now.
func (e *Edge) SIPUp(ctx context.Context, stamps []*StampProc) ([]string, error) {
	dests, err := e.SIP.Destinations(ctx)
	if err != nil {
		return nil, err
	}
	var up []string
	for _, sp := range stamps {
		if dests["sip:"+sp.SIP] {
			up = append(up, sp.Stamp.ID)
		}
	}
	return up, nil
}

// IMAPUp returns the stamps the edge's HAProxy keeps in rotation now.
func (e *Edge) IMAPUp(ctx context.Context, stamps []*StampProc) ([]string, error) {
	states, err := e.IMAP.ServerStates(ctx)
	if err != nil {
		return nil, err
	}
	var up []string
	for _, sp := range stamps {
		if states[sp.Stamp.ID] == "UP" {
			up = append(up, sp.Stamp.ID)
		}
	}
	return up, nil
}

// Up returns the stamps this edge routes both protocols to.
func (e *Edge) Up(ctx context.Context, stamps []*StampProc) ([]string, error) {
	up := map[string]int{}
	want := 0
	if e.SIP != nil {
		want++
		ids, err := e.SIPUp(ctx, stamps)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			up[id]++
		}
	}
	if e.IMAP != nil {
		want++
		ids, err := e.IMAPUp(ctx, stamps)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			up[id]++
		}
	}
	var out []string
	for _, sp := range stamps {
		if up[sp.Stamp.ID] == want {
			out = append(out, sp.Stamp.ID)
		}
	}
	return out, nil
}

func (e *Edge) close() {
	e.SIP.Stop()
	e.IMAP.Stop()
}

// startEdges starts the edge instances in front of every stamp.
func (c *Cluster) startEdges(ctx context.Context) error {
	for i := range c.opt.Edges {
		e := &Edge{}
		c.Edges = append(c.Edges, e)
		dir := filepath.Join(c.Dir, fmt.Sprintf("edge-%d", i))
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		if c.opt.SIP {
			if err := c.startEdgeSIP(ctx, e, i, filepath.Join(dir, "kamailio")); err != nil {
				return err
			}
		}
		if c.opt.IMAP {
			if err := c.startEdgeIMAP(ctx, e, i, filepath.Join(dir, "haproxy")); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Cluster) startEdgeSIP(ctx context.Context, e *Edge, i int, dir string) (err error) {
	addr := ""
	if i < len(c.opt.EdgeSIPAddrs) {
		addr = c.opt.EdgeSIPAddrs[i]
	} else if addr, err = freeUDPTCP("127.0.0.1"); err != nil {
		return err
	}
	ctl, err := freeTCP("127.0.0.1")
	if err != nil {
		return err
	}
	cfg := kamailio.Config{Role: kamailio.RoleEdge, Name: fmt.Sprintf("edge-%d", i), Children: 1,
		ProbeInterval: c.opt.EdgeProbe, ControlAddr: ctl, TransactionTimeout: localTransactionTimeout,
		Listen: []kamailio.Listen{{Proto: "udp", Addr: addr}, {Proto: "tcp", Addr: addr}}}
	if cfg.Targets, err = edgeSIPTargets(c.Topology, c.Stamps); err != nil {
		return err
	}
	if e.SIP, err = kamailio.Start(ctx, dir, cfg); err != nil {
		return fmt.Errorf("edge %d SIP: %w", i, err)
	}
	return nil
}

// srvStamp is one record of an SRV set, resolved to the running stamp it names.
type srvStamp struct {
	sp               *StampProc
	priority, weight int
}

// resolveSRV returns the stamps an SBC or IMAP balancer finds by resolving the shared SRV set
// name ("_sip._udp", "_imap._tcp") the program publishes (topology.SRVSets): a stamp drained in
// the stack is not there, priority follows the region's place and weight the stamp's. There is
// no DNS locally, so each record's host is matched to the stamp that owns it.
func resolveSRV(t topology.Topology, stamps []*StampProc, name string) ([]srvStamp, error) {
	byHost := map[string]*StampProc{}
	for _, sp := range stamps {
		byHost[sp.Stamp.SIPHost] = sp
	}
	var out []srvStamp
	for _, set := range t.SRVSets() {
		if set.Name != name {
			continue
		}
		for _, r := range set.Records {
			sp, ok := byHost[r.Target]
			if !ok {
				return nil, fmt.Errorf("SRV %s: target %s is no running stamp", name, r.Target)
			}
			out = append(out, srvStamp{sp: sp, priority: r.Priority, weight: r.Weight})
		}
	}
	return out, nil
}

// edgeSIPTargets are the edge Kamailio's stamp dispatchers, from "_sip._udp".
func edgeSIPTargets(t topology.Topology, stamps []*StampProc) ([]kamailio.Target, error) {
	recs, err := resolveSRV(t, stamps, "_sip._udp")
	var out []kamailio.Target
	for _, r := range recs {
		// Kamailio's dispatcher weights are 1-100; SRV's are 0-65535.
		out = append(out, kamailio.Target{URI: "sip:" + r.sp.SIP, Priority: r.priority, Weight: min(100, max(1, r.weight))})
	}
	return out, err
}

// edgeIMAPStamps are the edge HAProxy's stamps, from "_imap._tcp".
func edgeIMAPStamps(t topology.Topology, stamps []*StampProc) ([]haproxy.Stamp, error) {
	recs, err := resolveSRV(t, stamps, "_imap._tcp")
	var out []haproxy.Stamp
	for _, r := range recs {
		out = append(out, haproxy.Stamp{Name: r.sp.Stamp.ID, IMAP: r.sp.IMAP, Health: r.sp.HTTP,
			Priority: r.priority, Weight: min(256, max(1, r.weight))})
	}
	return out, err
}

func (c *Cluster) startEdgeIMAP(ctx context.Context, e *Edge, i int, dir string) (err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	addr := ""
	if i < len(c.opt.EdgeIMAPAddrs) {
		addr = c.opt.EdgeIMAPAddrs[i]
	} else if addr, err = freeTCP("127.0.0.1"); err != nil {
		return err
	}
	stats, err := freeTCP("127.0.0.1")
	if err != nil {
		return err
	}
	// The stamps serve their health over HTTPS only (the edge checks it over TLS, verifying the
	// local certificate); IMAP passes through, STARTTLS included.
	cfg := haproxy.Config{Listen: addr, StatsListen: stats, HealthPath: contract.StampHealthPath,
		CheckInterval: c.opt.EdgeCheck, Fall: 2, Rise: 1,
		TLS: &haproxy.TLS{CertKeyFile: c.certKeyFile, CAFile: c.Cert.CertFile, ServerName: "localhost"}}
	if cfg.Stamps, err = edgeIMAPStamps(c.Topology, c.Stamps); err != nil {
		return err
	}
	if e.IMAP, err = haproxy.Start(ctx, dir, cfg); err != nil {
		return fmt.Errorf("edge %d IMAP: %w", i, err)
	}
	return nil
}
