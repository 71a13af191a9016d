// Package runner runs a whole deployment on one machine: one voicemail process per stamp of a
// stack's topology (read through internal/config and internal/topology, as the Pulumi program
// reads it), grouped by region, each region with its own Azurite (Blob, Queue, Table) that its
// stamps share through per-stamp fault proxies; a replicator copying each region's CRDT rows to
// the other regions; the local Traffic Manager for HTTP; and two protocol gateway instances for
// SIP and IMAP. The failure-injection suite drives faults through it.
package runner

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/voicemail-platform/voicemail/app/gateway"
	"github.com/voicemail-platform/voicemail/app/internal/edgetls"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
	"github.com/voicemail-platform/voicemail/app/local/faultproxy"
	"github.com/voicemail-platform/voicemail/app/local/tmemulator"
	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Options configure a local deployment. Zero durations take the defaults noted.
type Options struct {
	Topology topology.Topology
	// VoicemailBin is the service binary (see BuildVoicemail). Instead, VoicemailBinFunc may
	// yield it: Start calls it once the stores are up, so a build overlaps Azurite's start-up.
	VoicemailBin     string
	VoicemailBinFunc func(context.Context) (string, error)
	// Dir holds data and logs; empty means a temporary directory removed by Close.
	Dir           string
	OperatorToken string // default: a fixed local token

	// Stamp settings (the stamp contract's; zero takes its default).
	HealthTimeout  time.Duration
	HealthCacheTTL time.Duration
	HealthWindow   time.Duration // health model window
	DrainInterval  time.Duration
	// DrainVisibility is the queued-deposit retry delay.
	DrainVisibility time.Duration
	ShutdownGrace   time.Duration
	// ShutdownDelay keeps a stamp's listener open after SIGTERM while /health/stamp answers 503,
	// so the traffic manager moves away first (default 0).
	ShutdownDelay time.Duration
	SIP, IMAP     bool // give every stamp SIP and IMAP listeners
	// RTPPortBase is the first RTP port: stamp i takes base+400*i .. base+400*i+398. Default
	// 20000; two clusters in one process need ranges that do not overlap.
	RTPPortBase int

	// Traffic Manager monitor overrides; zero keeps the stack's values.
	ProbeInterval     time.Duration
	ProbeTimeout      time.Duration
	ToleratedFailures *int

	ReplicationInterval time.Duration // default 1 s
	Gateways            int           // protocol gateway instances, default 2
	GatewayPoll         gateway.PoolConfig

	// CombinedAzurite lists regions whose Azurite runs Blob, Queue and Table in one process
	// (node's start-up, most of a cluster's, paid once instead of three times). Their services
	// cannot be stopped one by one; the other regions' can (Region.Azurite.Stop).
	CombinedAzurite []string

	// Listen addresses; default 127.0.0.1:0 (a free port).
	TrafficManagerAddr string
	GatewaySIPAddrs    []string
	GatewayIMAPAddrs   []string

	Log *slog.Logger
}

// Cluster is a running local deployment.
type Cluster struct {
	Topology topology.Topology
	Regions  []*Region
	Stamps   []*StampProc
	TM       *tmemulator.Manager
	TMURL    string
	Gateways []*gateway.Gateway
	Repl     *Replicator
	Token    string
	Dir      string
	// Cert is the self-signed certificate every stamp serves (HTTPS API, IMAP STARTTLS and
	// implicit TLS), as an Azure stamp serves its Key Vault certificate; clients trust it
	// through CA (or Cert.CertFile as a CA file: curl --cacert).
	Cert edgetls.SelfSigned
	CA   *x509.CertPool

	opt     Options
	log     *slog.Logger
	tmSrv   *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	tempDir bool
}

// Region is one region's store.
type Region struct {
	Name    string
	Azurite *azurite.Azurite
	// Backend is a direct client of the region's store (no fault proxy), used by the replicator
	// and by checks.
	Backend *store.Backend
	// Guard is the region's blob endpoint for stamps (its own and other regions'): it refuses
	// writes to replica containers as Azure does.
	Guard *ReplicaGuard
}

