package gateway

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/imap"
	"github.com/voicemail-platform/voicemail/app/internal/sip"
	"github.com/voicemail-platform/voicemail/app/internal/sip/sipptest"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// stampFixture is a real voicemail service with its real SIP and IMAP servers on loopback, and
// a readiness endpoint whose answer the test sets.
type stampFixture struct {
	id     string
	svc    *voicemail.Service
	sip    *sip.Server
	imapLn net.Listener
	health *httptest.Server
	status atomic.Int32
	stop   context.CancelFunc
}

func (f *stampFixture) stamp(prio int) Stamp {
	return Stamp{ID: f.id, Priority: prio, Weight: 1, SIP: f.sip.Addr(), IMAP: f.imapLn.Addr().String(),
		Health: f.health.URL + "/health/stamp"}
}

var rtpBase atomic.Int32

func newStamp(t *testing.T, id string) *stampFixture {
	t.Helper()
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, "1001", "2468")
	// A short greeting, so a deposit call is recording after about a second.
	greeting := audio.Encode(audio.ALaw, audio.FromPCM16(audio.ALaw, audio.Tone(600, 300, 8000)))
	require.NoError(t, svc.PutGreeting(context.Background(), "1001", voicemail.GreetingUnavailable, greeting))
	f := &stampFixture{id: id, svc: svc}
	f.status.Store(200)
	f.health = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(f.status.Load()))
	}))
	t.Cleanup(f.health.Close)

	base := 30000 + (os.Getpid()%500)*40 + int(rtpBase.Add(1))*400%8000
	base -= base % 2
	srv, err := sip.New(svc, sip.Config{RTPPortMin: base, RTPPortMax: base + 398, SilenceTimeout: 30 * time.Second,
		RTPTimeout: 10 * time.Second, DrainTimeout: 100 * time.Millisecond}, // stop: the stamp goes away, calls end
		slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	sipDone := make(chan error, 1)
	go func() { sipDone <- srv.Serve(ctx, "127.0.0.1:0") }()
	select {
	case <-srv.Ready():
	case err := <-sipDone:
		t.Fatalf("sip serve: %v", err)
	}
	f.sip = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f.imapLn = ln
	imapDone := make(chan error, 1)
	go func() { imapDone <- imap.New(svc, imap.Config{}, nil).ServeListener(ctx, ln, false) }()
	t.Cleanup(func() {
		cancel()
		<-sipDone
		<-imapDone
	})
	return f
}

func startGateway(t *testing.T, stamps ...Stamp) *Gateway {
	t.Helper()
	g, err := Start(context.Background(), Config{SIPAddr: "127.0.0.1:0", IMAPAddr: "127.0.0.1:0", Source: Static(stamps),
		Pool: PoolConfig{Interval: time.Hour, Timeout: 500 * time.Millisecond, FailuresToDown: 1}, Logger: testLogger()})
	require.NoError(t, err)
	t.Cleanup(g.Close)
	return g
}

// uac is a minimal SIP user agent client over UDP or TCP, enough to drive the proxy.
type uac struct {
	t     *testing.T
	udp   *net.UDPConn
	tcp   net.Conn
	r     *bufio.Reader
	local string
	seq   int
}

func newUAC(t *testing.T, transport, tcpTo string) *uac {
	t.Helper()
	u := &uac{t: t}
	if transport == "TCP" {
		c, err := net.Dial("tcp", tcpTo)
		require.NoError(t, err)
		u.tcp, u.r, u.local = c, bufio.NewReader(c), c.LocalAddr().String()
		t.Cleanup(func() { c.Close() })
		return u
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	u.udp, u.local = c, c.LocalAddr().String()
	t.Cleanup(func() { c.Close() })
	return u
}

func (u *uac) transport() string {
	if u.tcp != nil {
		return "TCP"
	}
	return "UDP"
}

func (u *uac) send(to, text string) {
	u.t.Helper()
	b := []byte(strings.ReplaceAll(strings.TrimLeft(text, "\n"), "\n", "\r\n"))
	if u.tcp != nil {
		_, err := u.tcp.Write(b)
		require.NoError(u.t, err)
		return
	}
	ua, err := net.ResolveUDPAddr("udp", to)
	require.NoError(u.t, err)
	_, err = u.udp.WriteToUDP(b, ua)
	require.NoError(u.t, err)
}

// recv returns the next message, or nil after d.
func (u *uac) recv(d time.Duration) *sipMsg {
	u.t.Helper()
	if u.tcp != nil {
		_ = u.tcp.SetReadDeadline(time.Now().Add(d))
		m, err := readStream(u.r)
		if err != nil {
			return nil
		}
		return m
	}
	buf := make([]byte, maxSIPMessage)
	_ = u.udp.SetReadDeadline(time.Now().Add(d))
	n, _, err := u.udp.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	m, err := parseDatagram(buf[:n])
	require.NoError(u.t, err)
	return m
}

// final waits for the final response to method, skipping provisional ones and requests.
func (u *uac) final(method string) *sipMsg {
	u.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m := u.recv(time.Until(deadline))
		if m == nil {
			break
		}
		if m.resp && m.status >= 200 && m.method == method {
			return m
		}
	}
	u.t.Fatalf("no final response to %s", method)
	return nil
}

