package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/sip/sipptest"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
	"github.com/voicemail-platform/voicemail/app/local/tmemulator"
	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// The failure-injection suite: real voicemail processes per stamp, Azurite per region, the
// local traffic manager and two edge instances (Kamailio, HAProxy), steady client load, one fault per case. Figures are
// printed with t.Logf as "FAILURE-CASE <n> ..." lines (go test -v -run TestFailure).

// Short windows so the suite stays well under CI's time: health cached 1 s (3 s check timeout
// as in production), a 15 s health-model window (a stamp whose requests failed during a fault
// is back in rotation within it, not within production's 60 s), Traffic Manager probes every
// 600 ms with one tolerated failure.
const (
	healthTTL     = time.Second
	healthTimeout = 3 * time.Second
	healthWindow  = 15 * time.Second
	probeInterval = 600 * time.Millisecond
	probeTimeout  = 500 * time.Millisecond
	tolerated     = 1
	// shutdownDelay outlasts the traffic manager's detection, so SIGTERM drains without errors.
	shutdownDelay = 3 * time.Second
	// detection is the worst case until the traffic manager stops routing to a failed stamp:
	// the failing probes plus a timeout, plus slack for a loaded 2-core machine.
	detection = (tolerated+1)*probeInterval + probeTimeout + 3*time.Second
	// failbackWindow covers a replica's return to its own region's Table endpoint after it
	// failed over (the store passes a failed endpoint over for 10 s), plus slack.
	failbackWindow = 15 * time.Second
)

// The service binary is built once, in the background from TestMain, so the build overlaps
// the tests that need no stamps and Azurite's start-up (Options.VoicemailBinFunc).
var (
	binPath  string
	binErr   error
	binBuilt = make(chan struct{})
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "voicemail-failure-bin-")
	if err != nil {
		panic(err)
	}
	go func() {
		defer close(binBuilt)
		// FAILURE_VOICEMAIL_BIN runs the suite against a prebuilt service binary.
		if p := os.Getenv("FAILURE_VOICEMAIL_BIN"); p != "" {
			binPath = p
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		binPath, binErr = BuildVoicemail(ctx, d)
	}()
	code := m.Run()
	<-binBuilt
	os.RemoveAll(d)
	os.Exit(code)
}

type fixture struct {
	t         *testing.T
	c         *Cluster
	load      *load
	mailboxes []string
	checked   int // accepted deposits already verified
}

