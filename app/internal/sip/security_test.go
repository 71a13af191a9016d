package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// The TestAttack tests reproduce attacks from a hostile network, bounded in count and time and
// on loopback only. Each logs the figure it measures.

// A stranger who sends RTP to a call's port before (or while) the signalled peer does must
// neither receive the call's audio nor inject keys: an injected 7 would delete a message.
func TestAttackRTPStrangerCannotHijackOrInjectKeys(t *testing.T) {
	m, phone := mediaPair(t) // the peer signalled 127.0.0.1:<phone>
	stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	require.NoError(t, err)
	defer stranger.Close()
	send := func(p rtp.Packet) {
		p.Version = 2
		b, err := p.Marshal()
		require.NoError(t, err)
		_, err = stranger.WriteTo(b, m.conn.LocalAddr())
		require.NoError(t, err)
	}
	// Audio first (to be latched as the peer), then an RFC 4733 "7" with its end packets.
	for i := 0; i < 5; i++ {
		send(rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 66}, Payload: make([]byte, 160)})
	}
	for i := 0; i < 3; i++ {
		send(rtp.Packet{Header: rtp.Header{PayloadType: 101, SequenceNumber: uint16(10 + i), Timestamp: 2000, SSRC: 66, Marker: i == 0}, Payload: []byte{7, 0x8a, 0, 160}})
	}
	k, injected := m.key(context.Background(), 300*time.Millisecond)

	// The server plays a prompt: where does it go?
	_, _, err = m.play(context.Background(), make([]byte, 5*packetSamples), false)
	require.NoError(t, err)
	heard := 0
	buf := make([]byte, 1500)
	for {
		require.NoError(t, stranger.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		if _, err := stranger.Read(buf); err != nil {
			break
		}
		heard++
	}
	t.Logf("stranger: key injected=%v (%q), RTP packets received=%d of 5, dropped=%d", injected, k, heard, m.strays())
	assert.False(t, injected, "a key from a stranger reached the menu")
	assert.Zero(t, heard, "the stranger received the call's audio")
	assert.Equal(t, 8, m.strays())
	// The signalled peer is still heard and answered.
	require.NoError(t, phone.SetReadDeadline(time.Now().Add(time.Second)))
	_, err = phone.Read(buf)
	assert.NoError(t, err, "the peer receives the audio")
}

// Consecutive calls must not get predictable RTP ports (the next port is where a stranger
// aims a spray).
func TestAttackRTPPortsAreNotPredictable(t *testing.T) {
	base := 30000 + freePort(t)%10000
	base -= base % 2
	pool := newPortPool("127.0.0.1", base, base+2000)
	prev, next := 0, 0
	const calls = 50
	for i := 0; i < calls; i++ {
		c, err := pool.listen()
		require.NoError(t, err)
		p := c.LocalAddr().(*net.UDPAddr).Port
		require.NoError(t, c.Close())
		if i > 0 && p == prev+2 {
			next++
		}
		prev = p
	}
	t.Logf("%d of %d calls got the port after the previous call's", next, calls-1)
	assert.Less(t, next, 5)
}

// udpPeer is a SIP endpoint on loopback address ip that sends raw requests.
type udpPeer struct {
	t    *testing.T
	c    *net.UDPConn
	to   *net.UDPAddr
	seq  int
	host string
}

func newUDPPeer(t *testing.T, ip, server string) *udpPeer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	to, err := net.ResolveUDPAddr("udp", server)
	require.NoError(t, err)
	return &udpPeer{t: t, c: c, to: to, host: c.LocalAddr().String()}
}

// request sends a dialog-creating request (INVITE with an SDP offer, or SUBSCRIBE) from user
// to mailbox and returns its Call-ID.
func (p *udpPeer) request(method, mailbox, user string) string {
	p.seq++
	id := fmt.Sprintf("%s-%d-%s", method, p.seq, p.host)
	body, extra := "", ""
	if method == "INVITE" {
		ip, port, _ := net.SplitHostPort(p.host)
		body = "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=audio " + port + " RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
		extra = "Content-Type: application/sdp\r\n"
	} else {
		extra = "Event: message-summary\r\nAccept: application/simple-message-summary\r\nExpires: 600\r\n"
	}
	msg := fmt.Sprintf("%s sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\nFrom: <sip:%s@%s>;tag=t%d\r\n"+
		"To: <sip:%s@%s>\r\nCall-ID: %s\r\nCSeq: 1 %s\r\nContact: <sip:%s@%s>\r\nMax-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n%s",
		method, mailbox, p.to, p.host, id, user, p.host, p.seq, mailbox, p.to, id, method, user, p.host, extra, len(body), body)
	_, err := p.c.WriteToUDP([]byte(msg), p.to)
	require.NoError(p.t, err)
	return id
}