func (u *uac) options(gw, callID string) *sipMsg {
	u.t.Helper()
	u.seq++
	u.send(gw, fmt.Sprintf(`
OPTIONS sip:1001@%[1]s SIP/2.0
Via: SIP/2.0/%[4]s %[2]s;branch=z9hG4bK-t%[3]d;rport
From: <sip:5550100@%[2]s>;tag=t%[3]d
To: <sip:1001@%[1]s>
Call-ID: %[5]s
CSeq: %[3]d OPTIONS
Max-Forwards: 70
Content-Length: 0

`, gw, u.local, u.seq, u.transport(), callID))
	return u.final("OPTIONS")
}

const sdpOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"

func (u *uac) invite(gw, callID string) *sipMsg {
	u.t.Helper()
	u.send(gw, fmt.Sprintf(`
INVITE sip:1001@%[1]s SIP/2.0
Via: SIP/2.0/%[4]s %[2]s;branch=z9hG4bK-inv-%[3]s;rport
From: <sip:5550100@%[2]s>;tag=from-%[3]s
To: <sip:1001@%[1]s>
Call-ID: %[3]s
CSeq: 1 INVITE
Contact: <sip:5550100@%[2]s;transport=%[5]s>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: %[6]d

%[7]s`, gw, u.local, callID, u.transport(), strings.ToLower(u.transport()), len(sdpOffer), strings.ReplaceAll(sdpOffer, "\r\n", "\n")))
	return u.final("INVITE")
}

// inDialog sends ACK or BYE for the dialog that ok (the INVITE's 200) set up, through gw.
func (u *uac) inDialog(gw, method string, cseq int, ok *sipMsg) {
	u.t.Helper()
	ruri := ok.get("Contact")
	if i := strings.IndexByte(ruri, '<'); i >= 0 {
		ruri = ruri[i+1 : strings.IndexByte(ruri, '>')]
	}
	var routes []string
	for _, h := range ok.hdrs {
		if h.name == "Record-Route" {
			routes = append([]string{h.value}, routes...) // a UAC reverses the set
		}
	}
	text := fmt.Sprintf("%s %s SIP/2.0\nVia: SIP/2.0/%s %s;branch=z9hG4bK-%s-%d;rport\nFrom: %s\nTo: %s\nCall-ID: %s\nCSeq: %d %s\nMax-Forwards: 70\n",
		method, ruri, u.transport(), u.local, strings.ToLower(method), cseq, ok.get("From"), ok.get("To"), ok.get("Call-ID"), cseq, method)
	for _, r := range routes {
		text += "Route: " + r + "\n"
	}
	u.send(gw, text+"Content-Length: 0\n\n")
}