// startFixture starts a cluster of the stack; rtpBase keeps its stamps' RTP ports apart from
// those of a cluster another test runs at the same time. The cases stop single Azurite services
// only in the stopServicesIn regions; every other region's Azurite is one combined process.
func startFixture(t *testing.T, stack string, mailboxes, rtpBase int, stopServicesIn ...string) *fixture {
	t.Helper()
	cfg, err := config.LoadStackFile(stack)
	require.NoError(t, err)
	topo, err := topology.Build(cfg)
	require.NoError(t, err)
	var combined []string
	for _, r := range topo.Regions {
		if !slices.Contains(stopServicesIn, r.Name) {
			combined = append(combined, r.Name)
		}
	}
	tol := tolerated
	begin := time.Now()
	// The stores boot while TestMain's build finishes; the stamps wait for the binary.
	var built time.Duration
	bin := func(ctx context.Context) (string, error) {
		w := time.Now()
		defer func() { built = time.Since(w) }()
		select {
		case <-binBuilt:
			return binPath, binErr
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // the build may take 3
	defer cancel()
	c, err := Start(ctx, Options{
		Topology: topo, VoicemailBinFunc: bin, Dir: t.TempDir(), SIP: true, IMAP: true, RTPPortBase: rtpBase,
		HealthTimeout: healthTimeout, HealthCacheTTL: healthTTL, HealthWindow: healthWindow, DrainInterval: 200 * time.Millisecond, DrainVisibility: 2 * time.Second,
		ShutdownGrace: 10 * time.Second, ShutdownDelay: shutdownDelay, ProbeInterval: probeInterval, ProbeTimeout: probeTimeout,
		ToleratedFailures: &tol, ReplicationInterval: 300 * time.Millisecond, CombinedAzurite: combined,
		Log: debugLog(),
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		// The cases are over: no graceful stop (its shutdown delay alone is 3 s per stamp).
		for _, sp := range c.Stamps {
			_ = sp.Signal(syscall.SIGKILL)
		}
		c.Close()
	})
	f := &fixture{t: t, c: c}
	for i := range mailboxes {
		f.mailboxes = append(f.mailboxes, fmt.Sprintf("3000%02d", i))
	}
	// Provisioned side by side: the PUTs are independent, and the stamps' first requests are slow.
	errs := make([]error, len(f.mailboxes))
	var wg sync.WaitGroup
	for i, mb := range f.mailboxes {
		wg.Go(func() { errs[i] = f.put(mb) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	// Every region must know the mailboxes before its stamps can take deposits for them.
	f.replicated(t, "mailboxes replicated to every region", func() error {
		for _, r := range c.Regions {
			svc := f.regionService(r)
			for _, mb := range f.mailboxes {
				if _, err := svc.Mailbox(context.Background(), mb); err != nil {
					return fmt.Errorf("%s in %s: %w", mb, r.Name, err)
				}
			}
		}
		return nil
	})
	f.waitRouting(t, 30*time.Second)
	t.Logf("fixture %s: %d regions, %d stamps up in %.1fs (waited %.1fs for the binary build)", stack, len(c.Regions), len(c.Stamps),
		time.Since(begin).Seconds(), built.Seconds())
	f.load = newLoad(c, f.mailboxes)
	f.load.sip, f.load.imap = servesSIP(c.Stamps[0].SIP), servesIMAP(c.Stamps[0].IMAP)
	if !f.load.sip || !f.load.imap {
		t.Logf("NOTE: the voicemail binary serves SIP=%t IMAP=%t on VOICEMAIL_SIP_ADDR/VOICEMAIL_IMAP_ADDR; "+
			"edge load runs only for the protocols it serves", f.load.sip, f.load.imap)
	}
	return f
}

// servesIMAP reports whether an IMAP server greets on addr.
func servesIMAP(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.HasPrefix(line, "* OK")
}

// servesSIP reports whether a SIP server answers OPTIONS on addr (UDP).
func servesSIP(addr string) bool {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return false
	}
	defer conn.Close()
	msg := fmt.Sprintf("OPTIONS sip:probe@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-probe;rport\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:probe@%s>\r\nCall-ID: probe@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		addr, conn.LocalAddr(), addr)
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return false
	}
	buf := make([]byte, 4096)
	for range 3 {
		_, _ = conn.WriteToUDP([]byte(msg), ua)
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, _, err := conn.ReadFromUDP(buf); err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 ") {
			return true
		}
	}
	return false
}

// debugLog logs the runner's components to stderr when FAILURE_DEBUG is set.
func debugLog() *slog.Logger {
	if os.Getenv("FAILURE_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func (f *fixture) provision(mb string) {
	f.t.Helper()
	require.NoError(f.t, f.put(mb))
}

// provisionEverywhere provisions mailbox mb and waits until every region's store has it.
func (f *fixture) provisionEverywhere(t *testing.T, mb string) {
	t.Helper()
	f.provision(mb)
	f.replicated(t, "mailbox in both regions", func() error {
		for _, r := range f.c.Regions {
			if _, err := f.regionService(r).Mailbox(context.Background(), mb); err != nil {
				return err
			}
		}
		return nil
	})
}

// put provisions mailbox mb through the traffic manager.
func (f *fixture) put(mb string) error {
	body := strings.NewReader(`{"pin":"2468","displayName":"Load ` + mb + `","maxMessages":10000,"maxMessageSeconds":60}`)
	req, err := http.NewRequest(http.MethodPut, f.c.TMURL+"/v1/mailboxes/"+mb, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+f.c.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("provision %s: %w", mb, err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
		return fmt.Errorf("provision %s: %d %s", mb, res.StatusCode, b)
	}
	return nil
}

// putGreeting records a 300 ms unavailable greeting for mb through the traffic manager.
func (f *fixture) putGreeting(t *testing.T, mb string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, f.c.TMURL+"/v1/mailboxes/"+mb+"/greetings/unavailable",
		bytes.NewReader(audio.Encode(audio.ALaw, audio.FromPCM16(audio.ALaw, audio.Tone(600, 300, 8000)))))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.c.Token)
	req.Header.Set("Content-Type", "audio/wav")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Less(t, res.StatusCode, 300, string(b))
}

// regionService reads a region's store directly, merging every region's rows as a stamp does.
func (f *fixture) regionService(r *Region) *voicemail.Service {
	svc, err := voicemail.New(voicemail.Options{AllowGuessablePINs: true, Backend: r.Backend, Region: r.Name, Node: r.Name + "/verifier"})
	require.NoError(f.t, err)
	return svc
}

func (f *fixture) eventually(t *testing.T, d time.Duration, what string, fn func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < d {
		if err = fn(); err == nil {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, d, err)
	return 0
}

// replicated waits until fn succeeds, a condition replication makes true, and returns how long
// that took. Replication has no fixed latency on a loaded machine (a round copies what is new
// and may fail and be resumed by the next), so the deadline is counted in its rounds: fn must
// succeed once five rounds that started after the call have finished, or within two minutes
// should the replicator stall.
func (f *fixture) replicated(t *testing.T, what string, fn func() error) time.Duration {
	t.Helper()
	start := time.Now()
	last := f.c.Repl.Rounds() + 1 + 5 // the round in progress may have passed the change by
	for {
		exhausted := f.c.Repl.Rounds() >= last || time.Since(start) > 2*time.Minute
		err := fn()
		if err == nil {
			return time.Since(start)
		}
		if exhausted {
			t.Fatalf("%s: not after five replication rounds (%s): %v", what, time.Since(start).Round(time.Millisecond), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitRouting waits until the traffic manager sees every stamp online, both edges route to every
// stamp and every stamp's dispatcher to all its replicas.
func (f *fixture) waitRouting(t *testing.T, d time.Duration) time.Duration {
	t.Helper()
	return f.eventually(t, d, "all stamps in rotation", func() error {
		for _, st := range f.c.TM.Statuses() {
			if st.Status != tmemulator.Online {
				var unhealthy []string
				if sp := f.c.Stamp(st.Name); sp != nil {
					unhealthy = stampHealth(sp).unhealthy
				}
				return fmt.Errorf("traffic manager: %s is %s (%s; unhealthy %v)", st.Name, st.Status, st.LastErr, unhealthy)
			}
		}
		for i, e := range f.c.Edges {
			if up, err := e.Up(context.Background(), f.c.Stamps); err != nil || len(up) != len(f.c.Stamps) {
				return fmt.Errorf("edge %d routes to %v only (%v)", i, up, err)
			}
		}
		for _, sp := range f.c.Stamps {
			if sp.Dispatcher == nil {
				continue
			}
			if active, err := sp.ActiveReplicas(context.Background()); err != nil || len(active) != len(sp.Replicas) {
				return fmt.Errorf("stamp %s dispatcher: %d of %d replicas active (%v)", sp.Stamp.ID, len(active), len(sp.Replicas), err)
			}
		}
		return nil
	})
}

// tmChanged is how long after t the traffic manager last changed the stamp's status.
func (f *fixture) tmChanged(id string, t time.Time) time.Duration {
	for _, st := range f.c.TM.Statuses() {
		if st.Name == id {
			return max(0, st.Changed.Sub(t))
		}
	}
	return 0
}

func (f *fixture) tmStatus(id string) tmemulator.Status {
	for _, st := range f.c.TM.Statuses() {
		if st.Name == id {
			return st.Status
		}
	}
	return ""
}

// onFallbackEndpoint reports whether a replica's log says its own region's Table endpoint is
// passed over now: the last such notice is not followed by one that it answers again.
func onFallbackEndpoint(log string) bool {
	over, back := -1, -1
	for i, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"home":true`) {
			continue
		}
		switch {
		case strings.Contains(line, `"msg":"`+azure.EndpointPassedOver+`"`):
			over = i
		case strings.Contains(line, `"msg":"`+azure.EndpointBack+`"`):
			back = i
		}
	}
	return over > back
}

// verify checks that every deposit accepted since the last verify is in every region's store
// (after replication and queue drains) and returns how many it checked and how many are in no
// region at all.
func (f *fixture) verify(t *testing.T, d time.Duration) (accepted, lost int) {
	t.Helper()
	ds := f.load.acceptedSince(f.checked)
	f.checked += len(ds)
	byBox := map[string][]string{}
	for _, dep := range ds {
		byBox[dep.mailbox] = append(byBox[dep.mailbox], dep.id)
	}
	missing := func() []string {
		var out []string
		for _, r := range f.c.Regions {
			svc := f.regionService(r)
			for mb, ids := range byBox {
				msgs, err := svc.Messages(context.Background(), mb, "")
				if err != nil {
					out = append(out, fmt.Sprintf("error %s/%s: %v", r.Name, mb, err))
					continue
				}
				have := map[string]bool{}
				for _, m := range msgs {
					have[m.ID] = true
				}
				for _, id := range ids {
					if !have[id] {
						out = append(out, r.Name+"/"+mb+"/"+id)
					}
				}
			}
		}
		return out
	}
	start := time.Now()
	deadline := start.Add(d)
	var miss []string
	for {
		miss = missing()
		if len(miss) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A deposit missing in every region is lost; one missing in some regions only has not
	// replicated yet (the run is slow, or replication is broken), which is a failure too but
	// not a loss.
	regionsMissing := map[string]int{}
	for _, m := range miss {
		if !strings.HasPrefix(m, "error ") {
			regionsMissing[m[strings.LastIndexByte(m, '/')+1:]]++
		}
	}
	for _, n := range regionsMissing {
		if n == len(f.c.Regions) {
			lost++
		}
	}
	if len(miss) > 0 {
		t.Errorf("%d accepted deposits lost (in no region) and %d not in every region after %s (or a store did not answer), e.g. %v",
			lost, len(regionsMissing)-lost, d, miss[:min(5, len(miss))])
	}
	t.Logf("  %d accepted deposits checked in %d regions; all present after %.2fs", len(ds), len(f.c.Regions), time.Since(start).Seconds())
	return len(ds), lost
}

// goroutines reads go_goroutines from the /metrics of a stamp's first replica.
func goroutines(t *testing.T, sp *StampProc) int {
	t.Helper()
	res, err := http.Get("http://" + sp.Replicas[0].Metrics + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`(?m)^go_goroutines (\d+)`).FindSubmatch(b)
	require.NotNil(t, m, "go_goroutines in /metrics")
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

type healthAnswer struct {
	code      int
	latency   time.Duration
	unhealthy []string
}

func stampHealth(sp *StampProc) healthAnswer { return stampHealthWithin(sp, 10*time.Second) }

// stampHealthWithin asks the stamp's health endpoint, giving up after timeout.
func stampHealthWithin(sp *StampProc, timeout time.Duration) healthAnswer {
	start := time.Now()
	res, err := sp.HTTPClient(timeout).Get(sp.URL() + topology.HealthPath)
	if err != nil {
		return healthAnswer{latency: time.Since(start)}
	}
	defer res.Body.Close()
	var rep struct {
		Unhealthy []string `json:"unhealthy"`
	}
	_ = json.NewDecoder(res.Body).Decode(&rep)
	return healthAnswer{code: res.StatusCode, latency: time.Since(start), unhealthy: rep.Unhealthy}
}

// healthBurst sends 100 health probers at the stamp at once and returns the peak of its first
// replica's goroutines while they run, how many probers got no answer and the slowest answer.
// Each prober waits long enough that only a request held by a hang goes unanswered.
func healthBurst(t *testing.T, sp *StampProc) (peak int, unanswered int64, slowest time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 100 {
		wg.Go(func() {
			h := stampHealthWithin(sp, 30*time.Second)
			mu.Lock()
			defer mu.Unlock()
			if h.code == 0 {
				unanswered++
			}
			slowest = max(slowest, h.latency)
		})
	}
	for range 10 {
		peak = max(peak, goroutines(t, sp))
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	return peak, unanswered, slowest
}

// healthSlowAnswers counts the health requests the stamp's replicas took longer than 5 s to
// answer, from their request latency histograms (voicemail_http_request_duration_seconds, whose
// largest finite bucket is 5 s): the time the handler itself waited, which a loaded machine's
// TLS handshakes and queueing in front of the replica do not add to.
func healthSlowAnswers(t *testing.T, sp *StampProc) int {
	t.Helper()
	bucket := regexp.MustCompile(`(?m)^voicemail_http_request_duration_seconds_bucket\{([^}]*)\} (\d+)`)
	slow, served := 0, 0
	for _, r := range sp.Replicas {
		res, err := http.Get("http://" + r.Metrics + "/metrics")
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, m := range bucket.FindAllSubmatch(b, -1) {
			labels := string(m[1])
			if !strings.Contains(labels, topology.HealthPath+`"`) {
				continue
			}
			n, _ := strconv.Atoi(string(m[2]))
			switch {
			case strings.Contains(labels, `le="+Inf"`):
				slow, served = slow+n, served+n
			case strings.Contains(labels, `le="5"`):
				slow -= n
			}
		}
	}
	require.Positive(t, served, "health requests in the replicas' latency histograms")
	return slow
}

// faultCases lets one suite at a time inject faults. The two suites start their clusters side
// by side (each its own Azurite, stamps, ports and RTP ranges; start-up is most of a suite's
// CPU), but their cases, which measure detection and recovery times under steady load, run
// one suite after the other so that neither suite's load slows the other's stamps.
var faultCases sync.Mutex

func TestFailureOneRegion(t *testing.T) {
	t.Parallel()
	f := startFixture(t, "../../../Pulumi.dev.yaml", 8, 20000)
	faultCases.Lock()
	defer faultCases.Unlock()
	c := f.c
	z1, z2 := c.Stamps[0], c.Stamps[1]
	var table strings.Builder
	c.PrintTable(context.Background(), &table)
	for _, sp := range c.Stamps {
		assert.Regexp(t, sp.Stamp.ID+` +eastus2 +\d +`+regexp.QuoteMeta(sp.HTTP)+`.* 200 +Online +2/2 up`, table.String())
	}
	assert.Contains(t, table.String(), "Traffic Manager (HTTP API): "+c.TMURL)
	stop := f.load.run(3)
	defer stop()
	time.Sleep(time.Second) // steady state

	// A case that fails half-way must not leave its stamp down for the next one.
	ensureRunning := func(t *testing.T, sp *StampProc) {
		require.NoError(t, sp.Start(context.Background()))
	}

	t.Run("1-sigkill-stamp", func(t *testing.T) {
		defer ensureRunning(t, z1)
		fault := time.Now()
		require.NoError(t, z1.Signal(syscall.SIGKILL))
		f.eventually(t, detection, "traffic manager degrades the killed stamp", func() error {
			if st := f.tmStatus(z1.Stamp.ID); st != tmemulator.Degraded {
				return fmt.Errorf("status %s", st)
			}
			return nil
		})
		moved := f.tmChanged(z1.Stamp.ID, fault)
		// Load keeps flowing on the surviving stamp for at least 2 s; the SIP call below runs
		// inside that period (the stamp is still dead), so the window also covers the call.
		flowing := time.Now()

		sipDeposit := "not run (stamps serve no SIP)"
		if f.load.sip {
			// A new call through the other edge instance lands on the surviving stamp, once the
			// edge's probes took the dead stamp out of rotation.
			// The stamp dispatcher's probes of its dead replicas time out, then the edge's probe
			// of the dispatcher gets 503.
			f.eventually(t, 15*time.Second, "the edge's Kamailio takes the stamp out of rotation", func() error {
				up, err := c.Edges[1].SIPUp(context.Background(), c.Stamps)
				if err != nil || slices.Contains(up, z1.Stamp.ID) {
					return fmt.Errorf("edge routes to %v (%v)", up, err)
				}
				return nil
			})
			caller := "5559" + strconv.Itoa(int(time.Now().UnixMilli()%1000000))
			f.putGreeting(t, f.mailboxes[1]) // short, so the call records after about a second
			sipp(t, c.Edges[1].SIPAddr(), f.mailboxes[1], caller)
			f.eventually(t, 15*time.Second, "SIP deposit through the edge stored in every region", func() error {
				for _, r := range c.Regions {
					msgs, err := f.regionService(r).Messages(context.Background(), f.mailboxes[1], "")
					if err != nil {
						return err
					}
					if !slices.ContainsFunc(msgs, func(m voicemail.Message) bool { return strings.Contains(m.Caller, caller) }) {
						var callers []string
						for _, m := range msgs[:min(5, len(msgs))] {
							callers = append(callers, m.Caller)
						}
						return fmt.Errorf("no message from %s in %s (newest callers %v)", caller, r.Name, callers)
					}
				}
				return nil
			})
			sipDeposit = "ok"
		}
		time.Sleep(2*time.Second - time.Since(flowing)) // no-op when the call took longer
		end := time.Now()
		w := f.load.window(fault, end, z1.Stamp.ID)
		after := f.load.window(fault.Add(moved+probeInterval), end)
		// Requests routed to the stamp before it left rotation fail with it (the stamp's
		// balancer holds them while it retries its dead replicas); those routed after succeed.
		assert.Empty(t, after.startedFailures("deposit"), "deposits succeed once routing moved")
		recovery := recoveredAfter(fault, w)
		assert.Less(t, recovery, detection, "traffic moves within the probe window")

		require.NoError(t, z1.Start(context.Background()))
		f.waitRouting(t, 30*time.Second)
		accepted, lost := f.verify(t, 30*time.Second)
		report(t, 1, "sigkill-stamp", w, recovery, accepted, lost, fmt.Sprintf("tm_degraded_after=%.2fs sip_deposit_via_edge2=%q", moved.Seconds(), sipDeposit))
		assert.Zero(t, lost)
	})

	t.Run("2-state-blob-removed", func(t *testing.T) {
		defer func() { _ = c.WriteStateBlob(context.Background(), z2.Stamp.ID) }()
		fault := time.Now()
		require.NoError(t, c.RemoveStateBlob(context.Background(), z2.Stamp.ID))
		// The stamp reports itself unhealthy within one health cache window.
		unhealthy := f.eventually(t, healthTTL+healthTimeout, "stamp reports the missing state blob", func() error {
			h := stampHealth(z2)
			if h.code != http.StatusServiceUnavailable || !slices.Contains(h.unhealthy, "state") {
				return fmt.Errorf("health %d %v", h.code, h.unhealthy)
			}
			return nil
		})
		assert.LessOrEqual(t, unhealthy, healthTTL+time.Second, "drained within one health cache window")
		f.eventually(t, detection, "traffic manager drains the stamp", func() error {
			if st := f.tmStatus(z2.Stamp.ID); st != tmemulator.Degraded {
				return fmt.Errorf("status %s", st)
			}
			return nil
		})
		// The edges' HAProxy follows /health/stamp for IMAP. For SIP the drained stamp's
		// replicas answer OPTIONS 503, so its dispatcher has no target and the edges (in Azure
		// the SBCs) send new dialogs to the other stamp.
		for i, e := range c.Edges {
			f.eventually(t, detection, "edge drains the stamp for IMAP and SIP", func() error {
				imapUp, err := e.IMAPUp(context.Background(), c.Stamps)
				if err != nil || slices.Contains(imapUp, z2.Stamp.ID) {
					return fmt.Errorf("edge %d still routes IMAP to %s (%v)", i, z2.Stamp.ID, err)
				}
				sipUp, err := e.SIPUp(context.Background(), c.Stamps)
				if err != nil || slices.Contains(sipUp, z2.Stamp.ID) {
					return fmt.Errorf("edge %d still routes SIP to %s (%v)", i, z2.Stamp.ID, err)
				}
				return nil
			})
		}
		// A new call through each edge reaches the other stamp only.
		f.putGreeting(t, f.mailboxes[1])
		for i, e := range c.Edges {
			caller := newCaller()
			require.NoError(t, sippCall(t, e.SIPAddr(), f.mailboxes[1], caller, "/usr/share/sip-tester/g711a.pcap", 500*time.Millisecond))
			f.callOn(t, z1, caller)
			for _, r := range z2.Replicas {
				assert.False(t, hasCall(r, caller), "edge %d sent a new call to the drained stamp's %s", i, r.Name)
			}
		}
		// Requests routed to the stamp before the drain finish; every later one is routed
		// by the drained traffic manager and edges.
		f.load.settle(time.Now())
		drainedAt := time.Now()
		time.Sleep(time.Second)
		observed := time.Now()
		assert.True(t, f.load.window(drainedAt, observed, z2.Stamp.ID).lastServed.IsZero(), "no request reaches the drained stamp")
		w := f.load.window(fault, observed, z2.Stamp.ID)
		recovery := w.lastServed.Sub(fault)
		if w.lastServed.IsZero() {
			recovery = 0
		}

		restore := time.Now()
		require.NoError(t, c.WriteStateBlob(context.Background(), z2.Stamp.ID))
		restored := f.waitRouting(t, healthTTL+detection)
		f.eventually(t, 5*time.Second, "restored stamp takes traffic again", func() error {
			if f.load.window(restore, time.Now(), z2.Stamp.ID).lastServed.IsZero() {
				return fmt.Errorf("no request served by %s yet", z2.Stamp.ID)
			}
			return nil
		})
		accepted, lost := f.verify(t, 30*time.Second)
		report(t, 2, "state-blob-removed", w, recovery, accepted, lost,
			fmt.Sprintf("stamp_503_after=%.2fs restored_after=%.2fs", unhealthy.Seconds(), restored.Seconds()))
		assert.Zero(t, w.failed, "draining by state blob fails no request")
		assert.Zero(t, lost)
	})

	t.Run("5-sigterm-replica-during-deposits", func(t *testing.T) {
		defer ensureRunning(t, z1)
		// A rollout step: SIGTERM reaches one replica of z1 while a slow upload is in flight on
		// it. The upload completes, the replica leaves the balancer before its listener closes,
		// the stamp stays in rotation on its other replica, and no deposit fails.
		r0 := z1.Replicas[0]
		pr, pw := io.Pipe()
		wav := f.load.wav
		type result struct {
			d  deposit
			ok bool
		}
		slow := make(chan result, 1)
		go func() {
			d, ok := f.load.depositBody(context.Background(), r0.URL(), f.mailboxes[0], pr, int64(len(wav)))
			slow <- result{d, ok}
		}()
		half := len(wav) / 2
		_, err := pw.Write(wav[:half])
		require.NoError(t, err)
		time.Sleep(300 * time.Millisecond) // the request is being read by the replica

		fault := time.Now()
		require.NoError(t, r0.Signal(syscall.SIGTERM))
		// The rest of the body arrives after the listener closed (after the shutdown delay).
		closed := f.eventually(t, shutdownDelay+10*time.Second, "listener closes after the shutdown delay", func() error {
			conn, err := net.DialTimeout("tcp", r0.HTTP, time.Second)
			if errors.Is(err, syscall.ECONNREFUSED) {
				return nil
			}
			if err != nil {
				return err
			}
			conn.Close()
			return errors.New("listener still open")
		})
		assert.GreaterOrEqual(t, closed, shutdownDelay, "the listener stays open for the shutdown delay")
		_, err = pw.Write(wav[half:])
		require.NoError(t, pw.Close())
		require.NoError(t, err)
		r := <-slow
		assert.True(t, r.ok, "the in-flight deposit completes after SIGTERM")

		// With the full SIP drain timeout: no call in progress, so it exits at once.
		exited, exitErr := r0.Wait(15 * time.Second)
		require.True(t, exited, "replica exits after its grace period")
		assert.NoError(t, exitErr, "clean exit (status 0) after SIGTERM")
		w := f.load.window(fault, time.Now(), z1.Stamp.ID)
		assert.Zero(t, w.failedByKind["deposit"], "SIGTERM to a replica fails no deposit: %v", w.firstErrs)
		assert.Equal(t, tmemulator.Online, f.tmStatus(z1.Stamp.ID), "the stamp stays in rotation on its other replica")
		require.NoError(t, r0.Start(context.Background()))
		f.waitRouting(t, 30*time.Second)
		accepted, lost := f.verify(t, 30*time.Second)
		report(t, 5, "sigterm-replica-during-deposits", w, recoveredAfter(fault, w), accepted, lost,
			fmt.Sprintf("inflight_deposit_ok=%t listener_closed_after=%.2fs", r.ok, closed.Seconds()))
		assert.Zero(t, lost)
	})

	replicaCases(t, f)
}

func TestFailureTwoRegions(t *testing.T) {
	t.Parallel()
	f := startFixture(t, "testdata/Pulumi.tworegion.yaml", 6, 22000, "eastus2") // case 3 stops its table
	faultCases.Lock()
	defer faultCases.Unlock()
	c := f.c
	east, central := c.Regions[0], c.Regions[1]
	eastStamps := c.StampsIn(east.Name)
	eastIDs := []string{eastStamps[0].Stamp.ID, eastStamps[1].Stamp.ID}
	centralStamp := c.StampsIn(central.Name)[0]
	stop := f.load.run(3)
	defer stop()
	time.Sleep(time.Second)

	t.Run("3-region-table-endpoint-down", func(t *testing.T) {
		fault := time.Now()
		require.NoError(t, east.Azurite.Stop(azurite.Table))
		// The region's stamps fail over inside the store to the next region's Table endpoint
		// (as with Cosmos DB's per-region endpoints): deposits go on directly, not through the
		// queue, and the stamps stay healthy and in rotation.
		var during []deposit
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 5 { // side by side, as callers arrive
			wg.Go(func() {
				d, ok := f.load.depositOnce(context.Background(), eastStamps[i%2].URL(), f.mailboxes[i%len(f.mailboxes)])
				if ok {
					mu.Lock()
					during = append(during, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Len(t, during, 5, "the region's stamps take every deposit through the fallback endpoint")
		for _, sp := range eastStamps {
			f.eventually(t, healthTTL+healthTimeout+2*time.Second, "stamp healthy through the fallback endpoint", func() error {
				if h := stampHealth(sp); h.code != http.StatusOK {
					return fmt.Errorf("%s health %d %v", sp.Stamp.ID, h.code, h.unhealthy)
				}
				return nil
			})
		}
		for _, id := range eastIDs {
			assert.Equal(t, tmemulator.Online, f.tmStatus(id), "%s stays in rotation", id)
		}
		// Central sees them at once: they were written into its table.
		for _, d := range during {
			_, err := f.regionService(central).Message(context.Background(), d.mailbox, d.id)
			assert.NoError(t, err, "an outage deposit is in %s's table", central.Name)
		}
		end := time.Now()
		w := f.load.window(fault, end, eastIDs...)
		require.NoError(t, east.Azurite.Restart(context.Background(), azurite.Table))
		f.waitRouting(t, 30*time.Second)
		arrived := f.eventually(t, 30*time.Second, "outage deposits arrive in every region", func() error {
			for _, r := range c.Regions {
				svc := f.regionService(r)
				for _, d := range during {
					if _, err := svc.Message(context.Background(), d.mailbox, d.id); err != nil {
						return fmt.Errorf("%s: %s/%s: %w", r.Name, d.mailbox, d.id, err)
					}
				}
			}
			return nil
		})
		// Every replica returns to its own region's endpoint once it answers again.
		back := f.eventually(t, failbackWindow+5*time.Second, "east's replicas back on their own Table endpoint", func() error {
			for _, sp := range eastStamps {
				for _, r := range sp.Replicas {
					if onFallbackEndpoint(r.Log()) {
						return fmt.Errorf("%s still passes its own region's endpoint over", r.Name)
					}
				}
			}
			return nil
		})
		accepted, lost := f.verify(t, 30*time.Second)
		report(t, 3, "region-table-endpoint-down", w, recoveredAfter(fault, w), accepted, lost,
			fmt.Sprintf("deposits_through_fallback=%d/5 tm_status=%s arrived_in_own_region_after_recovery=%.2fs own_endpoint_again_after=%.2fs",
				len(during), f.tmStatus(eastIDs[0]), arrived.Seconds(), back.Seconds()))
		assert.Zero(t, lost)
	})

	t.Run("4-partition-then-heal", func(t *testing.T) {
		ctx := context.Background()
		const mb = "399999"
		f.provisionEverywhere(t, mb)
		fault := time.Now()
		c.Repl.Partition(east.Name, central.Name) // returns once no copy is in flight
		defer c.Repl.Heal()                       // a failure here must not leave the cases after it partitioned
		eastBase, centralBase := eastStamps[0].URL(), centralStamp.URL()
		var eastIDs2, centralIDs []string
		for range 4 {
			d, ok := f.load.depositOnce(ctx, eastBase, mb)
			require.True(t, ok)
			eastIDs2 = append(eastIDs2, d.id)
			d, ok = f.load.depositOnce(ctx, centralBase, mb)
			require.True(t, ok)
			centralIDs = append(centralIDs, d.id)
		}
		// A replica that failed over to the other region's Table endpoint (on a loaded machine a
		// slow answer is enough) stores its deposits there and reads there until it fails back,
		// and while partitioned neither region sees the other's rows. So each side edits a
		// message its own region's table holds, and an edit answered 404 by a replica that is
		// still on the fallback endpoint is sent again until one at home takes it.
		inOwnTable := func(r *Region, ids []string) string {
			var id string
			f.eventually(t, 5*time.Second, "a deposit of "+r.Name+" in its own table", func() error {
				msgs, err := f.regionService(r).Messages(ctx, mb, "")
				if err != nil {
					return err
				}
				for _, m := range msgs {
					if slices.Contains(ids, m.ID) {
						id = m.ID
						return nil
					}
				}
				return fmt.Errorf("none of %v", ids)
			})
			return id
		}
		eastMsg, centralMsg := inOwnTable(east, eastIDs2), inOwnTable(central, centralIDs)
		// Concurrent conflicting edits: each side renames the mailbox and handles one message.
		patch := func(base, path, body string) {
			f.eventually(t, failbackWindow, "PATCH "+path, func() error {
				req, _ := http.NewRequest(http.MethodPatch, base+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+c.Token)
				req.Header.Set("Content-Type", "application/json")
				res, err := c.HTTPClient(10 * time.Second).Do(req)
				require.NoError(t, err)
				res.Body.Close()
				if res.StatusCode == http.StatusNotFound {
					return fmt.Errorf("PATCH %s: 404", path)
				}
				require.Less(t, res.StatusCode, 300, "PATCH %s", path)
				return nil
			})
		}
		patch(eastBase, "/v1/mailboxes/"+mb, `{"displayName":"East"}`)
		patch(centralBase, "/v1/mailboxes/"+mb, `{"displayName":"Central"}`)
		patch(eastBase, "/v1/mailboxes/"+mb+"/messages/"+eastMsg, `{"heard":true}`)
		patch(centralBase, "/v1/mailboxes/"+mb+"/messages/"+centralMsg, `{"folder":"saved"}`)
		time.Sleep(time.Second) // several replication rounds: nothing may cross
		eastView, err := f.regionService(east).Messages(ctx, mb, "")
		require.NoError(t, err)
		for _, m := range eastView {
			assert.NotContains(t, centralIDs, m.ID, "partitioned: central's deposit must not reach east yet")
		}

		heal := time.Now()
		c.Repl.Heal()
		type view struct {
			name string
			msgs []string
		}
		state := func(r *Region) (view, error) {
			svc := f.regionService(r)
			box, err := svc.Mailbox(ctx, mb)
			if err != nil {
				return view{}, err
			}
			msgs, err := svc.Messages(ctx, mb, "")
			if err != nil {
				return view{}, err
			}
			v := view{name: box.DisplayName}
			for _, m := range msgs {
				v.msgs = append(v.msgs, fmt.Sprintf("%s/%s/%t", m.ID, m.Folder, m.Heard))
			}
			return v, nil
		}
		var final view
		converged := f.replicated(t, "regions converge after the partition heals", func() error {
			a, err := state(east)
			if err != nil {
				return err
			}
			b, err := state(central)
			if err != nil {
				return err
			}
			if a.name != b.name || !slices.Equal(a.msgs, b.msgs) || len(a.msgs) != 8 {
				return fmt.Errorf("east %v / central %v", a, b)
			}
			final = a
			return nil
		})
		assert.Contains(t, []string{"East", "Central"}, final.name)
		assert.Contains(t, final.msgs, eastMsg+"/new/true", "east's heard flag survives the merge")
		assert.Contains(t, final.msgs, centralMsg+"/saved/false", "central's save survives the merge")
		w := f.load.window(fault, time.Now())
		accepted, lost := f.verify(t, 30*time.Second)
		report(t, 4, "partition-then-heal", w, converged, accepted, lost,
			fmt.Sprintf("partition=%.2fs converged_after_heal=%.2fs winner=%s", heal.Sub(fault).Seconds(), converged.Seconds(), final.name))
		assert.Zero(t, lost)
	})

	t.Run("10-cross-region-playback", func(t *testing.T) { crossRegionPlayback(t, f, east, central) })
	t.Run("11-imap-uids-under-partition", func(t *testing.T) { imapUIDsUnderPartition(t, f, east, central) })

	t.Run("6-hanging-dependency", func(t *testing.T) {
		sp := eastStamps[0]
		base := goroutines(t, sp)
		// What the same burst of probers costs with the dependency answering: the connections
		// it opens hold goroutines of their own, the more the slower the machine serves them.
		healthyPeak, _, _ := healthBurst(t, sp)
		slowBefore := healthSlowAnswers(t, sp)
		fault := time.Now()
		sp.Proxies[azurite.Table].BlackHole()
		// The stamp's Table requests fail over inside the store to the next region's endpoint:
		// requests caught in the hang fail at their deadline (a health round at its 3 s timeout),
		// later ones go to the fallback, so the stamp is healthy while the dependency still hangs.
		var slowest time.Duration
		healthy := f.eventually(t, healthTTL+2*healthTimeout+5*time.Second, "stamp healthy through the fallback endpoint", func() error {
			h := stampHealth(sp)
			slowest = max(slowest, h.latency)
			if h.code != http.StatusOK {
				return fmt.Errorf("health %d %v after %s", h.code, h.unhealthy, h.latency)
			}
			return nil
		})
		// A burst of probers while the dependency hangs: answered from the cache or the one
		// round in flight, so neither goroutines nor dependency connections pile up.
		peak, unanswered, burstSlowest := healthBurst(t, sp)
		assert.Zero(t, unanswered, "every prober of the burst is answered while the dependency hangs")
		time.Sleep(2 * time.Second) // the hang goes on
		peak = max(peak, goroutines(t, sp))
		// The replicas' own latency, not the client's: a loaded machine delays the probers'
		// TLS handshakes by seconds, while a health request held by the hung dependency
		// would wait until its prober gave up.
		slowServed := healthSlowAnswers(t, sp) - slowBefore
		assert.Zero(t, slowServed, "no health request waits beyond the check timeout (%s) and 2 s", healthTimeout)
		held := sp.Proxies[azurite.Table].PeakHeld()
		assert.Less(t, peak, healthyPeak+150, "goroutines stay bounded while the dependency hangs (idle %d, the burst with the dependency answering %d)", base, healthyPeak)
		assert.Less(t, held, int64(60), "connections held by the hung dependency stay bounded")
		end := time.Now()
		w := f.load.window(fault, end, sp.Stamp.ID)
		recovery := recoveredAfter(fault, w)
		sp.Proxies[azurite.Table].Restore()
		t.Logf("  phases: fault->window end %.2fs, window settled after %.2fs", end.Sub(fault).Seconds(), time.Since(end).Seconds())
		back := f.waitRouting(t, 30*time.Second)
		t.Logf("  back in rotation after %.2fs", back.Seconds())
		after := goroutines(t, sp)
		accepted, lost := f.verify(t, 30*time.Second)
		report(t, 6, "hanging-dependency", w, recovery, accepted, lost,
			fmt.Sprintf("slowest_health_answer=%.2fs burst_slowest=%.2fs served_over_5s=%d healthy_through_fallback_after=%.2fs tm_status=%s goroutines_base=%d healthy_burst_peak=%d peak=%d after=%d held_conns_peak=%d",
				slowest.Seconds(), burstSlowest.Seconds(), slowServed, healthy.Seconds(), f.tmStatus(sp.Stamp.ID), base, healthyPeak, peak, after, held))
		assert.Zero(t, lost)
	})
}

// recoveredAfter is the time from the fault until the last request that failed or still reached
// the faulted stamps; after it, every request succeeded on a healthy stamp.
func recoveredAfter(fault time.Time, w window) time.Duration {
	last := w.lastFailure
	if w.lastServed.After(last) {
		last = w.lastServed
	}
	if last.Before(fault) {
		return 0
	}
	return last.Sub(fault)
}

// sipp places one deposit call (the telephony package's scenario, streaming sipp's G.711 pcap)
// through gw. sipp is a required peer of the suite when the stamps serve SIP.
func sipp(t *testing.T, gw, mailbox, caller string) {
	t.Helper()
	if err := sippCall(t, gw, mailbox, caller, "/usr/share/sip-tester/g711a.pcap", time.Second); err != nil {
		t.Fatal(err)
	}
}

// sippCall places one deposit call to mailbox through target streaming pcap: pause is each of
// the scenario's two pauses (the first covers the greeting and beep, the second is how long
// audio is recorded before the BYE). Every call leaves from 127.0.0.1, as from one SBC.
func sippCall(t *testing.T, target, mailbox, caller, pcap string, pause time.Duration) error {
	const bin = "/usr/bin/sipp"
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("sipp is required (Debian package sip-tester): %w", err)
	}
	sf, err := filepath.Abs("../../internal/sip/testdata/deposit_short.xml")
	if err != nil {
		return err
	}
	sigPort, mediaPort := sipptest.FreeUDPPort(t), sipptest.FreeMediaPorts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second+2*pause)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-sf", sf, "-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-p", strconv.Itoa(sigPort), "-mp", strconv.Itoa(mediaPort),
		"-nostdin", "-timeout", "30s", "-timeout_error", "-m", "1", "-d", strconv.Itoa(int(pause/time.Millisecond)), "-trace_err", "-trace_msg",
		"-key", "ruri", "sip:"+mailbox+"@"+target, "-key", "caller", caller,
		"-key", "pcap", pcap, "-key", "diversion", "<sip:"+mailbox+"@example.com>;reason=no-answer", target)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		o := string(out)
		logs, _ := filepath.Glob(filepath.Join(cmd.Dir, "*errors.log"))
		for _, l := range logs {
			o += "\n" + l + ":\n" + tailFile(l, 3000)
		}
		return fmt.Errorf("sipp deposit through %s: %w\n%s", target, err, o[max(0, len(o)-4000):])
	}
	return nil
}
