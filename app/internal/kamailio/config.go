// Package kamailio generates the configurations of the two Kamailio roles of the SIP ingress and
// runs the daemon for local deployments and tests:
//
//   - the stamp dispatcher (RoleStamp): inside a stamp, behind its internal load balancer, it
//     probes every voicemail replica with OPTIONS (a replica that answers 503 or nothing leaves
//     rotation), sends each new dialog to an active replica, tries the next one when a replica
//     answers 503 or times out, and record-routes so in-dialog requests (ACK, BYE, re-INVITE,
//     SUBSCRIBE refresh, NOTIFY) follow the dialog to the replica that owns it;
//   - the edge (RoleEdge): the reference for the operator's SBC, which dispatches to the stamps'
//     dispatchers by priority (lowest first, the next priority only when a whole level is down)
//     and weight within a priority, probes them with OPTIONS and fails over.
//
// One generator serves the local runner and the deployed ConfigMap, so what the tests run is
// what a stamp runs. Media never passes through either role: SDP is relayed untouched and RTP
// flows between the caller and the replica that answered.
package kamailio

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Role selects what a configuration does.
type Role string

const (
	// RoleStamp is a stamp's dispatcher in front of its voicemail replicas.
	RoleStamp Role = "stamp"
	// RoleEdge is the operator edge (SBC reference) in front of the stamps' dispatchers.
	RoleEdge Role = "edge"
)

// Listen is one socket Kamailio binds.
type Listen struct {
	Proto string // udp, tcp or tls
	Addr  string // ip:port
	// Advertise is the host:port written into Record-Route and Via instead of Addr, for a
	// dispatcher behind a load balancer whose frontend address peers must use. Empty: Addr.
	Advertise string
}

// Target is one destination of the dispatcher list.
type Target struct {
	// URI is a SIP URI, for example "sip:10.1.2.3:5060" or "sip:stamp.example;transport=tcp".
	URI string
	// Priority orders targets for failover at the edge: all targets of the lowest priority
	// share the load by Weight, and the next priority takes over only when every target of the
	// lower one is down. Equal for all of a stamp's replicas.
	Priority int
	// Weight shares load within a priority (1-100). Zero means 1.
	Weight int
}

// Config is one Kamailio instance.
type Config struct {
	Role   Role
	Listen []Listen
	// Targets are the replicas (stamp) or stamp dispatchers (edge).
	Targets []Target
	// ProbeInterval is how often every target gets an OPTIONS probe. Default 5 s.
	ProbeInterval time.Duration
	// ProbeThreshold is how many failed probes in a row take a target out of rotation, and
	// ActiveThreshold how many answered probes bring it back. Defaults 1 and 1: a draining
	// replica leaves at its first 503.
	ProbeThreshold, ActiveThreshold int
	// BranchTimeout is how long a target may take to give a first reply to an INVITE before
	// the next one is tried. Default 2 s.
	BranchTimeout time.Duration
	// TransactionTimeout is how long a non-INVITE request (an OPTIONS probe, a BYE) waits for
	// its final answer: a target that has died is marked down by its probes after about
	// ProbeInterval plus this. Default 5 s.
	TransactionTimeout time.Duration
	// UDPMTU is the largest request sent over UDP; bigger ones go over TCP (RFC 3261 §18.1.1
	// sets 1300 bytes below a 1500-byte path MTU). Default 1300.
	UDPMTU int
	// TCPKeepalive is the idle time before TCP keepalive probes start, and TCPLifetime how long
	// an idle TCP connection is kept; both must sit below the load balancer's idle timeout so
	// long-lived connections (a SBC trunk) are not cut silently. Defaults 60 s and 1 h.
	TCPKeepalive, TCPLifetime time.Duration
	// Children is the number of SIP worker processes per UDP socket and for TCP. Default 4.
	Children int
	// ModulesDir is where Kamailio's modules live. Default the Debian path.
	ModulesDir string
	// ListFile is the path of the dispatcher list this configuration reads (written beside it
	// by Write).
	ListFile string
	// Name identifies the instance in logs and in the From of its probes.
	Name string
	// ReloadInterval, when set, re-reads ListFile that often: in a cluster a sidecar rewrites
	// the list as replicas come and go (see the voicemail binary's sip-targets mode).
	// Destinations kept across a reload are probed again within ProbeInterval.
	ReloadInterval time.Duration
	// TLS is the certificate of the "tls" listeners (required with one). SIP over TLS from the
	// SBCs ends here, at the dispatcher: it must read each request to route the dialog, and the
	// hop to the replicas stays inside the stamp's network.
	TLS *TLS
	// ControlAddr, when set (host:port), serves Kamailio's RPC interface (ctl module, binrpc
	// over TCP) there, so tools and tests can read the dispatcher's view of its targets
	// (Process.Destinations, kamcmd -s tcp:host:port dispatcher.list).
	ControlAddr string
	// TrustedPeers (CIDR prefixes: the operator's SBCs) are the only sources that may start a
	// dialog or a transaction outside one (INVITE, SUBSCRIBE, anything without a To tag) and
	// whose identity headers pass: every other source gets 403 for those, and
	// P-Asserted-Identity and P-Preferred-Identity are removed from whatever else it sends
	// (RFC 3325 §5: a trust domain strips them from untrusted peers). The replicas behind a
	// stamp dispatcher trust it, so without this rule anyone who reaches the dispatcher would
	// borrow that trust. Empty: anyone (the local runner's dispatchers, whose replicas trust
	// loopback anyway); a deployed stamp dispatcher always sets it.
	TrustedPeers []string
}