// finals collects final response codes per Call-ID until d passes without a new one or n
// responses have arrived.
func (p *udpPeer) finals(n int, d time.Duration) map[string]int {
	out := map[string]int{}
	buf := make([]byte, 65535)
	for len(out) < n {
		p.c.SetReadDeadline(time.Now().Add(d))
		k, err := p.c.Read(buf)
		if err != nil {
			break
		}
		msg := string(buf[:k])
		var code int
		if _, err := fmt.Sscanf(msg, "SIP/2.0 %d", &code); err != nil || code < 200 {
			continue
		}
		for _, line := range strings.Split(msg, "\r\n") {
			if v, ok := strings.CutPrefix(line, "Call-ID: "); ok {
				out[v] = code
			}
		}
	}
	return out
}

func tally(m map[string]int) map[int]int {
	out := map[int]int{}
	for _, c := range m {
		out[c]++
	}
	return out
}

// One source floods INVITEs to take every media port; a caller from elsewhere must still be
// answered.
func TestAttackSIPInviteFloodFromOneSource(t *testing.T) {
	base := 30000 + freePort(t)%20000
	base -= base % 2
	f := start(t, Config{RTPPortMin: base, RTPPortMax: base + 400, RTPTimeout: 2 * time.Second,
		SilenceTimeout: time.Second, DrainTimeout: time.Second})
	voicemailtest.Provision(t, f.svc, "1005", "2468")
	voicemailtest.Provision(t, f.svc, "1006", "2468")
	ports := (f.srv.cfg.RTPPortMax-f.srv.cfg.RTPPortMin)/2 + 1
	attacker := newUDPPeer(t, "127.0.0.1", f.addr)
	const flood = 1200
	for i := 0; i < flood; i++ {
		attacker.request("INVITE", "1005", "5550666")
		if i%100 == 99 {
			time.Sleep(10 * time.Millisecond) // let the socket buffer drain: bounded, not lossy
		}
	}
	got := attacker.finals(flood, 500*time.Millisecond)
	caller := newUDPPeer(t, "127.0.0.2", f.addr)
	id := caller.request("INVITE", "1006", "5550100")
	answer := caller.finals(1, 3*time.Second)[id]
	t.Logf("%d INVITEs from one source against %d media ports: answers %v; then a caller from elsewhere got %d", flood, ports, tally(got), answer)
	assert.Equal(t, 200, answer, "a legitimate call refused during a flood")
	assert.LessOrEqual(t, tally(got)[200], 20, "calls the flooding source got")
}

