package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/kamailio"
	"github.com/voicemail-platform/voicemail/app/internal/sip/sipptest"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// The tests in this file run a stamp as it is deployed: voicemail replicas, each on its own
// address (a pod IP), behind the stamp's Kamailio dispatcher from the generated configuration.

// stampUnderTest is replicas sharing one mailbox service behind a real Kamailio dispatcher.
type stampUnderTest struct {
	svc      *voicemail.Service
	replicas []*fixture
	ds       *kamailio.Process
	addr     string // the dispatcher's SIP address (UDP and TCP)
}

func startStamp(t testing.TB, n int, cfg Config) *stampUnderTest {
	t.Helper()
	return startStampTrusting(t, n, cfg, nil)
}

// startStampTrusting is startStamp with a dispatcher that admits only sbcs (CIDR prefixes), as a
// deployed stamp's does; nil admits anyone.
func startStampTrusting(t testing.TB, n int, cfg Config, sbcs []string) *stampUnderTest {
	t.Helper()
	st := &stampUnderTest{svc: voicemailtest.New(t)}
	if cfg.TrustedPeers == nil {
		cfg.TrustedPeers = peers{netip.MustParsePrefix("127.0.0.0/8")} // the dispatcher
	}
	var targets []kamailio.Target
	for i := range n {
		f := startAt(t, st.svc, cfg, fmt.Sprintf("127.0.0.%d", 2+i))
		st.replicas = append(st.replicas, f)
		targets = append(targets, kamailio.Target{URI: "sip:" + f.addr})
	}
	port, ds := startKamailio(t, func(port string) kamailio.Config {
		return kamailio.Config{
			// One worker per socket keeps the order of a 200 and the NOTIFY right behind it, which
			// sipp (unlike phones, RFC 6665 §4.1.2.4) needs.
			Role: kamailio.RoleStamp, Name: "stamp-test", Children: 1, ProbeInterval: time.Second,
			// The replicas run inside the test process, which a loaded machine can stall for
			// seconds: a replica slower than the branch timeout to give its first reply would
			// be marked down and the call refused. 8 s instead of 2 s still fails over to the
			// other replica well within a call's time.
			BranchTimeout: 8 * time.Second,
			Listen:        []kamailio.Listen{{Proto: "udp", Addr: "127.0.0.1:" + port}, {Proto: "tcp", Addr: "127.0.0.1:" + port}},
			Targets:       targets, TrustedPeers: sbcs,
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kamailio log:\n%s", ds.Tail(4000))
		}
		ds.Stop()
	})
	st.ds, st.addr = ds, "127.0.0.1:"+port
	return st
}

// startKamailio starts Kamailio with the configuration cfg gives for a loopback port that was
// free for UDP and TCP a moment ago. A test running alongside may bind that port first, and
// Kamailio then exits at start-up ("Address already in use"); that start is retried on a new
// port. Any other failure fails the test.
func startKamailio(t testing.TB, cfg func(port string) kamailio.Config) (string, *kamailio.Process) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		port := strconv.Itoa(sipptest.FreeSIPPort(t))
		ds, err := kamailio.Start(context.Background(), t.TempDir(), cfg(port))
		if err == nil {
			return port, ds
		}
		require.True(t, attempt < 2 && strings.Contains(err.Error(), "Address already in use"), "kamailio: %v", err)
		t.Logf("kamailio could not bind port %s, retrying", port)
	}
}

// streamedAfterBeep is streamedAfterBeep of the replica that answered the call to mailbox.
func (st *stampUnderTest) streamedAfterBeep(t *testing.T, mailbox string) time.Duration {
	t.Helper()
	for _, f := range st.replicas {
		if len(f.log.find("deposit call", map[string]string{"mailbox": mailbox})) > 0 {
			return f.log.streamedAfterBeep(t, mailbox, g711aDuration)
		}
	}
	t.Fatalf("no replica answered the call to %s", mailbox)
	return 0
}

// calls counts the deposit calls each replica answered.
func (st *stampUnderTest) calls() []int {
	out := make([]int, len(st.replicas))
	for i, f := range st.replicas {
		out[i] = len(f.log.find("deposit call", nil))
	}
	return out
}

