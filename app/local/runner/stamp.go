package runner

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/haproxy"
	"github.com/voicemail-platform/voicemail/app/internal/kamailio"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
	"github.com/voicemail-platform/voicemail/app/local/faultproxy"
	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// StampProc is one stamp as it runs in a cluster: voicemail replicas (pods) on their own
// loopback addresses, a Kamailio dispatcher in front of their SIP (the stamp's internal load
// balancer and dispatcher Deployment), and a HAProxy for their HTTP and IMAP that keeps only
// ready replicas in rotation (the stamp's Services). The stamp's addresses are those front ends.
type StampProc struct {
	Stamp    topology.Stamp
	HTTP     string // host:port of the stamp's HTTPS API (HAProxy, TLS passed through); URL is its base URL
	SIP      string // the stamp dispatcher (UDP and TCP); empty without SIP
	IMAP     string // HAProxy's IMAP frontend; empty without IMAP
	Replicas []*Replica
	// Proxies sit between the stamp and its region's store: a fault there is a fault of the
	// stamp's network path, seen by every replica.
	Proxies    map[azurite.Service]*faultproxy.Proxy
	Dispatcher *kamailio.Process
	Balancer   *haproxy.Process
	Dir        string

	frontIP   string
	clientTLS *tls.Config
	// frontTLS is the HAProxy's certificate and its trust of the replicas.
	frontTLS *haproxy.TLS
}

// ClientTLS trusts the certificate the stamp's replicas serve.
func (sp *StampProc) ClientTLS() *tls.Config { return sp.clientTLS.Clone() }

// HTTPClient is an HTTP client with timeout that trusts the stamp's certificate.
func (sp *StampProc) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: sp.ClientTLS()}}
}

// StartTLS upgrades an IMAP connection that has read the greeting: the replicas refuse login
// before TLS. It returns the TLS connection and a reader on it.
func (sp *StampProc) StartTLS(conn net.Conn, r *bufio.Reader) (*tls.Conn, *bufio.Reader, error) {
	if _, err := fmt.Fprintf(conn, "s0 STARTTLS\r\n"); err != nil {
		return nil, nil, err
	}
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "s0 OK") {
		return nil, nil, fmt.Errorf("STARTTLS: %q %v", line, err)
	}
	tc := tls.Client(conn, sp.ClientTLS())
	if err := tc.Handshake(); err != nil {
		return nil, nil, fmt.Errorf("STARTTLS handshake: %w", err)
	}
	return tc, bufio.NewReader(tc), nil
}

// URL is the stamp's API base URL (HTTPS with the cluster's certificate).
func (sp *StampProc) URL() string { return "https://" + sp.HTTP }

// newStamp lays a stamp out: its store proxies, addresses and each replica's settings.
func (c *Cluster) newStamp(index int, s topology.Stamp) (*StampProc, error) {
	sp := &StampProc{Stamp: s, Proxies: map[azurite.Service]*faultproxy.Proxy{}, Dir: filepath.Join(c.Dir, "stamps", s.ID),
		clientTLS: c.ClientTLS(), frontTLS: &haproxy.TLS{CertKeyFile: c.certKeyFile, CAFile: c.Cert.CertFile, ServerName: "localhost"}}
	if err := os.MkdirAll(sp.Dir, 0o750); err != nil {
		return nil, err
	}
	cs, err := sp.proxyStore(c.Region(s.Region))
	if err != nil {
		return nil, err
	}
	if sp.frontIP, err = nextLoopback(); err != nil {
		return nil, err
	}
	if sp.HTTP, err = freeTCP(sp.frontIP); err != nil {
		return nil, err
	}
	if c.opt.SIP {
		if sp.SIP, err = freeUDPTCP(sp.frontIP); err != nil {
			return nil, err
		}
	}
	if c.opt.IMAP {
		if sp.IMAP, err = freeTCP(sp.frontIP); err != nil {
			return nil, err
		}
	}
	cfg := c.stampConfig(index, s, cs)
	// The stamp's HAProxy connects to the replicas' IMAP from the stamp's front address with
	// a PROXY header naming the client, so per-source penalties and limits see clients.
	cfg.IMAP.ProxyFrom = []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr(sp.frontIP), 32)}
	for n := range c.opt.Replicas {
		r, err := c.newReplica(sp, n, cfg)
		if err != nil {
			return nil, err
		}
		sp.Replicas = append(sp.Replicas, r)
	}
	return sp, nil
}

// proxyStore puts a fault proxy in front of each of the region's store services (blob through
// the region's replica guard) and returns the stamp's connection string through them.
func (sp *StampProc) proxyStore(reg *Region) (string, error) {
	names := map[azurite.Service]string{azurite.Blob: "BlobEndpoint", azurite.Queue: "QueueEndpoint", azurite.Table: "TableEndpoint"}
	cs := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;", azurite.Account, azurite.Key)
	for _, svc := range []azurite.Service{azurite.Blob, azurite.Queue, azurite.Table} {
		upstream := fmt.Sprintf("127.0.0.1:%d", reg.Azurite.Port(svc))
		if svc == azurite.Blob {
			upstream = reg.Guard.Addr()
		}
		p, err := faultproxy.New(upstream)
		if err != nil {
			return "", err
		}
		sp.Proxies[svc] = p
		cs += fmt.Sprintf("%s=http://%s/%s;", names[svc], p.Addr(), azurite.Account)
	}
	return cs, nil
}

