package faultproxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

// Deadlines of a round trip: one that must succeed gets ample time (the suite's clusters boot
// beside this test); one that must hang is given up after hangWait.
const (
	answerWait = 2 * time.Second
	hangWait   = 300 * time.Millisecond
)

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, msg string, wait time.Duration) (string, error) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

func TestFaultProxyBlackHoleAndRestore(t *testing.T) {
	t.Parallel() // its own echo server and proxy
	p, err := New(echoServer(t))
	require.NoError(t, err)
	defer p.Close()

	a, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer a.Close()
	ra := bufio.NewReader(a)
	got, err := roundTrip(t, a, ra, "one", answerWait)
	require.NoError(t, err)
	assert.Equal(t, "one\n", got)

	p.BlackHole()
	_, err = roundTrip(t, a, ra, "two", hangWait)
	assert.ErrorIs(t, err, errTimeout(t, err), "an open connection hangs")
	b, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err, "new connections are still accepted")
	defer b.Close()
	_, err = roundTrip(t, b, bufio.NewReader(b), "three", hangWait)
	assert.Error(t, err, "and hang too")
	assert.Eventually(t, func() bool { return p.Held() == 2 }, answerWait, 10*time.Millisecond)
	assert.Equal(t, int64(2), p.PeakHeld())

	p.Restore()
	_ = a.SetDeadline(time.Now().Add(time.Second))
	_, err = ra.ReadString('\n')
	assert.Error(t, err, "held connections are closed on restore")
	assert.Eventually(t, func() bool { return p.Held() == 0 }, answerWait, 10*time.Millisecond)
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	got, err = roundTrip(t, c, bufio.NewReader(c), "four", answerWait)
	require.NoError(t, err)
	assert.Equal(t, "four\n", got)
}

// errTimeout returns err when it is a timeout, so the assertion above reads naturally.
func errTimeout(t *testing.T, err error) error {
	t.Helper()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return err
	}
	t.Errorf("want a timeout, got %v", err)
	return nil
}

func TestFaultProxyUpstreamDownClosesClient(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	p, err := New(addr)
	require.NoError(t, err)
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(answerWait))
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "a refused upstream is a closed connection, not a hang")
}