func TestSIPThroughGatewayBothTransports(t *testing.T) {
	t.Parallel() // own stamps, gateway and ports
	a, b := newStamp(t, "a"), newStamp(t, "b")
	gw := startGateway(t, a.stamp(1), b.stamp(1))
	for _, tr := range []string{"UDP", "TCP"} {
		t.Run(tr, func(t *testing.T) {
			u := newUAC(t, tr, gw.SIPAddr())
			for i := range 10 {
				res := u.options(gw.SIPAddr(), fmt.Sprintf("opt-%s-%d", tr, i))
				assert.Equal(t, 200, res.status, "OPTIONS answered by a stamp through the gateway")
				assert.Equal(t, 1, strings.Count(string(res.bytes()), "Via:"), "the gateway's Via is popped")
			}
			ok := u.invite(gw.SIPAddr(), "call-"+tr)
			require.Equal(t, 200, ok.status)
			assert.Contains(t, ok.get("Record-Route"), ";vmgw", "the gateway stays on the dialog's route")
			u.inDialog(gw.SIPAddr(), "ACK", 1, ok)
			u.inDialog(gw.SIPAddr(), "BYE", 2, ok)
			bye := u.final("BYE")
			assert.Equal(t, 200, bye.status, "BYE reached the stamp that holds the dialog")
		})
	}
}

func TestSIPDepositWithSippViaGateway(t *testing.T) {
	t.Parallel() // own stamps, gateway and ports
	a, b := newStamp(t, "a"), newStamp(t, "b")
	gw := startGateway(t, a.stamp(1), b.stamp(1))
	// The UDP and the TCP call at the same time: each is mostly real-time audio.
	t.Run("calls", func(t *testing.T) {
		for _, tr := range []string{"u1", "t1"} {
			t.Run(tr, func(t *testing.T) {
				t.Parallel()
				runSipp(t, gw.SIPAddr(), "deposit_short.xml", map[string]string{"ruri": "sip:1001@" + gw.SIPAddr(),
					"caller": "5550" + strconv.Itoa(len(tr)+int(tr[0])), "pcap": "/usr/share/sip-tester/g711a.pcap", "diversion": "<sip:1001@example.com>;reason=no-answer"},
					"-d", "1500", "-t", tr)
			})
		}
	})
	require.Eventually(t, func() bool {
		n := 0
		for _, f := range []*stampFixture{a, b} {
			msgs, err := f.svc.Messages(context.Background(), "1001", "")
			require.NoError(t, err)
			n += len(msgs)
		}
		return n == 2
	}, 10*time.Second, 50*time.Millisecond, "both deposits (UDP and TCP) stored on a stamp")
}

func TestNewDialogsAvoidUnhealthyStampAndInFlightCallsKeepTheirStamp(t *testing.T) {
	t.Parallel() // own stamps, gateway and ports
	a, b := newStamp(t, "a"), newStamp(t, "b")
	gw := startGateway(t, a.stamp(1), b.stamp(2))
	u := newUAC(t, "UDP", "")
	// Priority 1 (a) takes every new dialog while healthy.
	ok := u.invite(gw.SIPAddr(), "inflight")
	require.Equal(t, 200, ok.status)
	assert.Equal(t, "a", gw.Pool().Candidates("inflight")[0].ID)
	u.inDialog(gw.SIPAddr(), "ACK", 1, ok)

	// a is drained (readiness fails): new dialogs go to b; the call on a still ends normally.
	a.status.Store(503)
	gw.Pool().PollAll(context.Background())
	assert.Equal(t, []string{"b"}, gw.Pool().Up())
	for i := range 5 {
		id := fmt.Sprintf("after-%d", i)
		res := u.invite(gw.SIPAddr(), id)
		require.Equal(t, 200, res.status)
		assert.Equal(t, "b", gw.Pool().Candidates(id)[0].ID)
		u.inDialog(gw.SIPAddr(), "ACK", 1, res)
		u.inDialog(gw.SIPAddr(), "BYE", 2, res)
		assert.Equal(t, 200, u.final("BYE").status)
	}
	u.inDialog(gw.SIPAddr(), "BYE", 2, ok)
	assert.Equal(t, 200, u.final("BYE").status, "in-flight dialog on the drained stamp completes")

	// No healthy stamp: the gateway answers 503 itself, and IMAP says BYE.
	b.status.Store(503)
	gw.Pool().PollAll(context.Background())
	res := u.options(gw.SIPAddr(), "none")
	assert.Equal(t, 503, res.status)
	assert.Equal(t, "5", res.get("Retry-After"))
	c, err := net.Dial("tcp", gw.IMAPAddr())
	require.NoError(t, err)
	defer c.Close()
	line, _ := bufio.NewReader(c).ReadString('\n')
	assert.Contains(t, line, "BYE [UNAVAILABLE]")

	a.status.Store(200)
	gw.Pool().PollAll(context.Background())
	assert.Equal(t, 200, u.options(gw.SIPAddr(), "back").status, "one good poll restores a stamp")
}

