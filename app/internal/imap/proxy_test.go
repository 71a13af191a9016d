package imap

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/haproxy"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
	"github.com/voicemail-platform/voicemail/contract"
)

// dialFrom connects to addr from the loopback address from, as a distinct client would.
func dialFrom(t *testing.T, from, addr string) *rawConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	require.True(t, strings.HasPrefix(rc.line(), "* OK "))
	return rc
}

// Behind HAProxy every client arrives from HAProxy's address. With the PROXY protocol the
// server sees each client's own address, so a guesser's wrong PINs slow down the guesser and
// not the subscriber who logs in through the same balancer; a PROXY header from anyone but
// the balancer is not believed.
func TestPerSourcePenaltyBehindHAProxy(t *testing.T) {
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, testNumber, testPIN)
	srv := New(svc, Config{ProxyFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln, false) }()
	t.Cleanup(func() { cancel(); <-done })

	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(health.Close)
	front, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	listen := front.Addr().String()
	front.Close()
	hp, err := haproxy.Start(context.Background(), t.TempDir(), haproxy.Config{
		Listen: listen, IMAPSendProxy: true, HealthPath: contract.StampHealthPath, CheckInterval: 200 * time.Millisecond, Rise: 1,
		Stamps: []haproxy.Stamp{{Name: "a", IMAP: ln.Addr().String(), Health: strings.TrimPrefix(health.URL, "http://"), Priority: 1}},
	})
	require.NoError(t, err)
	t.Cleanup(hp.Stop)

	// The guesser: three wrong PINs are free and end its session; after the fourth it must
	// wait, so the fifth is refused unseen.
	guesser := dialFrom(t, "127.0.0.7", listen)
	for i := range 3 {
		r := guesser.cmd("g", "LOGIN "+testNumber+" 0000")
		require.Contains(t, r[len(r)-1], "AUTHENTICATIONFAILED", "attempt %d", i+1)
	}
	guesser = dialFrom(t, "127.0.0.7", listen)
	r := guesser.cmd("g", "LOGIN "+testNumber+" 0000")
	require.Contains(t, r[len(r)-1], "AUTHENTICATIONFAILED")
	r = guesser.cmd("g", "LOGIN "+testNumber+" 0000")
	assert.Contains(t, r[len(r)-1], "[UNAVAILABLE]", "the guesser waits")

	// The subscriber, through the same HAProxy, from elsewhere.
	sub := dialFrom(t, "127.0.0.8", listen)
	r = sub.cmd("s", "LOGIN "+testNumber+" "+testPIN)
	assert.True(t, strings.HasPrefix(r[len(r)-1], "s OK"), "the subscriber is not paying for the guesser: %v", r)

	// A client that talks to the server directly cannot claim another address: its PROXY
	// line is an IMAP command like any other.
	direct := dialFrom(t, "127.0.0.9", ln.Addr().String())
	direct.send("PROXY TCP4 127.0.0.8 127.0.0.1 40000 143\r\n")
	assert.Contains(t, direct.line(), " BAD ")
	r = direct.cmd("p", "LOGIN "+testNumber+" "+testPIN)
	assert.True(t, strings.HasPrefix(r[len(r)-1], "p OK"), "%v", r)
}