// TLS is a certificate for Kamailio's tls module, written into tls.cfg beside kamailio.cfg.
// Kamailio re-reads it every ReloadInterval (the tls.reload RPC, run from a timer), so a
// renewed file is served to new connections without a restart; connections already up keep
// their session. A file that does not load leaves the previous certificate in use.
type TLS struct {
	CertFile, KeyFile string // PEM; may be one file holding key and chain
	// ReloadInterval defaults to 30 s.
	ReloadInterval time.Duration
	// ConfigFile is where tls.cfg is written (Write sets it beside kamailio.cfg).
	ConfigFile string
}

// ConfigText is tls.cfg: TLS 1.2 at least both ways; SBCs are not asked for a certificate
// (they are admitted by address, as the voicemail service's trusted peers are).
func (t TLS) ConfigText() string {
	return fmt.Sprintf(`# Generated. TLS 1.2 minimum on every edge.
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = %s
private_key = %s

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
`, t.CertFile, t.KeyFile)
}

// DefaultModulesDir is where Debian's kamailio package installs modules.
const DefaultModulesDir = "/usr/lib/x86_64-linux-gnu/kamailio/modules"

func (c Config) withDefaults() Config {
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = 5 * time.Second
	}
	if c.ProbeThreshold <= 0 {
		c.ProbeThreshold = 1
	}
	if c.ActiveThreshold <= 0 {
		c.ActiveThreshold = 1
	}
	if c.BranchTimeout <= 0 {
		c.BranchTimeout = 2 * time.Second
	}
	if c.UDPMTU <= 0 {
		c.UDPMTU = 1300
	}
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = 5 * time.Second
	}
	if c.TCPKeepalive <= 0 {
		c.TCPKeepalive = time.Minute
	}
	if c.TCPLifetime <= 0 {
		c.TCPLifetime = time.Hour
	}
	if c.Children <= 0 {
		c.Children = 4
	}
	if c.ModulesDir == "" {
		c.ModulesDir = DefaultModulesDir
	}
	if c.Name == "" {
		c.Name = string(c.Role)
	}
	for i := range c.Targets {
		if c.Targets[i].Weight <= 0 {
			c.Targets[i].Weight = 1
		}
	}
	if c.TLS != nil && c.TLS.ReloadInterval <= 0 {
		t := *c.TLS
		t.ReloadInterval = 30 * time.Second
		c.TLS = &t
	}
	return c
}

