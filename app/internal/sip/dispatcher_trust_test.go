package sip

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The stamp's replicas trust their dispatcher (the pod subnet), so the dispatcher itself must
// admit only the SBCs: otherwise anyone who reaches the internal load balancer borrows the
// dispatcher's trust and subscribes to, or asserts the identity of, any mailbox.

const (
	testSBC      = "127.0.0.5" // an operator SBC (the stack's sip.sbcPrefixes)
	testStranger = "127.0.0.6" // anyone else who reaches the dispatcher
)

// sipExchange sends one request from a UDP socket bound to ip and returns the first final
// answer to it (requests the far end sends meanwhile, such as the NOTIFY after a SUBSCRIBE,
// are skipped). build gets the socket's address.
func sipExchange(t *testing.T, ip, to string, build func(local string) string) (int, string) {
	t.Helper()
	c, err := net.ListenPacket("udp", ip+":0")
	require.NoError(t, err)
	defer c.Close()
	dst, err := net.ResolveUDPAddr("udp", to)
	require.NoError(t, err)
	_, err = c.WriteTo([]byte(build(c.LocalAddr().String())), dst)
	require.NoError(t, err)
	buf := make([]byte, 8192)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	for {
		n, _, err := c.ReadFrom(buf)
		require.NoError(t, err, "no final answer from %s", to)
		var code int
		if _, err := fmt.Sscanf(string(buf[:n]), "SIP/2.0 %d", &code); err == nil && code >= 200 {
			return code, string(buf[:n])
		}
	}
}

func branch() string { return "z9hG4bK" + strconv.FormatInt(time.Now().UnixNano(), 36) }

// subscribeAs is a SUBSCRIBE to mailbox's message summary claiming to be its owner, in From
// and in P-Asserted-Identity.
func subscribeAs(mailbox, dispatcher string) func(string) string {
	return func(local string) string {
		return "SUBSCRIBE sip:" + mailbox + "@" + dispatcher + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=" + branch() + ";rport\r\n" +
			"From: <sip:" + mailbox + "@carrier.example>;tag=s1\r\nTo: <sip:" + mailbox + "@" + dispatcher + ">\r\n" +
			"Call-ID: " + branch() + "\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:" + mailbox + "@" + local + ">\r\n" +
			"P-Asserted-Identity: <sip:" + mailbox + "@carrier.example>\r\n" +
			"Event: message-summary\r\nAccept: application/simple-message-summary\r\nExpires: 60\r\n" +
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	}
}

// A stranger that reaches the dispatcher can neither subscribe to a mailbox's message counts
// by asserting its owner nor start a call; the SBC can. Before the dispatcher checked its
// sources, the stranger's SUBSCRIBE was answered 200 (the replica believed the dispatcher).
func TestAttackStrangerThroughDispatcherBorrowsItsTrust(t *testing.T) {
	t.Parallel()
	st := startStampTrusting(t, 1, Config{}, []string{testSBC + "/32"})
	st.provision(t, "1001")
	require.Eventually(t, func() bool { return options(t, st.addr) == 200 }, 10*time.Second, 100*time.Millisecond, "dispatcher never saw its replica")

	code, answer := sipExchange(t, testStranger, st.addr, subscribeAs("1001", st.addr))
	assert.Equal(t, 403, code, "stranger's SUBSCRIBE as the owner:\n%s", answer)
	code, answer = sipExchange(t, testSBC, st.addr, subscribeAs("1001", st.addr))
	assert.Equal(t, 200, code, "the SBC's SUBSCRIBE for the owner:\n%s", answer)

	// A call from the stranger stops at the dispatcher: no replica sees it.
	code, answer = sipExchange(t, testStranger, st.addr, func(local string) string {
		return "INVITE sip:1001@" + st.addr + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=" + branch() + ";rport\r\n" +
			"From: <sip:+15550100@carrier.example>;tag=i1\r\nTo: <sip:1001@" + st.addr + ">\r\n" +
			"Call-ID: " + branch() + "\r\nCSeq: 1 INVITE\r\nContact: <sip:+15550100@" + local + ">\r\n" +
			"P-Asserted-Identity: <sip:1001@carrier.example>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	})
	assert.Equal(t, 403, code, "stranger's INVITE:\n%s", answer)
	assert.Equal(t, []int{0}, st.calls(), "a replica answered the stranger's call")
}

// Identity headers from a stranger never pass the dispatcher, even within a dialog (a route
// set it learned); the SBC's do.
func TestDispatcherStripsIdentityFromStrangers(t *testing.T) {
	t.Parallel()
	st := startStampTrusting(t, 1, Config{}, []string{testSBC + "/32"})
	// The next hop of the in-dialog request: a socket that records what arrives.
	hop, err := net.ListenPacket("udp", "127.0.0.7:0")
	require.NoError(t, err)
	defer hop.Close()
	bye := func(local, callID string) string {
		return "BYE sip:1001@" + hop.LocalAddr().String() + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=" + branch() + ";rport\r\n" +
			"Route: <sip:" + st.addr + ";lr>\r\n" +
			"From: <sip:caller@carrier.example>;tag=c1\r\nTo: <sip:1001@" + st.addr + ">;tag=v1\r\n" +
			"Call-ID: " + callID + "\r\nCSeq: 2 BYE\r\n" +
			"P-Asserted-Identity: <sip:+15550100@carrier.example>\r\nP-Preferred-Identity: <sip:+15550100@carrier.example>\r\n" +
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	}
	relayed := func(from string) string {
		t.Helper()
		c, err := net.ListenPacket("udp", from+":0")
		require.NoError(t, err)
		defer c.Close()
		dst, err := net.ResolveUDPAddr("udp", st.addr)
		require.NoError(t, err)
		callID := branch()
		_, err = c.WriteTo([]byte(bye(c.LocalAddr().String(), callID)), dst)
		require.NoError(t, err)
		// The hop never answers, so the dispatcher retransmits each BYE it relayed (T1 = 500 ms,
		// doubling): a slow test can read the previous request's copy first. Only this BYE,
		// known by its Call-ID, is the answer.
		buf := make([]byte, 8192)
		require.NoError(t, hop.SetReadDeadline(time.Now().Add(30*time.Second)))
		for {
			n, _, err := hop.ReadFrom(buf)
			require.NoError(t, err, "the dispatcher did not relay the BYE from %s", from)
			if got := string(buf[:n]); strings.Contains(got, "\r\nCall-ID: "+callID+"\r\n") {
				return got
			}
		}
	}
	got := relayed(testStranger)
	assert.True(t, strings.HasPrefix(got, "BYE "), got)
	assert.NotContains(t, got, "P-Asserted-Identity", "stranger's identity header passed")
	assert.NotContains(t, got, "P-Preferred-Identity", "stranger's identity header passed")
	got = relayed(testSBC)
	assert.Contains(t, got, "P-Asserted-Identity: <sip:+15550100@carrier.example>", "the SBC's identity header was lost")
}