// stampConfig is the stamp contract shared by a stamp's replicas (addresses come per replica).
func (c *Cluster) stampConfig(index int, s topology.Stamp, connectionString string) contract.Stamp {
	cfg := contract.DefaultStamp()
	cfg.OperatorToken, cfg.Region, cfg.Stamp, cfg.StateBlob = c.Token, s.Region, s.ID, s.StateBlob
	cfg.ConnectionString = connectionString
	// The account's other regional Table endpoints, the next region first: the store fails over
	// to them while its own region's endpoint fails, as with Cosmos DB's per-region endpoints.
	for i := range c.Regions {
		other := c.Regions[(s.RegionIndex+1+i)%len(c.Regions)]
		if other.Name != s.Region {
			cfg.TableFallbackEndpoints = append(cfg.TableFallbackEndpoints, other.Azurite.Endpoint(azurite.Table))
		}
	}
	// Other regions' audio, through the guards that make their replica containers read-only.
	for _, other := range c.Regions {
		if other.Name != s.Region {
			if cfg.BlobRegions == nil {
				cfg.BlobRegions = map[string]string{}
			}
			cfg.BlobRegions[other.Name] = "http://" + other.Guard.Addr() + "/" + azurite.Account
		}
	}
	cfg.TLS.CertFile, cfg.TLS.KeyFile = c.Cert.CertFile, c.Cert.KeyFile
	cfg.HealthTimeout, cfg.HealthCacheTTL, cfg.HealthWindow = c.opt.HealthTimeout, c.opt.HealthCacheTTL, c.opt.HealthWindow
	cfg.DrainInterval, cfg.DrainVisibility = c.opt.DrainInterval, c.opt.DrainVisibility
	cfg.ShutdownGrace, cfg.ShutdownDelay = c.opt.ShutdownGrace, c.opt.ShutdownDelay
	cfg.SIP.DrainTimeout = c.opt.SIPDrainTimeout
	// The dispatcher and the test callers stand in for the operator's SBCs.
	cfg.SIP.TrustedPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	// Each stamp its own RTP port range; a stamp's replicas share it, each on its own address.
	cfg.SIP.RTPPortMin, cfg.SIP.RTPPortMax = c.opt.RTPPortBase+index*400, c.opt.RTPPortBase+index*400+398
	return cfg
}

// newReplica gives replica n of the stamp its own loopback address, ports and data directory.
func (c *Cluster) newReplica(sp *StampProc, n int, cfg contract.Stamp) (*Replica, error) {
	r := &Replica{Name: fmt.Sprintf("%s-%d", sp.Stamp.ID, n), bin: c.opt.VoicemailBin}
	r.DataDir, r.LogFile = filepath.Join(sp.Dir, r.Name), filepath.Join(sp.Dir, r.Name+".log")
	if err := os.MkdirAll(r.DataDir, 0o750); err != nil {
		return nil, err
	}
	var err error
	if r.IP, err = nextLoopback(); err != nil {
		return nil, err
	}
	if r.HTTP, err = freeTCP(r.IP); err != nil {
		return nil, err
	}
	if r.Metrics, err = freeTCP(r.IP); err != nil {
		return nil, err
	}
	r.client = c.HTTPClient(time.Second)
	if c.opt.SIP {
		if r.SIP, err = freeUDPTCP(r.IP); err != nil {
			return nil, err
		}
	}
	if c.opt.IMAP {
		if r.IMAP, err = freeTCP(r.IP); err != nil {
			return nil, err
		}
	}
	cfg.HTTPAddr, cfg.SIPAddr, cfg.IMAPAddr, cfg.DataDir = r.HTTP, r.SIP, r.IMAP, r.DataDir
	cfg.MetricsAddr = r.Metrics
	// A pod advertises its own address in Contact and SDP, and its media leaves from it.
	cfg.SIP.MediaIP, cfg.SIP.RTPBindIP = r.IP, r.IP
	// The parent's own VOICEMAIL_* settings must not leak into a replica.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, contract.EnvPrefix) {
			r.env = append(r.env, kv)
		}
	}
	r.env = append(r.env, cfg.Environ()...)
	return r, nil
}

// localTransactionTimeout bounds the local Kamailios' probes and other non-INVITE requests:
// every peer is on loopback, so a probe without an answer within it is a dead replica, and the
// failure cases see a dead replica leave rotation within a few seconds.
const localTransactionTimeout = 2 * time.Second