func TestTwoInstancesRouteAlikeWithoutSharedState(t *testing.T) {
	t.Parallel() // own stamps, gateway and ports
	a, b, c := newStamp(t, "a"), newStamp(t, "b"), newStamp(t, "c")
	stamps := []Stamp{a.stamp(1), b.stamp(1), c.stamp(1)}
	gw1, gw2 := startGateway(t, stamps...), startGateway(t, stamps...)
	counts := map[string]int{}
	for i := range 300 {
		id := fmt.Sprintf("cid-%d@host", i)
		c1, c2 := gw1.Pool().Candidates(id), gw2.Pool().Candidates(id)
		require.Equal(t, c1, c2)
		counts[c1[0].ID]++
	}
	for _, id := range []string{"a", "b", "c"} {
		assert.Greater(t, counts[id], 50, "equal weights spread dialogs: %v", counts)
	}
	// A dialog set up through one instance is continued through the other: BYE via gw2 reaches
	// the stamp that answered the INVITE via gw1, for both transports.
	for _, tr := range []string{"UDP", "TCP"} {
		u1 := newUAC(t, tr, gw1.SIPAddr())
		u2 := u1 // over UDP the caller's one socket now sends to the other instance
		if tr == "TCP" {
			// Over TCP the caller opens a connection to the other instance.
			c2, err := net.Dial("tcp", gw2.SIPAddr())
			require.NoError(t, err)
			defer c2.Close()
			u2 = &uac{t: t, tcp: c2, r: bufio.NewReader(c2), local: c2.LocalAddr().String()}
		}
		ok := u1.invite(gw1.SIPAddr(), "two-"+tr)
		require.Equal(t, 200, ok.status)
		u2.inDialog(gw2.SIPAddr(), "ACK", 1, ok)
		u2.inDialog(gw2.SIPAddr(), "BYE", 2, ok)
		bye := u2.final("BYE")
		assert.Equal(t, 200, bye.status, "%s: BYE through the other instance reached the dialog's stamp", tr)
	}
	// Both instances see a stamp go down and stop choosing it.
	a.status.Store(503)
	gw1.Pool().PollAll(context.Background())
	gw2.Pool().PollAll(context.Background())
	for i := range 100 {
		id := fmt.Sprintf("x-%d", i)
		c1, c2 := gw1.Pool().Candidates(id), gw2.Pool().Candidates(id)
		require.Equal(t, c1, c2)
		assert.NotEqual(t, "a", c1[0].ID)
	}
}

func TestIMAPSpliceAndStampFailure(t *testing.T) {
	t.Parallel() // own stamps, gateway and ports
	a, b := newStamp(t, "a"), newStamp(t, "b")
	gw := startGateway(t, a.stamp(1), b.stamp(2))
	login := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", gw.IMAPAddr())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		r := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		greet, err := r.ReadString('\n')
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(greet, "* OK"), greet)
		_, err = fmt.Fprintf(c, "a1 LOGIN 1001 2468\r\n")
		require.NoError(t, err)
		for {
			l, err := r.ReadString('\n')
			require.NoError(t, err)
			if strings.HasPrefix(l, "a1 ") {
				require.True(t, strings.HasPrefix(l, "a1 OK"), l)
				break
			}
		}
		return c, r
	}
	c, r := login()
	// The session is on a; a dies (its IMAP server stops): the session ends.
	a.stop()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := r.ReadString('\n'); err != nil {
			break // EOF: the in-flight session ended
		}
	}
	a.status.Store(503)
	gw.Pool().PollAll(context.Background())
	c2, r2 := login() // the client reconnects and lands on b
	_, err := fmt.Fprintf(c2, "a2 LOGOUT\r\n")
	require.NoError(t, err)
	rest := ""
	for {
		l, err := r2.ReadString('\n')
		rest += l
		if err != nil {
			break
		}
	}
	assert.Contains(t, rest, "a2 OK")
	acc, refused := gw.IMAPStats()
	assert.Equal(t, int64(2), acc)
	assert.Zero(t, refused)
}