// deposit runs one sipp deposit through the dispatcher streaming pcap to mailbox.
func (st *stampUnderTest) deposit(t *testing.T, mailbox, caller, pcap string) error {
	return runSipp(t, st.addr, "deposit.xml", map[string]string{
		"ruri": "sip:" + mailbox + "@" + st.addr, "caller": caller, "pcap": pcap}, "-d", "1500")
}

// provision creates a mailbox with a short greeting (0.3 s, then the beep), so the whole
// stream of a deposit, which starts 1.5 s after the answer, is recorded.
func (st *stampUnderTest) provision(t *testing.T, number string) {
	t.Helper()
	voicemailtest.Provision(t, st.svc, number, "2468")
	require.NoError(t, st.svc.PutGreeting(context.Background(), number, voicemail.GreetingUnavailable, toneWAV(1000, 300)))
}

func tonePcap(t *testing.T, freq float64) string { return sipptest.TonePcap(t, freq) }

func dominant(s []int16, freqs []float64) float64 { return sipptest.Dominant(s, freqs) }

// recording returns the only message of a mailbox and its samples, waiting for it to be stored.
func recording(t *testing.T, svc *voicemail.Service, number string) (voicemail.Message, []int16) {
	t.Helper()
	var msgs []voicemail.Message
	require.Eventually(t, func() bool {
		var err error
		msgs, err = svc.Messages(context.Background(), number, "")
		return err == nil && len(msgs) > 0
	}, 10*time.Second, 50*time.Millisecond, "mailbox %s got no message", number)
	require.Len(t, msgs, 1, "mailbox %s", number)
	wav, err := svc.Audio(context.Background(), number, msgs[0].ID)
	require.NoError(t, err)
	w, err := audio.Parse(wav)
	require.NoError(t, err)
	return msgs[0], w.ToPCM16()
}

// options sends one OPTIONS over UDP and returns the status code of the answer.
func options(t *testing.T, addr string) int {
	t.Helper()
	c, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer c.Close()
	l := c.LocalAddr().String()
	msg := "OPTIONS sip:" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + l + ";branch=z9hG4bK" + strconv.FormatInt(time.Now().UnixNano(), 36) + ";rport\r\n" +
		"From: <sip:probe@" + l + ">;tag=p1\r\nTo: <sip:" + addr + ">\r\nCall-ID: " + strconv.FormatInt(time.Now().UnixNano(), 36) + "\r\n" +
		"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	_, err = c.Write([]byte(msg))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(3*time.Second)))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	require.NoError(t, err)
	var code int
	_, err = fmt.Sscanf(string(buf[:n]), "SIP/2.0 %d", &code)
	require.NoError(t, err, "%q", buf[:n])
	return code
}

