package sip

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// An INVITE that crossed an operator's core (several Vias, a Record-Route per proxy) over UDP
// gets its 200 OK over UDP although the answer, which echoes those headers and carries SDP, is
// above 1300 bytes: RFC 3261's size limit (18.1.1) asks requests to move to TCP and says
// nothing against large responses, which go back on the request's transport (18.2.2).
func TestLargeUDPResponseIsSent(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	voicemailtest.Provision(t, f.svc, "5550177", "2468")
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer c.Close()
	me := c.LocalAddr().String()

	var b strings.Builder
	fmt.Fprintf(&b, "INVITE sip:5550177@%s SIP/2.0\r\n", f.addr)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-large-top;rport\r\n", me)
	for i := range 5 {
		fmt.Fprintf(&b, "Via: SIP/2.0/UDP core-%d.ims.mnc001.mcc001.3gppnetwork.org:5060;branch=z9hG4bK-%040d;received=10.0.0.%d\r\n", i, i, i)
	}
	for i := range 4 {
		fmt.Fprintf(&b, "Record-Route: <sip:core-%d.ims.mnc001.mcc001.3gppnetwork.org:5060;transport=udp;lr;ftag=%032d;did=%020d>\r\n", i, i, i)
	}
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	fmt.Fprintf(&b, "From: <sip:4930111@%s>;tag=large1\r\nTo: <sip:5550177@%s>\r\nCall-ID: large-udp-response\r\nCSeq: 1 INVITE\r\n", me, f.addr)
	fmt.Fprintf(&b, "Contact: <sip:4930111@%s>\r\nMax-Forwards: 60\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", me, len(sdp), sdp)
	_, err = c.WriteTo([]byte(b.String()), udpAddr(t, f.addr))
	require.NoError(t, err)

	buf := make([]byte, 65535)
	var to string
	deadline := time.Now().Add(10 * time.Second)
	for {
		require.NoError(t, c.SetReadDeadline(deadline))
		n, _, err := c.ReadFrom(buf)
		require.NoError(t, err, "no 200 OK: the answer was not sent")
		resp := string(buf[:n])
		if statusOf(resp) != "SIP/2.0 200 OK" {
			continue
		}
		assert.Greater(t, n, 1300, "the answer must exceed the UDP size limit for this test to mean anything")
		assert.Equal(t, 4, strings.Count(resp, "Record-Route:"), resp)
		assert.Contains(t, resp, "m=audio ", resp)
		for _, line := range strings.Split(resp, "\r\n") {
			if strings.HasPrefix(line, "To:") {
				to = line
			}
		}
		break
	}
	// End the call: ACK, then BYE, in the dialog the 200 created.
	for i, m := range []string{"ACK", "BYE"} {
		msg := fmt.Sprintf("%s sip:5550177@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-large-%s;rport\r\nFrom: <sip:4930111@%s>;tag=large1\r\n%s\r\nCall-ID: large-udp-response\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", m, f.addr, me, m, me, to, i+1, m)
		_, err := c.WriteTo([]byte(msg), udpAddr(t, f.addr))
		require.NoError(t, err)
	}
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		n, _, err := c.ReadFrom(buf)
		require.NoError(t, err, "no answer to BYE")
		if strings.Contains(string(buf[:n]), "CSeq: 2 BYE") {
			assert.Equal(t, "SIP/2.0 200 OK", statusOf(string(buf[:n])))
			break
		}
	}
}

func udpAddr(t *testing.T, addr string) *net.UDPAddr {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", addr)
	require.NoError(t, err)
	return a
}
