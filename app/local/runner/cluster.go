// Package runner runs a whole deployment on one machine: each stamp of a stack's topology (read
// through internal/config and internal/topology, as the Pulumi program reads it) as two or
// more voicemail replicas on their own loopback addresses behind the stamp's Kamailio
// dispatcher (SIP: OPTIONS probes, record-routing) and HAProxy (HTTP and IMAP, by each
// replica's readiness), grouped by region, each region with its own Azurite (Blob, Queue,
// Table) that its stamps share through per-stamp fault proxies; a replicator copying each
// region's CRDT rows and audio to the other regions; the local Traffic Manager for HTTP; and
// two instances of the operator edge (the generated Kamailio edge configuration for SIP,
// HAProxy for IMAP). The failure-injection suite drives faults through it.
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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/edgetls"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
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
	// ShutdownDelay keeps a stamp's listener open after SIGTERM while its health answers 503,
	// so the traffic manager moves away first (default 0).
	ShutdownDelay time.Duration
	SIP, IMAP     bool // give every stamp SIP and IMAP listeners
	// RTPPortBase is the first RTP port: stamp i takes base+400*i .. base+400*i+398. Default
	// 20000; two clusters in one process need ranges that do not overlap.
	RTPPortBase int
	// Replicas is the number of voicemail processes per stamp (default 2), each on its own
	// loopback address behind the stamp's dispatcher (SIP) and balancer (HTTP, IMAP).
	Replicas int
	// DispatcherProbe is how often a stamp's Kamailio sends OPTIONS to each replica (default
	// 1 s); BalancerCheck how often its HAProxy checks each replica's readiness (500 ms).
	DispatcherProbe, BalancerCheck time.Duration
	// SIPDrainTimeout is how long a replica told to stop lets its calls go on (default: the
	// stamp contract's, the longest deposit).
	SIPDrainTimeout time.Duration

	// Traffic Manager monitor overrides; zero keeps the stack's values.
	ProbeInterval     time.Duration
	ProbeTimeout      time.Duration
	ToleratedFailures *int

	ReplicationInterval time.Duration // default 1 s
	// Edges is the number of operator edge instances (Kamailio for SIP, HAProxy for IMAP),
	// default 2. EdgeProbe is how often an edge's Kamailio probes each stamp dispatcher (default
	// 1 s), EdgeCheck how often its HAProxy checks each stamp's health (500 ms).
	Edges                int
	EdgeProbe, EdgeCheck time.Duration

	// CombinedAzurite lists regions whose Azurite runs Blob, Queue and Table in one process
	// (node's start-up, most of a cluster's, paid once instead of three times). Their services
	// cannot be stopped one by one; the other regions' can (Region.Azurite.Stop).
	CombinedAzurite []string

	// Listen addresses; default 127.0.0.1:0 (a free port).
	TrafficManagerAddr string
	EdgeSIPAddrs       []string
	EdgeIMAPAddrs      []string

	Log *slog.Logger
}