// Many simultaneous calls from one source address (one SBC), each streaming its own audio,
// spread over the replicas and each lands in its own mailbox with its own audio: media reaches
// the replica that answered, because each replica advertises its own address in SDP.
func TestDispatcherCallsFromOneSourceEachRecordedIntoItsMailbox(t *testing.T) {
	t.Parallel()
	st := startStamp(t, 2, Config{SilenceTimeout: 30 * time.Second})
	const n = 8
	freqs := make([]float64, n)
	pcaps := make([]string, n)
	for i := range n {
		freqs[i] = 350 + 150*float64(i)
		pcaps[i] = tonePcap(t, freqs[i])
		st.provision(t, strconv.Itoa(4101+i))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = st.deposit(t, strconv.Itoa(4101+i), "555020"+strconv.Itoa(i), pcaps[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "call %d", i)
	}
	for i := range n {
		msg, pcm := recording(t, st.svc, strconv.Itoa(4101+i))
		assert.Equal(t, "555020"+strconv.Itoa(i), msg.Caller)
		assert.InDelta(t, st.streamedAfterBeep(t, strconv.Itoa(4101+i)).Seconds(), msg.Duration.Seconds(), 0.3, "mailbox %d: whole stream recorded", 4101+i)
		assert.Equal(t, freqs[i], dominant(pcm, freqs), "mailbox %d holds its own caller's audio", 4101+i)
	}
	for i, c := range st.calls() {
		assert.Positive(t, c, "replica %d answered calls (%v)", i, st.calls())
	}
}

// A replica told to stop (SIGTERM: Serve's context ends) answers probes and new INVITEs with
// 503, so the dispatcher sends new calls to the other replica, while its calls in progress run
// to their end and are recorded whole; then it exits.
func TestDispatcherDrainLetsCallsFinishAndMovesNewCalls(t *testing.T) {
	t.Parallel()
	st := startStamp(t, 2, Config{SilenceTimeout: 30 * time.Second})
	a, b := st.replicas[0], st.replicas[1]
	pcap := tonePcap(t, 700)
	for i := range 8 {
		st.provision(t, strconv.Itoa(4201+i))
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range 4 {
		wg.Go(func() { errs[i] = st.deposit(t, strconv.Itoa(4201+i), "5550300", pcap) })
	}
	require.Eventually(t, func() bool { return a.srv.ActiveCalls() > 0 && a.srv.ActiveCalls()+b.srv.ActiveCalls() == 4 },
		10*time.Second, 20*time.Millisecond, "both replicas carry calls")
	onA := a.srv.ActiveCalls()
	a.stop() // SIGTERM
	require.Eventually(t, a.srv.Draining, time.Second, 10*time.Millisecond)
	assert.Equal(t, 503, options(t, a.addr), "a draining replica fails the dispatcher's probe")
	assert.Equal(t, 200, options(t, b.addr))
	select {
	case <-a.done:
		t.Fatal("a draining replica exited with calls in progress")
	default:
	}
	time.Sleep(1500 * time.Millisecond) // the dispatcher's next probe
	before := st.calls()
	for i := 4; i < 8; i++ {
		wg.Go(func() { errs[i] = st.deposit(t, strconv.Itoa(4201+i), "5550301", pcap) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "call %d", i)
	}
	after := st.calls()
	assert.Equal(t, before[0], after[0], "no new call reached the draining replica")
	assert.Equal(t, before[1]+4, after[1])
	assert.Positive(t, onA)
	for i := range 8 {
		msg, _ := recording(t, st.svc, strconv.Itoa(4201+i))
		assert.InDelta(t, st.streamedAfterBeep(t, strconv.Itoa(4201+i)).Seconds(), msg.Duration.Seconds(), 0.3, "mailbox %d recorded whole", 4201+i)
	}
	select {
	case err := <-a.done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the drained replica did not exit once its calls ended")
	}
}

// A replica that goes away mid-call ends only its own calls; the dispatcher then sends every
// new call to the replica that is left.
func TestDispatcherLostReplicaEndsOnlyItsCalls(t *testing.T) {
	t.Parallel()
	st := startStamp(t, 2, Config{SilenceTimeout: 30 * time.Second, DrainTimeout: time.Millisecond})
	a, b := st.replicas[0], st.replicas[1]
	pcap := tonePcap(t, 500)
	for i := range 8 {
		st.provision(t, strconv.Itoa(4301+i))
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range 4 {
		wg.Go(func() { errs[i] = st.deposit(t, strconv.Itoa(4301+i), "5550400", pcap) })
	}
	require.Eventually(t, func() bool { return a.srv.ActiveCalls() > 0 && a.srv.ActiveCalls()+b.srv.ActiveCalls() == 4 },
		10*time.Second, 20*time.Millisecond)
	time.Sleep(2 * time.Second) // into the message
	var aCalls []string
	for _, e := range a.log.find("deposit call", nil) {
		aCalls = append(aCalls, e.Attrs["mailbox"])
	}
	a.stop() // gone at once: a drain timeout of 1 ms
	<-a.done
	wg.Wait()
	for i := 4; i < 8; i++ {
		wg.Go(func() { errs[i] = st.deposit(t, strconv.Itoa(4301+i), "5550401", pcap) })
	}
	wg.Wait()
	for i := range 8 {
		number := strconv.Itoa(4301 + i)
		if i < 4 && strings.Contains(strings.Join(aCalls, ","), number) {
			msg, _ := recording(t, st.svc, number)
			assert.Less(t, msg.Duration.Seconds(), 5.0, "mailbox %s: the lost replica's call ended early", number)
			continue
		}
		require.NoError(t, errs[i], "call %d", i)
		msg, _ := recording(t, st.svc, number)
		assert.InDelta(t, st.streamedAfterBeep(t, number).Seconds(), msg.Duration.Seconds(), 0.3, "mailbox %s recorded whole", number)
	}
	assert.Len(t, b.log.find("deposit call", nil), 8-len(aCalls), "every other call, old and new, went to the replica left")
}

// A subscription made through the record-routing dispatcher gets its NOTIFYs through the
// dispatcher too: they carry the dialog's route set, which Kamailio needs to relay them (without
// it, Kamailio answers 404 and the phone never hears of new messages).
func TestDispatcherNotifyFollowsTheRouteSet(t *testing.T) {
	t.Parallel()
	st := startStamp(t, 2, Config{})
	voicemailtest.Provision(t, st.svc, "4401", "2468")
	done := make(chan error, 1)
	go func() { done <- runSipp(t, st.addr, "subscribe.xml", map[string]string{"mailbox": "4401"}) }()
	require.Eventually(t, func() bool {
		for _, f := range st.replicas {
			if len(f.log.find("mwi notify", map[string]string{"mailbox": "4401", "new": "0"})) > 0 {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "initial NOTIFY accepted")
	_, err := st.svc.Deposit(context.Background(), "4401", voicemail.Deposit{Caller: "5550500", Audio: toneWAV(500, 300), Received: time.Now()})
	require.NoError(t, err)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("sipp did not finish")
	}
}

// The edge (the operator SBC's reference, the generated Kamailio edge role) sends calls to the
// best-priority stamp while its dispatcher has an active replica, and to the next stamp when
// that stamp's only replica drains (its dispatcher then fails the edge's OPTIONS probe).
func TestEdgeFailsOverToTheNextStamp(t *testing.T) {
	t.Parallel()
	first := startStamp(t, 1, Config{SilenceTimeout: 30 * time.Second})
	second := startStamp(t, 1, Config{SilenceTimeout: 30 * time.Second})
	for _, st := range []*stampUnderTest{first, second} {
		st.provision(t, "4601")
		st.provision(t, "4602")
	}
	port, edge := startKamailio(t, func(port string) kamailio.Config {
		return kamailio.Config{
			Role: kamailio.RoleEdge, Name: "edge-test", Children: 1, ProbeInterval: time.Second,
			Listen: []kamailio.Listen{{Proto: "udp", Addr: "127.0.0.1:" + port}, {Proto: "tcp", Addr: "127.0.0.1:" + port}},
			Targets: []kamailio.Target{
				{URI: "sip:" + first.addr, Priority: 1}, {URI: "sip:" + second.addr, Priority: 2},
			},
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("edge log:\n%s", edge.Tail(4000))
		}
		edge.Stop()
	})
	addr := "127.0.0.1:" + port
	pcap := tonePcap(t, 600)
	call := func(mailbox string) error {
		return runSipp(t, addr, "deposit.xml", map[string]string{
			"ruri": "sip:" + mailbox + "@" + addr, "caller": "5550700", "pcap": pcap}, "-d", "1500")
	}
	require.NoError(t, call("4601"))
	recording(t, first.svc, "4601")

	first.replicas[0].srv.Drain()
	require.Eventually(t, func() bool { return options(t, first.addr) == 503 }, 5*time.Second, 100*time.Millisecond,
		"a stamp dispatcher with no active replica fails probes")
	time.Sleep(1500 * time.Millisecond) // the edge's next probe
	require.NoError(t, call("4602"))
	recording(t, second.svc, "4602")
	msgs, err := first.svc.Messages(context.Background(), "4602", "")
	require.NoError(t, err)
	assert.Empty(t, msgs, "nothing reached the drained stamp")
}