// Validate reports the first problem of a configuration, naming the field.
func (c Config) Validate() error {
	if c.Role != RoleStamp && c.Role != RoleEdge {
		return fmt.Errorf("kamailio: role %q is not %q or %q", c.Role, RoleStamp, RoleEdge)
	}
	if len(c.Listen) == 0 {
		return errors.New("kamailio: no listen socket")
	}
	for _, l := range c.Listen {
		if !slices.Contains([]string{"udp", "tcp", "tls"}, l.Proto) {
			return fmt.Errorf("kamailio: listen proto %q is not udp, tcp or tls", l.Proto)
		}
		if _, _, err := net.SplitHostPort(l.Addr); err != nil {
			return fmt.Errorf("kamailio: listen %q: %w", l.Addr, err)
		}
		if l.Advertise != "" {
			if _, _, err := net.SplitHostPort(l.Advertise); err != nil {
				return fmt.Errorf("kamailio: advertise %q: %w", l.Advertise, err)
			}
		}
	}
	if c.ListFile == "" {
		return errors.New("kamailio: ListFile is required")
	}
	hasTLS := slices.ContainsFunc(c.Listen, func(l Listen) bool { return l.Proto == "tls" })
	switch {
	case hasTLS && (c.TLS == nil || c.TLS.CertFile == "" || c.TLS.KeyFile == "" || c.TLS.ConfigFile == ""):
		return errors.New("kamailio: a tls listener needs TLS.CertFile, TLS.KeyFile and TLS.ConfigFile")
	case !hasTLS && c.TLS != nil:
		return errors.New("kamailio: TLS is set but no listener is tls")
	}
	for _, t := range c.Targets {
		if !strings.HasPrefix(t.URI, "sip:") && !strings.HasPrefix(t.URI, "sips:") {
			return fmt.Errorf("kamailio: target %q is not a SIP URI", t.URI)
		}
		if strings.ContainsAny(t.URI, " \t\r\n\"") {
			return fmt.Errorf("kamailio: target %q contains blanks or quotes", t.URI)
		}
		if t.Priority < 0 || t.Weight < 0 || t.Weight > 100 {
			return fmt.Errorf("kamailio: target %q: priority %d, weight %d (want priority >= 0, weight 1-100)", t.URI, t.Priority, t.Weight)
		}
	}
	if c.ControlAddr != "" {
		if _, _, err := net.SplitHostPort(c.ControlAddr); err != nil {
			return fmt.Errorf("kamailio: control address %q: %w", c.ControlAddr, err)
		}
	}
	for _, p := range c.TrustedPeers {
		if pfx, err := netip.ParsePrefix(p); err != nil || pfx.Masked() != pfx {
			return fmt.Errorf("kamailio: trusted peer %q is not a CIDR prefix without host bits", p)
		}
	}
	if strings.ContainsAny(c.Name, " \t\r\n\"@:;<>") {
		return fmt.Errorf("kamailio: name %q", c.Name)
	}
	return nil
}

// Sets are the dispatcher sets of a configuration: one per distinct priority, lowest first
// (set ids from 1), so failover walks them in order.
func (c Config) sets() [][]Target {
	prios := []int{}
	for _, t := range c.Targets {
		if !slices.Contains(prios, t.Priority) {
			prios = append(prios, t.Priority)
		}
	}
	slices.Sort(prios)
	out := make([][]Target, len(prios))
	for _, t := range c.Targets {
		i := slices.Index(prios, t.Priority)
		out[i] = append(out[i], t)
	}
	return out
}

// List is the dispatcher list file: "setid destination flags priority attrs".
func (c Config) List() string {
	c = c.withDefaults()
	var b strings.Builder
	b.WriteString("# setid destination flags priority attrs (generated)\n")
	for i, set := range c.sets() {
		for _, t := range set {
			fmt.Fprintf(&b, "%d %s 0 0 weight=%d\n", i+1, t.URI, t.Weight)
		}
	}
	return b.String()
}

// Render returns kamailio.cfg.
func (c Config) Render() (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	c = c.withDefaults()
	n := len(c.sets())
	if n == 0 {
		n = 1 // an empty set 1: every new dialog gets 503 until targets appear
	}
	var sets []int
	for i := 1; i <= n; i++ {
		sets = append(sets, i)
	}
	var buf bytes.Buffer
	err := cfgTemplate.Execute(&buf, map[string]any{
		"C":               c,
		"Sets":            sets,
		"PingInterval":    max(1, int(c.ProbeInterval/time.Second)),
		"BranchTimeoutMS": int(c.BranchTimeout / time.Millisecond),
		"FrTimerMS":       int(c.TransactionTimeout / time.Millisecond),
		"KeepaliveS":      max(1, int(c.TCPKeepalive/time.Second)),
		"ReloadS":         int(c.ReloadInterval / time.Second),
		"LifetimeS":       max(1, int(c.TCPLifetime/time.Second)),
		"Edge":            c.Role == RoleEdge,
		"HasTLS":          c.TLS != nil,
		"TLSReloadS":      tlsReloadSeconds(c.TLS),
		"Trusted":         strings.Join(c.TrustedPeers, ","),
	})
	return buf.String(), err
}