// A stranger must not read another subscriber's message counts, nor pin unbounded
// subscriptions.
func TestAttackSIPSubscribeOthersMailboxAndFlood(t *testing.T) {
	f := start(t, Config{})
	voicemailtest.Provision(t, f.svc, "1005", "2468")
	voicemailtest.Provision(t, f.svc, "1006", "2468")
	stranger := newUDPPeer(t, "127.0.0.1", f.addr)
	id := stranger.request("SUBSCRIBE", "1005", "5550666")
	other := stranger.finals(1, 2*time.Second)[id]

	flooder := newUDPPeer(t, "127.0.0.3", f.addr)
	const flood = 500
	for i := 0; i < flood; i++ {
		flooder.request("SUBSCRIBE", "1005", "1005")
		if i%100 == 99 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	got := flooder.finals(flood, 500*time.Millisecond)
	owner := newUDPPeer(t, "127.0.0.2", f.addr)
	oid := owner.request("SUBSCRIBE", "1006", "1006")
	ownerAnswer := owner.finals(1, 2*time.Second)[oid]
	t.Logf("stranger subscribing to another's mailbox got %d; %d subscriptions from one source: answers %v; another owner then got %d",
		other, flood, tally(got), ownerAnswer)
	assert.Equal(t, 403, other, "a stranger subscribed to someone else's mailbox")
	assert.LessOrEqual(t, tally(got)[200], 20, "subscriptions one source holds")
	assert.Equal(t, 200, ownerAnswer)
}

// svwarScan provisions mailboxes 1003, 1005 and 1008 and runs svwar's INVITE scan over
// 1000-1010 against the server, returning its output.
func svwarScan(t *testing.T, f *fixture, timeout time.Duration) []byte {
	t.Helper()
	svwar, err := exec.LookPath("svwar")
	require.NoError(t, err, "svwar (Debian sipvicious) is required")
	for _, n := range []string{"1003", "1005", "1008"} {
		voicemailtest.Provision(t, f.svc, n, "2468")
	}
	_, port, _ := net.SplitHostPort(f.addr)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, _ := exec.CommandContext(ctx, svwar, "-m", "INVITE", "-e", "1000-1010", "-p", port, "-b", "127.0.0.1", "-t", "0.05", "--force", "127.0.0.1").CombinedOutput()
	return out
}

// svwar (sipvicious) scans a range of extensions with INVITE and reports those answered
// differently from a number that surely does not exist. With trusted peers configured, a
// scanner outside them must learn nothing.
func TestAttackSvwarEnumeratesMailboxes(t *testing.T) {
	f := start(t, Config{TrustedPeers: peers{netip.MustParsePrefix("127.0.0.2/32")}})
	out := svwarScan(t, f, 60*time.Second)
	// svwar's table rows are "| extension | authentication |"; its own probe for a surely
	// missing number is random (e.g. 100837570), so extensions are compared whole.
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) +\|`).FindAllStringSubmatch(string(out), -1) {
		listed[m[1]] = true
	}
	found := 0
	for _, n := range []string{"1003", "1005", "1008"} {
		if listed[n] {
			found++
		}
	}
	t.Logf("svwar -m INVITE over 1000-1010 found %d of 3 mailboxes:\n%s", found, out)
	assert.Zero(t, found)
}

// Debug logs (turned on to chase a problem in production) must not hand out PINs: the keys a
// caller types at a PIN prompt are not logged at any level, other keys are, at debug only.
func TestAttackDebugLogsHoldNoPINDigits(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	voicemailtest.Provision(t, f.svc, "3018", "2468")
	sipp(t, f.addr, "retrieve_info.xml", map[string]string{"ruri": "sip:3018@" + f.addr, "caller": "3018", "first": "*"})
	f.log.waitFor(t, time.Second, "play", map[string]string{"prompt": "you-have"}) // logged in with 2468
	var typed strings.Builder
	for _, e := range f.log.find("key", nil) {
		typed.WriteString(e.Attrs["key"])
	}
	t.Logf("keys as logged: %q", typed.String())
	assert.NotContains(t, typed.String(), "2468", "the PIN, key by key")
	for _, msg := range []string{"key", "login", "login failed", "play"} {
		for _, e := range f.log.find(msg, nil) {
			for k, v := range e.Attrs {
				assert.NotContains(t, v, "2468", "%s: attribute %s", msg, k)
			}
		}
	}
}

// Open mode (no trusted peers, a local run): svwar's INVITE scan over 1000-1010 told the three
// mailboxes from the rest by 200 against 404. Strangers now get the same answer for every
// number, and nothing is stored for unknown ones.
func TestAttackSvwarEnumeratesMailboxesInOpenMode(t *testing.T) {
	// svwar never hangs up the calls it gets answered: they end by the RTP timeout.
	f := start(t, Config{RTPTimeout: 2 * time.Second, DrainTimeout: time.Second})
	out := svwarScan(t, f, 90*time.Second)
	// svwar's table: "| extension | authentication |". A mailbox is enumerated when svwar
	// reports it differently from the numbers that have none.
	verdict := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) +\| (\w+) +\|`).FindAllStringSubmatch(string(out), -1) {
		verdict[m[1]] = m[2]
	}
	told := 0
	for _, n := range []string{"1003", "1005", "1008"} {
		if verdict[n] != verdict["1004"] || verdict[n] != verdict["1000"] {
			told++
		}
	}
	t.Logf("open mode: svwar -m INVITE over 1000-1010 told %d of 3 mailboxes apart from unprovisioned numbers (verdicts %v)", told, verdict)
	assert.Zero(t, told)

	// What svwar's verdict hides, the final codes show: a stranger's INVITE to a known and to an
	// unknown number gets the same final answer.
	p := newUDPPeer(t, "127.0.0.9", f.addr) // another source than svwar's, under its own limits
	known, unknown := p.request("INVITE", "1005", "5550101"), p.request("INVITE", "1006", "5550102")
	codes := p.finals(2, 5*time.Second)
	t.Logf("open mode: final answer to a stranger's INVITE: known number %d, unknown number %d", codes[known], codes[unknown])
	assert.Equal(t, codes[known], codes[unknown], "known and unknown numbers answer alike")
	msgs, err := f.svc.Messages(context.Background(), "1003", "")
	require.NoError(t, err)
	assert.Empty(t, msgs, "svwar's silent calls store nothing")
}