func TestSIPErrors(t *testing.T) {
	t.Parallel() // own stamps, gateway and ports
	a := newStamp(t, "a")
	gw := startGateway(t, a.stamp(1))
	u := newUAC(t, "UDP", "")
	// Max-Forwards exhausted: 483 from the gateway.
	u.send(gw.SIPAddr(), fmt.Sprintf("OPTIONS sip:1001@%s SIP/2.0\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-mf\nFrom: <sip:a@b>;tag=1\nTo: <sip:1001@b>\nCall-ID: mf\nCSeq: 1 OPTIONS\nMax-Forwards: 0\nContent-Length: 0\n\n", gw.SIPAddr(), u.local))
	assert.Equal(t, 483, u.final("OPTIONS").status)
	// Garbage with a Via: 400; garbage without one: ignored; the gateway keeps serving.
	u.send(gw.SIPAddr(), fmt.Sprintf("OPTIONS sip:x SIP/2.0\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-bad\nCall-ID: bad\nCSeq: 1 OPTIONS\nContent-Length: 99\n\n", u.local))
	m := u.recv(2 * time.Second)
	require.NotNil(t, m)
	assert.Equal(t, 400, m.status)
	u.send(gw.SIPAddr(), "\x00\x01 not sip at all\n\n")
	assert.Equal(t, 200, u.options(gw.SIPAddr(), "still-alive").status)
	// A malformed TCP stream is closed, the listener survives.
	c, err := net.Dial("tcp", gw.SIPAddr())
	require.NoError(t, err)
	_, _ = c.Write([]byte("INVITE nonsense\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 10))
	assert.Error(t, err)
	c.Close()
	u2 := newUAC(t, "TCP", gw.SIPAddr())
	assert.Equal(t, 200, u2.options(gw.SIPAddr(), "tcp-alive").status)
}

// runSipp runs a scenario of the telephony package against target; sipp is a required peer.
func runSipp(t *testing.T, target, scenario string, keys map[string]string, extra ...string) {
	t.Helper()
	sf, err := filepath.Abs(filepath.Join("..", "internal", "sip", "testdata", scenario))
	require.NoError(t, err)
	require.NoError(t, sipptest.Run(t, sf, target, keys, append([]string{"-timeout", "30s"}, extra...)...))
}

func testLogger() *slog.Logger {
	if os.Getenv("GATEWAY_TEST_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestInFlightCallEndsWithItsStampAndNewCallsSucceed(t *testing.T) {
	t.Parallel() // own stamps, gateway and ports
	a, b := newStamp(t, "a"), newStamp(t, "b")
	gw := startGateway(t, a.stamp(1), b.stamp(2))
	u := newUAC(t, "TCP", gw.SIPAddr())
	ok := u.invite(gw.SIPAddr(), "doomed")
	require.Equal(t, 200, ok.status)
	u.inDialog(gw.SIPAddr(), "ACK", 1, ok)

	// The stamp holding the call goes away: it hangs up, and its BYE reaches the caller through
	// the gateway (loose routing by the caller's Contact over the caller's TCP connection).
	a.stop()
	a.status.Store(503)
	var bye *sipMsg
	deadline := time.Now().Add(10 * time.Second)
	for bye == nil && time.Now().Before(deadline) {
		if m := u.recv(time.Until(deadline)); m != nil && !m.resp && m.method == "BYE" {
			bye = m
		}
	}
	require.NotNil(t, bye, "the caller learns that its call ended")
	assert.Equal(t, ok.get("Call-ID"), bye.get("Call-ID"))
	u.send(gw.SIPAddr(), strings.ReplaceAll(string(response(bye, 200, "OK").bytes()), "\r\n", "\n"))
	require.Eventually(t, func() bool {
		gw.Pool().PollAll(context.Background())
		return slices.Equal(gw.Pool().Up(), []string{"b"})
	}, 5*time.Second, 50*time.Millisecond)

	// The caller calls again and lands on the healthy stamp.
	again := u.invite(gw.SIPAddr(), "retry")
	require.Equal(t, 200, again.status)
	u.inDialog(gw.SIPAddr(), "ACK", 1, again)
	u.inDialog(gw.SIPAddr(), "BYE", 2, again)
	assert.Equal(t, 200, u.final("BYE").status)
}