// Cluster is a running local deployment.
type Cluster struct {
	Topology topology.Topology
	Regions  []*Region
	Stamps   []*StampProc
	TM       *tmemulator.Manager
	TMURL    string
	Edges    []*Edge
	Repl     *Replicator
	Token    string
	Dir      string
	// Cert is the self-signed certificate every replica serves (HTTPS API, IMAP STARTTLS and
	// implicit TLS), as an Azure stamp serves its Key Vault certificate. Clients trust it with
	// ClientTLS (or curl --cacert Cert.CertFile).
	Cert edgetls.SelfSigned
	CA   *x509.CertPool
	// certKeyFile is Cert's chain and key in one file, for the stamps' HAProxy.
	certKeyFile string

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

// Start brings the deployment up: Azurite per region, stamps (replicas behind their
// dispatcher and balancer), replicator, traffic manager and the operator edge. On error everything
// started so far is stopped.
func Start(ctx context.Context, opt Options) (_ *Cluster, err error) {
	if opt, err = opt.withDefaults(); err != nil {
		return nil, err
	}
	c := &Cluster{Topology: opt.Topology, Token: opt.OperatorToken, opt: opt, log: opt.Log, Dir: opt.Dir}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "voicemail-local-"); err != nil {
			return nil, err
		}
		c.tempDir = true
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel

	if err := c.writeCert(); err != nil {
		return nil, err
	}
	if err := c.startRegions(ctx); err != nil {
		return nil, err
	}
	targets, err := c.replicaTargets(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.startStamps(ctx); err != nil {
		return nil, err
	}
	c.startReplication(runCtx, targets)
	if err := c.startTrafficManager(ctx, runCtx); err != nil {
		return nil, err
	}
	if err := c.startEdges(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// withDefaults checks the options and fills in the defaults noted on them.
func (opt Options) withDefaults() (Options, error) {
	if opt.VoicemailBin == "" && opt.VoicemailBinFunc == nil {
		return opt, errors.New("local: VoicemailBin or VoicemailBinFunc is required (see BuildVoicemail)")
	}
	if len(opt.Topology.Stamps) == 0 {
		return opt, errors.New("local: topology has no stamps")
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
	def(&opt.SIPDrainTimeout, d.SIP.WithDefaults().DrainTimeout)
	def(&opt.ReplicationInterval, time.Second)
	def(&opt.DispatcherProbe, time.Second)
	def(&opt.BalancerCheck, 500*time.Millisecond)
	if opt.Replicas <= 0 {
		opt.Replicas = 2
	}
	def(&opt.EdgeProbe, time.Second)
	def(&opt.EdgeCheck, 500*time.Millisecond)
	if opt.Edges <= 0 {
		opt.Edges = 2
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
	return opt, nil
}

// startRegions starts one Azurite per region with a direct client and the guard stamps reach
// its blobs through. Node boots slowly and CPU-bound, so two at a time: a prod stack's twelve
// processes started at once starve each other past their start timeout.
func (c *Cluster) startRegions(ctx context.Context) error {
	regions := c.opt.Topology.Regions
	c.Regions = make([]*Region, len(regions))
	errs := make([]error, len(regions))
	slots := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, r := range regions {
		reg := &Region{Name: r.Name}
		c.Regions[i] = reg
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			errs[i] = c.startRegion(ctx, reg)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Cluster) startRegion(ctx context.Context, reg *Region) (err error) {
	if reg.Azurite, err = azurite.Start(ctx, azurite.Options{Dir: filepath.Join(c.Dir, "azurite-"+reg.Name),
		Combined: slices.Contains(c.opt.CombinedAzurite, reg.Name)}); err != nil {
		return fmt.Errorf("region %s: %w", reg.Name, err)
	}
	if reg.Backend, err = azure.Open(ctx, azure.Config{ConnectionString: reg.Azurite.ConnectionString()}); err != nil {
		return fmt.Errorf("region %s store: %w", reg.Name, err)
	}
	reg.Guard, err = NewReplicaGuard(fmt.Sprintf("127.0.0.1:%d", reg.Azurite.Port(azurite.Blob)), topology.AudioContainer)
	return err
}

// replicaTargets opens object replication's destinations as in Azure: each region's audio
// container goes into the replica container named for it in each region it replicates to.
func (c *Cluster) replicaTargets(ctx context.Context) (map[[2]string]store.Blobs, error) {
	targets := map[[2]string]store.Blobs{}
	for _, r := range c.opt.Topology.Regions {
		for _, to := range r.ReplicateTo {
			b, err := azure.Open(ctx, azure.Config{ConnectionString: c.Region(to).Azurite.ConnectionString(), AudioContainer: topology.ReplicaContainer(r.Name)})
			if err != nil {
				return nil, fmt.Errorf("region %s replica of %s: %w", to, r.Name, err)
			}
			targets[[2]string{r.Name, to}] = b.Blobs
		}
	}
	return targets, nil
}

// startStamps starts every stamp's replicas side by side, then their dispatchers and balancers.
func (c *Cluster) startStamps(ctx context.Context) (err error) {
	if c.opt.VoicemailBin == "" {
		if c.opt.VoicemailBin, err = c.opt.VoicemailBinFunc(ctx); err != nil {
			return fmt.Errorf("local: voicemail binary: %w", err)
		}
	}
	for i, s := range c.opt.Topology.Stamps {
		sp, err := c.newStamp(i, s)
		if err != nil {
			return err
		}
		c.Stamps = append(c.Stamps, sp)
	}
	errs := make([]error, len(c.Stamps))
	var wg sync.WaitGroup
	for i, sp := range c.Stamps {
		wg.Go(func() {
			if errs[i] = sp.Start(ctx); errs[i] == nil {
				errs[i] = sp.startFrontEnds(ctx, c.opt)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startReplication copies each region's rows and audio to the others until Close.
func (c *Cluster) startReplication(runCtx context.Context, targets map[[2]string]store.Blobs) {
	backends := map[string]*store.Backend{}
	for _, r := range c.Regions {
		backends[r.Name] = r.Backend
	}
	c.Repl = NewReplicator(backends, c.opt.ReplicationInterval, c.log.With("component", "replicator"))
	c.Repl.SetBlobTargets(targets)
	c.wg.Go(func() { c.Repl.Run(runCtx) })
}

// startTrafficManager probes every stamp's health (contract.StampHealthPath, through its
// balancer) and serves the HTTP entry point, which routes each request to a healthy stamp.
func (c *Cluster) startTrafficManager(ctx, runCtx context.Context) (err error) {
	base := map[string]*url.URL{}
	for _, sp := range c.Stamps {
		base[sp.Stamp.ID] = &url.URL{Scheme: "https", Host: sp.HTTP}
	}
	tmCfg, eps := tmemulator.FromTopology(c.opt.Topology, base)
	if c.opt.ProbeInterval > 0 {
		tmCfg.Interval = c.opt.ProbeInterval
	}
	if c.opt.ProbeTimeout > 0 {
		tmCfg.Timeout = c.opt.ProbeTimeout
	}
	if c.opt.ToleratedFailures != nil {
		tmCfg.ToleratedFailures = *c.opt.ToleratedFailures
	}
	tmCfg.ClientRegion = c.opt.Topology.Regions[0].Name
	tmCfg.UpstreamTLS = c.ClientTLS()
	tmCfg.Logger = c.log.With("component", "trafficmanager")
	if c.TM, err = tmemulator.New(tmCfg, eps); err != nil {
		return err
	}
	c.TM.ProbeAll(ctx)
	c.wg.Go(func() { c.TM.Run(runCtx) })
	addr := c.opt.TrafficManagerAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("traffic manager listen: %w", err)
	}
	c.TMURL = "http://" + l.Addr().String()
	c.tmSrv = &http.Server{Handler: c.TM, ReadHeaderTimeout: 10 * time.Second}
	c.wg.Go(func() { _ = c.tmSrv.Serve(l) })
	return nil
}

// Close stops everything and removes a temporary directory.
func (c *Cluster) Close() {
	if c.cancel != nil {
		c.cancel()
	}
	if c.tmSrv != nil {
		_ = c.tmSrv.Close()
	}
	for _, e := range c.Edges {
		e.close()
	}
	var wg sync.WaitGroup
	for _, sp := range c.Stamps {
		wg.Go(func() { sp.close(c.stopGrace()) })
	}
	wg.Wait()
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

// stopGrace is how long a replica gets between SIGTERM and SIGKILL, as the pod spec's
// terminationGracePeriodSeconds: the shutdown delay, then the longer of the HTTP shutdown grace
// and the SIP drain, plus 5 s. A call in progress when the local system stops runs to its end
// and its recording is stored; a shorter grace would kill it.
func (c *Cluster) stopGrace() time.Duration {
	return c.opt.ShutdownDelay + max(c.opt.ShutdownGrace, c.opt.SIPDrainTimeout) + 5*time.Second
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

// writeCert writes the cluster's self-signed certificate (TLS by default, as in Azure).
func (c *Cluster) writeCert() error {
	var err error
	if c.Cert, err = edgetls.WriteSelfSigned(filepath.Join(c.Dir, "tls"), "voicemail-local", 30*24*time.Hour); err != nil {
		return fmt.Errorf("local: certificate: %w", err)
	}
	pem, err := os.ReadFile(c.Cert.CertFile)
	if err != nil {
		return err
	}
	c.CA = x509.NewCertPool()
	c.CA.AppendCertsFromPEM(pem)
	key, err := os.ReadFile(c.Cert.KeyFile)
	if err != nil {
		return err
	}
	c.certKeyFile = filepath.Join(c.Dir, "tls", "cert-and-key.pem")
	return os.WriteFile(c.certKeyFile, append(pem, key...), 0o600)
}

// ClientTLS trusts the cluster's certificate. Replicas and front ends listen on many loopback
// addresses; the certificate names localhost, which clients verify instead.
func (c *Cluster) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: c.CA, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// HTTPClient is an HTTP client with timeout that trusts the cluster's certificate.
func (c *Cluster) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: c.ClientTLS(), MaxIdleConnsPerHost: 16}}
}

// HealthCode returns the stamp's health status (0 when it does not answer).
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

// BuildVoicemail compiles the service binary into dir and returns its path.
func BuildVoicemail(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "voicemail")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/voicemail-platform/voicemail/app/cmd/voicemail")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build voicemail: %w\n%s", err, b)
	}
	return out, nil
}
