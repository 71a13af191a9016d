package sip

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Waits for an answer. One that must come gets answerWait, which only a server that does not
// answer uses up: a loaded machine (the CI runs every package at once on two cores) can take
// seconds to schedule the server. Asserting that no answer comes needs a fixed window,
// noAnswerWait.
const (
	answerWait   = 15 * time.Second
	noAnswerWait = time.Second
)

// exchange sends one datagram and returns the first response, or "" if none came within wait.
func exchange(t *testing.T, addr, msg string, wait time.Duration) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte(msg))
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func statusOf(resp string) string {
	line, _, _ := strings.Cut(resp, "\r\n")
	return line
}

const okOptions = "OPTIONS sip:voicemail@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-opt1;rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\n" +
	"To: <sip:voicemail@127.0.0.1>\r\nCall-ID: opt-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"

func TestMalformedSIPGets400AndServerKeepsRunning(t *testing.T) {
	t.Parallel() // its own server; the no-answer cases wait a second each
	f := start(t, Config{})
	for _, tc := range []struct {
		name string
		msg  string
		want string // status line; "" means no answer (not a request)
	}{
		{"bad CSeq", strings.Replace(okOptions, "CSeq: 1 OPTIONS", "CSeq: one OPTIONS", 1), "SIP/2.0 400 Bad Request"},
		{"no Call-ID", strings.Replace(okOptions, "Call-ID: opt-1\r\n", "", 1), "SIP/2.0 400 Bad Request"},
		{"no From", strings.Replace(okOptions, "From: <sip:probe@127.0.0.1>;tag=p1\r\n", "", 1), "SIP/2.0 400 Bad Request"},
		{"CSeq method mismatch", strings.Replace(okOptions, "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1), "SIP/2.0 400 Bad Request"},
		{"broken request line", strings.Replace(okOptions, "OPTIONS sip:voicemail@127.0.0.1 SIP/2.0", "OPTIONS  SIP/2.0", 1), "SIP/2.0 400 Bad Request"},
		{"bad request uri", strings.Replace(okOptions, "sip:voicemail@127.0.0.1 SIP", "sip:@@:: SIP", 1), "SIP/2.0 400 Bad Request"},
		{"bad Content-Length", strings.Replace(okOptions, "Content-Length: 0", "Content-Length: -5", 1), "SIP/2.0 400 Bad Request"},
		{"invite without contact", strings.Replace(strings.Replace(okOptions, "OPTIONS", "INVITE", -1), "Max-Forwards", "X-No-Contact: 1\r\nMax-Forwards", 1), "SIP/2.0 400 Bad Request"},
		{"binary noise", "\x00\x01\x02garbage\xff\xfe", ""},
		{"a response", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh branch and Call-ID per case: otherwise the transaction layer treats it as a retransmission.
			msg := strings.ReplaceAll(tc.msg, "z9hG4bK-opt1", "z9hG4bK-opt1-"+strings.ReplaceAll(tc.name, " ", "-"))
			msg = strings.ReplaceAll(msg, "Call-ID: opt-1", "Call-ID: opt-"+strings.ReplaceAll(tc.name, " ", "-"))
			wait := answerWait
			if tc.want == "" {
				wait = noAnswerWait
			}
			resp := exchange(t, f.addr, msg, wait)
			assert.Equal(t, tc.want, statusOf(resp))
			if tc.want != "" {
				assert.Contains(t, resp, "branch=z9hG4bK-opt1", "400 echoes the Via so it routes back")
			}
		})
	}
	assert.Equal(t, "SIP/2.0 200 OK", statusOf(exchange(t, f.addr, okOptions, answerWait)), "still serving after the garbage")

	// TCP: a malformed request gets its 400 on the same connection, which keeps serving.
	c, err := net.Dial("tcp", f.addr)
	require.NoError(t, err)
	defer c.Close()
	r := bufio.NewReader(c)
	tcpOptions := strings.NewReplacer("SIP/2.0/UDP", "SIP/2.0/TCP", "z9hG4bK-opt1", "z9hG4bK-tcp1", "opt-1", "tcp-1").Replace(okOptions)
	bad := strings.NewReplacer("CSeq: 1 OPTIONS", "CSeq: x OPTIONS", "z9hG4bK-tcp1", "z9hG4bK-tcp0").Replace(tcpOptions)
	_, err = c.Write([]byte(bad + tcpOptions))
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(answerWait))
	var statuses []string
	for len(statuses) < 2 {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if strings.HasPrefix(line, "SIP/2.0 ") {
			statuses = append(statuses, strings.TrimSpace(line))
		}
	}
	assert.Equal(t, []string{"SIP/2.0 400 Bad Request", "SIP/2.0 200 OK"}, statuses)

	// Lost framing (negative Content-Length) is answered, then that connection is closed.
	c2, err := net.Dial("tcp", f.addr)
	require.NoError(t, err)
	defer c2.Close()
	_, err = c2.Write([]byte(strings.Replace(tcpOptions, "Content-Length: 0", "Content-Length: -1", 1)))
	require.NoError(t, err)
	_ = c2.SetReadDeadline(time.Now().Add(answerWait))
	line, err := bufio.NewReader(c2).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "SIP/2.0 400 Bad Request\r\n", line)
}

// RFC 3261 8.2.1: a method we do not serve gets 405 with the Allow header listing ours.
func TestUnknownMethodGets405WithAllow(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	for _, method := range []string{"MESSAGE", "PUBLISH", "REGISTER"} {
		msg := strings.NewReplacer("OPTIONS", method, "opt-1", "m405-"+method, "z9hG4bK-opt1", "z9hG4bK-405"+method).Replace(okOptions)
		resp := exchange(t, f.addr, msg, answerWait)
		assert.Equal(t, "SIP/2.0 405 Method Not Allowed", statusOf(resp), method)
		assert.Contains(t, resp, "\r\nAllow: "+allow+"\r\n", method)
	}
}

func TestBadRequestEchoesHeaders(t *testing.T) {
	resp := badRequest([]byte("INVITE sip:x@y SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\nt: <sip:x@y>\r\ni: cid\r\nCSeq: zz\r\nX: y\r\n\r\nbody"))
	require.NotNil(t, resp)
	msg, err := sip.ParseMessage(resp)
	require.NoError(t, err)
	res, ok := msg.(*sip.Response)
	require.True(t, ok)
	assert.Equal(t, 400, res.StatusCode)
	assert.NotNil(t, res.Via())
	assert.Nil(t, badRequest([]byte("SIP/2.0 200 OK\r\n\r\n")))
	assert.Nil(t, badRequest([]byte("")))
}