// startFrontEnds starts the stamp's dispatcher (with SIP) and balancer once its replicas run.
func (sp *StampProc) startFrontEnds(ctx context.Context, opt Options) error {
	if sp.SIP != "" {
		ctl, err := freeTCP(sp.frontIP)
		if err != nil {
			return err
		}
		cfg := kamailio.Config{
			// One worker per socket keeps a 200 and the NOTIFY right behind it in order, which
			// sipp needs; the local load is small.
			Role: kamailio.RoleStamp, Name: sp.Stamp.ID, Children: 1, ProbeInterval: opt.DispatcherProbe,
			TransactionTimeout: localTransactionTimeout,
			Listen:             []kamailio.Listen{{Proto: "udp", Addr: sp.SIP}, {Proto: "tcp", Addr: sp.SIP}},
			ControlAddr:        ctl,
			// As a deployed dispatcher admits only sip.sbcPrefixes: here the loopback edge and
			// the test callers stand in for the SBCs.
			TrustedPeers: []string{"127.0.0.0/8"},
		}
		for _, r := range sp.Replicas {
			cfg.Targets = append(cfg.Targets, kamailio.Target{URI: "sip:" + r.SIP})
		}
		if sp.Dispatcher, err = kamailio.Start(ctx, filepath.Join(sp.Dir, "kamailio"), cfg); err != nil {
			return fmt.Errorf("stamp %s dispatcher: %w", sp.Stamp.ID, err)
		}
	}
	cfg := haproxy.Config{Listen: sp.IMAP, HTTPListen: sp.HTTP, HealthPath: contract.ReadinessPath,
		CheckInterval: opt.BalancerCheck, Fall: 2, Rise: 1, IMAPSendProxy: true, Source: sp.frontIP, TLS: sp.frontTLS}
	for _, r := range sp.Replicas {
		cfg.Stamps = append(cfg.Stamps, haproxy.Stamp{Name: r.Name, IMAP: r.IMAP, HTTP: r.HTTP, Health: r.HTTP})
	}
	dir := filepath.Join(sp.Dir, "haproxy")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	var err error
	if sp.Balancer, err = haproxy.Start(ctx, dir, cfg); err != nil {
		return fmt.Errorf("stamp %s balancer: %w", sp.Stamp.ID, err)
	}
	return nil
}

// Start starts every replica that is not running and waits until each is live.
func (sp *StampProc) Start(ctx context.Context) error {
	errs := make([]error, len(sp.Replicas))
	var wg sync.WaitGroup
	for i, r := range sp.Replicas {
		if r.Pid() == 0 {
			wg.Go(func() { errs[i] = r.Start(ctx) })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Signal sends sig to every running replica; it fails when none runs.
func (sp *StampProc) Signal(sig syscall.Signal) error {
	sent := false
	for _, r := range sp.Replicas {
		if r.Signal(sig) == nil {
			sent = true
		}
	}
	if !sent {
		return fmt.Errorf("stamp %s: no replica is running", sp.Stamp.ID)
	}
	return nil
}

// Running is the number of replicas running.
func (sp *StampProc) Running() int {
	n := 0
	for _, r := range sp.Replicas {
		if r.Pid() != 0 {
			n++
		}
	}
	return n
}

// Wait waits up to d for every replica to exit; err joins their exit errors.
func (sp *StampProc) Wait(d time.Duration) (exited bool, err error) {
	deadline := time.Now().Add(d)
	var errs []error
	for _, r := range sp.Replicas {
		ok, err := r.Wait(max(0, time.Until(deadline)))
		if !ok {
			return false, nil
		}
		errs = append(errs, err)
	}
	return true, errors.Join(errs...)
}

// Stop stops every replica (SIGTERM, SIGKILL after grace).
func (sp *StampProc) Stop(grace time.Duration) {
	var wg sync.WaitGroup
	for _, r := range sp.Replicas {
		wg.Go(func() { r.Stop(grace) })
	}
	wg.Wait()
}

// close stops the replicas, then the front ends and the store proxies.
func (sp *StampProc) close(grace time.Duration) {
	sp.Stop(grace)
	sp.Dispatcher.Stop()
	sp.Balancer.Stop()
	for _, p := range sp.Proxies {
		p.Close()
	}
}

// ReplicaOf returns the replica whose SIP address is uri's host:port ("sip:ip:port").
func (sp *StampProc) ReplicaOf(uri string) *Replica {
	for _, r := range sp.Replicas {
		if "sip:"+r.SIP == uri {
			return r
		}
	}
	return nil
}

// ActiveReplicas asks the dispatcher which replicas it sends new dialogs to now.
func (sp *StampProc) ActiveReplicas(ctx context.Context) ([]*Replica, error) {
	if sp.Dispatcher == nil {
		return nil, fmt.Errorf("stamp %s has no dispatcher", sp.Stamp.ID)
	}
	dests, err := sp.Dispatcher.Destinations(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Replica
	for _, r := range sp.Replicas {
		if dests["sip:"+r.SIP] {
			out = append(out, r)
		}
	}
	return out, nil
}