func tlsReloadSeconds(t *TLS) int {
	if t == nil {
		return 0
	}
	return max(1, int(t.ReloadInterval/time.Second))
}

func advertise(l Listen) string {
	if l.Advertise == "" {
		return ""
	}
	h, p, _ := net.SplitHostPort(l.Advertise)
	if _, err := strconv.Atoi(p); err != nil {
		return ""
	}
	return " advertise " + h + ":" + p
}

var cfgTemplate = template.Must(template.New("kamailio.cfg").Funcs(template.FuncMap{"advertise": advertise}).Parse(`#!KAMAILIO
# Generated: {{.C.Role}} role "{{.C.Name}}". Do not edit; regenerate from the stack topology.

debug=2
log_stderror=yes
log_prefix="{{.C.Name}} "
memdbg=5
memlog=5
children={{.C.Children}}
tcp_children={{.C.Children}}
auto_aliases=no
{{range .C.Listen}}listen={{.Proto}}:{{.Addr}}{{advertise .}}
{{end}}
# Requests above the UDP MTU go over TCP (RFC 3261 §18.1.1), never as IP fragments that load
# balancers drop.
udp_mtu={{.C.UDPMTU}}
udp_mtu_try_proto=TCP
tcp_connection_lifetime={{.LifetimeS}}
tcp_keepalive=yes
tcp_keepidle={{.KeepaliveS}}
tcp_keepintvl=10
tcp_keepcnt=3
tcp_accept_no_cl=yes
{{if .HasTLS}}enable_tls=yes
{{end}}
mpath="{{.C.ModulesDir}}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "dispatcher.so"
{{if .Trusted}}loadmodule "ipops.so"
{{end}}{{if .HasTLS}}loadmodule "tls.so"
loadmodule "jsonrpcs.so"
modparam("tls", "config", "{{.C.TLS.ConfigFile}}")
# RPC for the reload timer (jsonrpc_exec); the only transport is a FIFO in the run directory,
# reachable from inside the container alone.
modparam("jsonrpcs", "transport", 2)
{{end}}{{if .C.ControlAddr}}loadmodule "ctl.so"
modparam("ctl", "binrpc", "tcp:{{.C.ControlAddr}}")
{{end}}{{if or .ReloadS .HasTLS}}loadmodule "rtimer.so"
{{end}}{{if .ReloadS}}modparam("rtimer", "timer", "name=dsreload;interval={{.ReloadS}};mode=1;")
modparam("rtimer", "exec", "timer=dsreload;route=DSRELOAD")
{{end}}{{if .HasTLS}}# Renewed certificates (the CSI driver rewrites the mounted file) reach new connections.
modparam("rtimer", "timer", "name=tlsreload;interval={{.TLSReloadS}};mode=1;")
modparam("rtimer", "exec", "timer=tlsreload;route=TLSRELOAD")
{{end}}
# Double Record-Route when the two sides use different transports, so each side routes back
# over its own.
modparam("rr", "enable_double_rr", 1)
modparam("rr", "append_fromtag", 1)
modparam("tm", "fr_timer", {{.FrTimerMS}})
modparam("tm", "fr_inv_timer", 120000)
modparam("dispatcher", "list_file", "{{.C.ListFile}}")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "xavp_dst", "_dsdst_")
modparam("dispatcher", "xavp_ctx", "_dsctx_")
modparam("dispatcher", "ds_ping_method", "OPTIONS")
modparam("dispatcher", "ds_ping_from", "sip:{{.C.Name}}@dispatcher.invalid")
modparam("dispatcher", "ds_ping_interval", {{.PingInterval}})
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", {{.C.ProbeThreshold}})
modparam("dispatcher", "ds_inactive_threshold", {{.C.ActiveThreshold}})
modparam("dispatcher", "ds_ping_reply_codes", "class=2")

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (!sanity_check()) {
		xlog("L_WARN", "malformed $rm from $si:$sp\n");
		exit;
	}
	# Probes of this instance (the load balancer's, the edge's): 200 while a target is up.
	if (is_method("OPTIONS") && uri == myself && $rU == $null) {
		route(PROBE);
	}
{{if .Trusted}}	# Trusted peers only (RFC 3325 trust domain): the replicas believe this dispatcher, so a
	# stranger may neither start anything through it nor assert an identity. Not logged: a
	# flood would write a line per packet.
	if (!is_in_subnet("$si", "{{.Trusted}}")) {
		remove_hf("P-Asserted-Identity");
		remove_hf("P-Preferred-Identity");
		if (!has_totag()) {
			sl_send_reply("403", "Forbidden");
			exit;
		}
	}
{{end}}	if (has_totag()) {
		route(WITHINDLG);
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	if (t_check_trans()) {
		exit; # a retransmission, handled by tm
	}
	remove_hf("Route");
	if (is_method("INVITE|SUBSCRIBE")) {
		record_route();
	}
	route(DISPATCH);
}

{{if .ReloadS}}route[DSRELOAD] {
	ds_reload();
}

{{end}}{{if .HasTLS}}route[TLSRELOAD] {
	jsonrpc_exec('{"jsonrpc": "2.0", "method": "tls.reload", "id": 1}');
	if ($jsonrpl(code) != 200) {
		xlog("L_WARN", "tls.reload: $jsonrpl(body); keeping the previous certificate\n");
	}
}

{{end}}route[PROBE] {
{{range .Sets}}	if (ds_is_active("{{.}}")) {
		sl_send_reply("200", "OK");
		exit;
	}
{{end}}	sl_send_reply("503", "No Target Active");
	exit;
}

# A new dialog: the first active target of the lowest set that has one.
route[DISPATCH] {
{{range .Sets}}	if (ds_select_dst("{{.}}", "{{if $.Edge}}9{{else}}4{{end}}")) {
		route(RELAY);
	}
{{end}}	send_reply("503", "No Target Active");
	exit;
}

route[RELAY] {
	t_set_fr(0, {{.BranchTimeoutMS}});
	# Every new request fails over, not only INVITE: an out-of-dialog OPTIONS or MESSAGE that
	# reaches a drained target must be answered by the next one, not with the drain's 503.
	if (!is_method("ACK|CANCEL")) {
		t_on_failure("FAILOVER");
	}
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}

route[WITHINDLG] {
	if (loose_route()) {
		if (is_method("INVITE")) {
			record_route();
		}
		t_relay();
		exit;
	}
	if (is_method("ACK")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	sl_send_reply("404", "Not Here");
	exit;
}

# A target that answers 503 (draining, or full) or not at all before the branch timeout: the
# next target of the set takes the request; one that did not answer is also marked down until
# its probes succeed again. At the edge a 503 comes from a stamp dispatcher with no replica left
# (the stamp is drained) or all of them full, so the stamp is marked down too and new requests
# skip it until its probes answer 200 again; a replica's 503 at the stamp leaves the replica to
# its own probes, which a draining replica answers 503.
failure_route[FAILOVER] {
	if (t_is_canceled()) {
		exit;
	}
	if (t_branch_timeout() && !t_branch_replied()) {
		ds_mark_dst("ip");
	} else if (!t_check_status("503")) {
		exit;
	}{{if .Edge}} else {
		ds_mark_dst("ip");
	}{{end}}
	if (ds_next_dst()) {
		t_on_failure("FAILOVER");
		t_set_fr(0, {{.BranchTimeoutMS}});
		t_relay();
		exit;
	}
	# Every target is draining, full or gone. A proxy turns a relayed 503 into 500 (RFC 3261
	# §16.7), which the previous hop would not fail over on; this instance answers 503 itself,
	# since it has no target left, so the edge (or the SBC) takes the next stamp.
	if (t_branch_timeout() || t_check_status("503")) {
		t_reply("503", "No Target Available");
	}
}
`))