// StampProc is one stamp's voicemail process.
type StampProc struct {
	Stamp   topology.Stamp
	HTTP    string // host:port of the HTTPS API (URL gives its base URL)
	Metrics string // host:port of the plain-HTTP /metrics listener
	SIP     string
	IMAP    string
	Proxies map[azurite.Service]*faultproxy.Proxy
	DataDir string
	LogFile string

	bin    string
	env    []string
	client *http.Client // trusts the cluster's certificate

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start brings the deployment up: Azurite per region, stamps, replicator, traffic manager and
// gateways. On error everything started so far is stopped.
func Start(ctx context.Context, opt Options) (_ *Cluster, err error) {
	if opt.VoicemailBin == "" && opt.VoicemailBinFunc == nil {
		return nil, errors.New("local: VoicemailBin or VoicemailBinFunc is required (see BuildVoicemail)")
	}
	if len(opt.Topology.Stamps) == 0 {
		return nil, errors.New("local: topology has no stamps")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	d := contract.DefaultStamp()
	def(&opt.HealthTimeout, d.HealthTimeout)
	def(&opt.HealthCacheTTL, d.HealthCacheTTL)
	def(&opt.HealthWindow, d.HealthWindow)
	def(&opt.DrainInterval, d.DrainInterval)
	def(&opt.DrainVisibility, d.DrainVisibility)
	def(&opt.ShutdownGrace, d.ShutdownGrace)
	def(&opt.ReplicationInterval, time.Second)
	if opt.Gateways <= 0 {
		opt.Gateways = 2
	}
	if opt.RTPPortBase <= 0 {
		opt.RTPPortBase = 20000
	}
	if opt.OperatorToken == "" {
		opt.OperatorToken = "local-operator-token-0123456789"
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{Topology: opt.Topology, Token: opt.OperatorToken, opt: opt, log: opt.Log, Dir: opt.Dir}
	if c.Dir == "" {
		d, err := os.MkdirTemp("", "voicemail-local-")
		if err != nil {
			return nil, err
		}
		c.Dir, c.tempDir = d, true
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel

	// TLS by default, as in Azure: one certificate for every stamp (they all answer on
	// 127.0.0.1).
	if c.Cert, err = edgetls.WriteSelfSigned(filepath.Join(c.Dir, "tls"), "voicemail-local", 30*24*time.Hour); err != nil {
		return nil, fmt.Errorf("local: certificate: %w", err)
	}
	pem, err := os.ReadFile(c.Cert.CertFile)
	if err != nil {
		return nil, err
	}
	c.CA = x509.NewCertPool()
	c.CA.AppendCertsFromPEM(pem)

	// Regions: one Azurite each. Node boots slowly and CPU-bound, so two at a time: a prod
	// stack's twelve processes started at once starve each other past their start timeout.
	backends := map[string]*store.Backend{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(opt.Topology.Regions))
	c.Regions = make([]*Region, len(opt.Topology.Regions))
	slots := make(chan struct{}, 2)
	for i, r := range opt.Topology.Regions {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			az, err := azurite.Start(ctx, azurite.Options{Dir: filepath.Join(c.Dir, "azurite-"+r.Name),
				Combined: slices.Contains(opt.CombinedAzurite, r.Name)})
			if err != nil {
				errs[i] = fmt.Errorf("region %s: %w", r.Name, err)
				return
			}
			reg := &Region{Name: r.Name, Azurite: az}
			mu.Lock()
			c.Regions[i] = reg
			mu.Unlock()
			b, err := azure.Open(ctx, azure.Config{ConnectionString: az.ConnectionString()})
			if err != nil {
				errs[i] = fmt.Errorf("region %s store: %w", r.Name, err)
				return
			}
			reg.Backend = b
			mu.Lock()
			backends[r.Name] = b
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, r := range c.Regions {
		if r.Guard, err = NewReplicaGuard(fmt.Sprintf("127.0.0.1:%d", r.Azurite.Port(azurite.Blob)), topology.AudioContainer); err != nil {
			return nil, err
		}
	}
	// Object replication as in Azure: each region's audio container goes into the replica
	// container named for it in each region it replicates to.
	targets := map[[2]string]store.Blobs{}
	for _, r := range opt.Topology.Regions {
		for _, to := range r.ReplicateTo {
			b, err := azure.Open(ctx, azure.Config{ConnectionString: c.Region(to).Azurite.ConnectionString(), AudioContainer: topology.ReplicaContainer(r.Name)})
			if err != nil {
				return nil, fmt.Errorf("region %s replica of %s: %w", to, r.Name, err)
			}
			targets[[2]string{r.Name, to}] = b.Blobs
		}
	}

	// Stamps.
	if c.opt.VoicemailBin == "" {
		if c.opt.VoicemailBin, err = opt.VoicemailBinFunc(ctx); err != nil {
			return nil, fmt.Errorf("local: voicemail binary: %w", err)
		}
	}
	for i, s := range opt.Topology.Stamps {
		sp, err := c.newStamp(i, s)
		if err != nil {
			return nil, err
		}
		c.Stamps = append(c.Stamps, sp)
	}
	errs = make([]error, len(c.Stamps))
	for i, sp := range c.Stamps {
		wg.Go(func() { errs[i] = sp.Start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	// Replication between regions.
	c.Repl = NewReplicator(backends, opt.ReplicationInterval, c.log.With("component", "replicator"))
	c.Repl.SetBlobTargets(targets)
	c.wg.Go(func() { c.Repl.Run(runCtx) })

	// Traffic Manager.
	base := map[string]*url.URL{}
	for _, sp := range c.Stamps {
		base[sp.Stamp.ID] = &url.URL{Scheme: "https", Host: sp.HTTP}
	}
	tmCfg, eps := tmemulator.FromTopology(opt.Topology, base)
	if opt.ProbeInterval > 0 {
		tmCfg.Interval = opt.ProbeInterval
	}
	if opt.ProbeTimeout > 0 {
		tmCfg.Timeout = opt.ProbeTimeout
	}
	if opt.ToleratedFailures != nil {
		tmCfg.ToleratedFailures = *opt.ToleratedFailures
	}
	tmCfg.ClientRegion = opt.Topology.Regions[0].Name
	tmCfg.RootCAs = c.CA
	tmCfg.Logger = c.log.With("component", "trafficmanager")
	if c.TM, err = tmemulator.New(tmCfg, eps); err != nil {
		return nil, err
	}
	c.TM.ProbeAll(ctx)
	c.wg.Go(func() { c.TM.Run(runCtx) })
	addr := opt.TrafficManagerAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("traffic manager listen: %w", err)
	}
	c.TMURL = "http://" + l.Addr().String()
	c.tmSrv = &http.Server{Handler: c.TM, ReadHeaderTimeout: 10 * time.Second}
	c.wg.Go(func() { _ = c.tmSrv.Serve(l) })

	// Protocol gateways: every stamp, the home region first.
	var gws gateway.Static
	for _, sp := range c.Stamps {
		if sp.SIP == "" && sp.IMAP == "" {
			continue
		}
		gws = append(gws, gateway.Stamp{ID: sp.Stamp.ID, Priority: sp.Stamp.RegionIndex + 1, Weight: sp.Stamp.Weight,
			SIP: sp.SIP, IMAP: sp.IMAP, Health: sp.URL() + topology.HealthPath})
	}
	if len(gws) > 0 {
		for i := range opt.Gateways {
			gc := gateway.Config{SIPAddr: "127.0.0.1:0", IMAPAddr: "127.0.0.1:0", Source: gws, Pool: opt.GatewayPoll,
				Logger: c.log.With("component", "gateway", "instance", i)}
			if i < len(opt.GatewaySIPAddrs) {
				gc.SIPAddr = opt.GatewaySIPAddrs[i]
			}
			if i < len(opt.GatewayIMAPAddrs) {
				gc.IMAPAddr = opt.GatewayIMAPAddrs[i]
			}
			if !opt.SIP {
				gc.SIPAddr = ""
			}
			if !opt.IMAP {
				gc.IMAPAddr = ""
			}
			g, err := gateway.Start(ctx, gc)
			if err != nil {
				return nil, fmt.Errorf("gateway %d: %w", i, err)
			}
			c.Gateways = append(c.Gateways, g)
		}
	}
	return c, nil
}

// Close stops everything and removes a temporary directory.
func (c *Cluster) Close() {
	if c.cancel != nil {
		c.cancel()
	}
	if c.tmSrv != nil {
		_ = c.tmSrv.Close()
	}
	for _, g := range c.Gateways {
		g.Close()
	}
	var wg sync.WaitGroup
	for _, sp := range c.Stamps {
		wg.Go(func() { sp.Stop(5 * time.Second) })
	}
	wg.Wait()
	for _, sp := range c.Stamps {
		for _, p := range sp.Proxies {
			p.Close()
		}
	}
	c.wg.Wait()
	for _, r := range c.Regions {
		if r == nil {
			continue
		}
		if r.Backend != nil && r.Backend.Close != nil {
			_ = r.Backend.Close()
		}
		if r.Guard != nil {
			r.Guard.Close()
		}
		if r.Azurite != nil {
			r.Azurite.Close()
		}
	}
	if c.tempDir {
		_ = os.RemoveAll(c.Dir)
	}
}

// Region returns a region by name.
func (c *Cluster) Region(name string) *Region {
	for _, r := range c.Regions {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Stamp returns a stamp by id.
func (c *Cluster) Stamp(id string) *StampProc {
	for _, s := range c.Stamps {
		if s.Stamp.ID == id {
			return s
		}
	}
	return nil
}

// StampsIn returns a region's stamps.
func (c *Cluster) StampsIn(region string) []*StampProc {
	var out []*StampProc
	for _, s := range c.Stamps {
		if s.Stamp.Region == region {
			out = append(out, s)
		}
	}
	return out
}

func (c *Cluster) newStamp(index int, s topology.Stamp) (*StampProc, error) {
	reg := c.Region(s.Region)
	sp := &StampProc{Stamp: s, bin: c.opt.VoicemailBin, Proxies: map[azurite.Service]*faultproxy.Proxy{},
		DataDir: filepath.Join(c.Dir, "stamps", s.ID), LogFile: filepath.Join(c.Dir, "stamps", s.ID+".log")}
	if err := os.MkdirAll(sp.DataDir, 0o750); err != nil {
		return nil, err
	}
	names := map[azurite.Service]string{azurite.Blob: "BlobEndpoint", azurite.Queue: "QueueEndpoint", azurite.Table: "TableEndpoint"}
	cs := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;", azurite.Account, azurite.Key)
	for _, svc := range []azurite.Service{azurite.Blob, azurite.Queue, azurite.Table} {
		upstream := fmt.Sprintf("127.0.0.1:%d", reg.Azurite.Port(svc))
		if svc == azurite.Blob {
			upstream = reg.Guard.Addr()
		}
		p, err := faultproxy.New(upstream)
		if err != nil {
			return nil, err
		}
		sp.Proxies[svc] = p
		cs += fmt.Sprintf("%s=http://%s/%s;", names[svc], p.Addr(), azurite.Account)
	}
	var err error
	if sp.HTTP, err = freeTCP(); err != nil {
		return nil, err
	}
	if sp.Metrics, err = freeTCP(); err != nil {
		return nil, err
	}
	sp.client = c.HTTPClient(time.Second)
	if c.opt.SIP {
		if sp.SIP, err = freeUDPTCP(); err != nil {
			return nil, err
		}
	}
	if c.opt.IMAP {
		if sp.IMAP, err = freeTCP(); err != nil {
			return nil, err
		}
	}
	cfg := contract.DefaultStamp()
	cfg.HTTPAddr, cfg.SIPAddr, cfg.IMAPAddr, cfg.DataDir = sp.HTTP, sp.SIP, sp.IMAP, sp.DataDir
	cfg.MetricsAddr = sp.Metrics
	cfg.TLS.CertFile, cfg.TLS.KeyFile = c.Cert.CertFile, c.Cert.KeyFile
	cfg.OperatorToken, cfg.Region, cfg.Stamp, cfg.StateBlob = c.Token, s.Region, s.ID, s.StateBlob
	cfg.ConnectionString = cs
	// Other regions' audio, through the guards that make their replica containers read-only.
	for _, other := range c.Regions {
		if other.Name != s.Region {
			if cfg.BlobRegions == nil {
				cfg.BlobRegions = map[string]string{}
			}
			cfg.BlobRegions[other.Name] = "http://" + other.Guard.Addr() + "/" + azurite.Account
		}
	}
	cfg.HealthTimeout, cfg.HealthCacheTTL, cfg.HealthWindow = c.opt.HealthTimeout, c.opt.HealthCacheTTL, c.opt.HealthWindow
	cfg.DrainInterval, cfg.DrainVisibility = c.opt.DrainInterval, c.opt.DrainVisibility
	cfg.ShutdownGrace, cfg.ShutdownDelay = c.opt.ShutdownGrace, c.opt.ShutdownDelay
	// A local stamp is one process, not a replica behind a dispatcher: on SIGTERM it hangs up
	// its calls (recordings kept) within its shutdown grace instead of draining them.
	cfg.SIP.DrainTimeout = time.Second
	// Stamps share one host: media on loopback, each in its own RTP port range.
	cfg.SIP.MediaIP, cfg.SIP.RTPBindIP = "127.0.0.1", "127.0.0.1"
	// The gateway and the test callers stand in for the operator's SBCs.
	cfg.SIP.TrustedPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.SIP.RTPPortMin, cfg.SIP.RTPPortMax = c.opt.RTPPortBase+index*400, c.opt.RTPPortBase+index*400+398
	// The parent's own VOICEMAIL_* settings must not leak into a stamp.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, contract.EnvPrefix) {
			sp.env = append(sp.env, kv)
		}
	}
	sp.env = append(sp.env, cfg.Environ()...)
	return sp, nil
}

// Start launches the stamp's process and waits until it answers /health/liveness.
func (s *StampProc) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return fmt.Errorf("stamp %s: already running", s.Stamp.ID)
	}
	logf, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	cmd := exec.Command(s.bin)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		logf.Close()
		return fmt.Errorf("stamp %s: %w", s.Stamp.ID, err)
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		s.mu.Lock()
		s.err = err
		if s.cmd == cmd {
			s.cmd = nil
		}
		s.mu.Unlock()
		close(done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := s.client.Get(s.URL() + topology.LivenessPath)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("stamp %s exited during start (%v); log: %s", s.Stamp.ID, s.err, tailFile(s.LogFile, 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stamp %s not live after 30 s; log: %s", s.Stamp.ID, tailFile(s.LogFile, 2000))
		}
	}
}

// Signal sends sig to the running process.
func (s *StampProc) Signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("stamp %s is not running", s.Stamp.ID)
	}
	return s.cmd.Process.Signal(sig)
}

// Pid is the running process id, 0 when stopped.
func (s *StampProc) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Wait waits up to d for the process to exit and returns its exit error (nil for exit 0).
func (s *StampProc) Wait(d time.Duration) (exited bool, err error) {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return true, nil
	}
	select {
	case <-done:
		s.mu.Lock()
		defer s.mu.Unlock()
		return true, s.err
	case <-time.After(d):
		return false, nil
	}
}

// Stop sends SIGTERM and, after grace, SIGKILL.
func (s *StampProc) Stop(grace time.Duration) {
	if s.Signal(syscall.SIGTERM) != nil {
		return
	}
	if ok, _ := s.Wait(grace); !ok {
		_ = s.Signal(syscall.SIGKILL)
		_, _ = s.Wait(5 * time.Second)
	}
}

// stateBackend opens a client of the stamp's state blob in its region's store.
func (c *Cluster) stateBackend(ctx context.Context, id string) (*store.Backend, error) {
	sp := c.Stamp(id)
	if sp == nil {
		return nil, fmt.Errorf("local: no stamp %q", id)
	}
	reg := c.Region(sp.Stamp.Region)
	return azure.Open(ctx, azure.Config{ConnectionString: reg.Azurite.ConnectionString(), StateBlob: sp.Stamp.StateBlob})
}

// RemoveStateBlob drains a stamp the way operators and the management service do.
func (c *Cluster) RemoveStateBlob(ctx context.Context, id string) error {
	b, err := c.stateBackend(ctx, id)
	if err != nil {
		return err
	}
	return b.State.Remove(ctx)
}

// WriteStateBlob puts a drained stamp back in service.
func (c *Cluster) WriteStateBlob(ctx context.Context, id string) error {
	b, err := c.stateBackend(ctx, id)
	if err != nil {
		return err
	}
	return b.State.Write(ctx)
}

// URL is the stamp's API base URL (HTTPS with the cluster's certificate).
func (s *StampProc) URL() string { return "https://" + s.HTTP }

// ClientTLS is a client configuration that trusts the cluster's certificate.
func (c *Cluster) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: c.CA, MinVersion: tls.VersionTLS12}
}

// HTTPClient is an HTTP client with timeout that trusts the cluster's certificate.
func (c *Cluster) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: c.ClientTLS(), MaxIdleConnsPerHost: 16}}
}

// HealthCode returns the stamp's /health/stamp status (0 when it does not answer).
func (c *Cluster) HealthCode(ctx context.Context, id string) int {
	sp := c.Stamp(id)
	if sp == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sp.URL()+topology.HealthPath, nil)
	res, err := c.HTTPClient(5 * time.Second).Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// Stamp ports come from a band below the kernel's ephemeral range (32768-60999 by default) and
// above the stamps' RTP ranges (20000+): a port picked with :0 and released again can be taken
// by any outgoing connection before the stamp binds it, which under load kills the stamp.
const stampPortLow, stampPortHigh = 25000, 30000

// stampPorts hands out ports of that band once each within this process.
var stampPorts = struct {
	sync.Mutex
	next int
}{next: stampPortLow}

// freePort returns a loopback port of the band that is free now for TCP, and for UDP too when
// udp is set (SIP listens on both).
func freePort(udp bool) (string, error) {
	stampPorts.Lock()
	defer stampPorts.Unlock()
	for range stampPortHigh - stampPortLow {
		port := stampPorts.next
		stampPorts.next++
		if stampPorts.next == stampPortHigh {
			stampPorts.next = stampPortLow
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		t, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		if udp {
			u, err := net.ListenPacket("udp", addr)
			if err != nil {
				t.Close()
				continue
			}
			u.Close()
		}
		t.Close()
		return addr, nil
	}
	return "", errors.New("local: no free port in the stamp port band")
}

func freeTCP() (string, error) { return freePort(false) }

// freeUDPTCP returns a loopback port free for both UDP and TCP.
func freeUDPTCP() (string, error) { return freePort(true) }

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// BuildVoicemail compiles the service binary into dir and returns its path.
func BuildVoicemail(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "voicemail")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/voicemail-platform/voicemail/app/cmd/voicemail")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build voicemail: %w\n%s", err, b)
	}
	return out, nil
}
