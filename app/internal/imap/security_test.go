package imap

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// The TestAttack tests reproduce attacks from a hostile network, bounded in count and time and
// on loopback only. Each logs the figure it measures.

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Strangers that never log in send one LOGIN command made of endless 1 KiB literals: the
// server must stop buffering after a few kilobytes instead of holding all of it.
func TestAttackIMAPPreLoginLiteralMemory(t *testing.T) {
	e := startEnv(t, Config{})
	const conns, perConn = 30, 2 << 20 // each tries to make the server buffer 2 MiB
	before := heapInUse()
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := make([]int, conns)
	hold := make(chan struct{})
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", e.addr, 2*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			if _, err := br.ReadString('\n'); err != nil {
				return
			}
			chunk := "{1024+}\r\n" + strings.Repeat("x", 1024) + " "
			if _, err := fmt.Fprint(c, "a LOGIN "); err != nil {
				return
			}
			sent := 0
			for sent < perConn {
				if _, err := c.Write([]byte(chunk)); err != nil {
					break
				}
				sent += 1024
			}
			mu.Lock()
			accepted[i] = sent
			mu.Unlock()
			<-hold // keep the connection (and whatever the server holds for it) open
		}(i)
	}
	time.Sleep(500 * time.Millisecond)
	deadline := time.Now().Add(8 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, a := range accepted {
			if a > 0 {
				n++
			}
		}
		mu.Unlock()
		if n == conns || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	grown := int64(heapInUse()) - int64(before)
	close(hold)
	wg.Wait()
	most := 0
	for _, a := range accepted {
		most = max(most, a)
	}
	t.Logf("%d pre-login connections: up to %d KiB of literals written each before the server stopped reading; heap grew %.1f MB",
		conns, most/1024, float64(grown)/1e6)
	assert.Less(t, grown, int64(20<<20), "heap held for strangers' literals")
}

// Strangers fill every connection slot with idle connections; a subscriber must still get in.
func TestAttackIMAPSlotExhaustion(t *testing.T) {
	e := startEnv(t, Config{MaxConnections: 50})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < 50; i++ {
		c, err := net.DialTimeout("tcp", e.addr, 2*time.Second)
		require.NoError(t, err)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = bufio.NewReader(c).ReadString('\n')
		require.NoError(t, err)
		idle = append(idle, c)
	}
	c, err := net.DialTimeout("tcp", e.addr, 2*time.Second)
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	greeting, _ := br.ReadString('\n')
	fmt.Fprintf(c, "a LOGIN %s %s\r\n", testNumber, testPIN)
	answer, _ := br.ReadString('\n')
	t.Logf("with %d idle strangers the subscriber got %q then %q", len(idle), strings.TrimSpace(greeting), strings.TrimSpace(answer))
	assert.Contains(t, greeting, "* OK")
	assert.True(t, strings.HasPrefix(answer, "a OK"), answer)
}

// A connection that never logs in is closed after the pre-login timeout, not the 30-minute
// idle timeout of a subscriber.
func TestAttackIMAPPreLoginTimeout(t *testing.T) {
	e := startEnv(t, Config{PreAuthTimeout: time.Second})
	c, err := net.DialTimeout("tcp", e.addr, 2*time.Second)
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(start.Add(5 * time.Second))
	br := bufio.NewReader(c)
	for {
		fmt.Fprint(c, "a NOOP\r\n") // busy, but never logging in
		if _, err := br.ReadString('\n'); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	held := time.Since(start)
	t.Logf("a stranger kept a pre-login connection for %s", held.Round(100*time.Millisecond))
	assert.Less(t, held, 3*time.Second)
}

// An eavesdropper on the path reads a PIN a client sends before STARTTLS. With a certificate
// configured the server must not accept it: CAPABILITY says LOGINDISABLED and LOGIN and
// AUTHENTICATE answer NO, with no setting needed to get there.
func TestAttackIMAPCleartextLoginWithCertificate(t *testing.T) {
	tlsCfg, _ := selfSigned(t)
	e := startEnv(t, Config{TLS: tlsCfg})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	rc := dialRaw(t, e.addr)
	rc.send("a CAPABILITY\r\n")
	caps := rc.line()
	assert.Equal(t, "a OK CAPABILITY completed", rc.line())
	assert.Contains(t, caps, "STARTTLS")
	assert.Contains(t, caps, "LOGINDISABLED")
	assert.NotContains(t, caps, "AUTH=PLAIN")
	rc.send("b LOGIN " + testNumber + " " + testPIN + "\r\n")
	login := rc.line()
	rc.send("c AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+testNumber+"\x00"+testPIN)) + "\r\n")
	auth := rc.line()
	t.Logf("cleartext LOGIN with a certificate configured: %q; AUTHENTICATE: %q", login, auth)
	assert.True(t, strings.HasPrefix(login, "b NO [PRIVACYREQUIRED]"), login)
	assert.True(t, strings.HasPrefix(auth, "c NO [PRIVACYREQUIRED]"), auth)
}

// A stranger sends LOGIN with a user name of kilobytes (or with control characters that forge
// log lines): the failed-login log line stays short and one line, and holds neither the name
// beyond a bound nor the PIN tried.
func TestAttackIMAPLoginLogsUnboundedUserName(t *testing.T) {
	var logs voicemailtest.LogBuffer
	svc := voicemailtest.New(t)
	srv := New(svc, Config{}, slog.New(slog.NewJSONHandler(&logs, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln, false) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	rc := dialRaw(t, ln.Addr().String())
	long := strings.Repeat("4930", 1500) // 6000 bytes, under the pre-login command bound
	rc.send("a LOGIN \"" + long + "\" 97531\r\n")
	assert.True(t, strings.HasPrefix(rc.line(), "a NO "))
	rc.send("b LOGIN \"4930\\\\r\\\\n{\\\"msg\\\":\\\"forged\\\"}\" 97531\r\n")
	rc.line()
	require.Eventually(t, func() bool { return strings.Count(logs.String(), "imap login failed") == 2 }, 10*time.Second, 20*time.Millisecond)
	longest := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "imap login failed") {
			longest = max(longest, len(line))
			assert.NotContains(t, line, "97531", "the PIN tried")
			assert.NotContains(t, line, strings.Repeat("4930", 20), "the name beyond the bound")
		}
	}
	t.Logf("longest failed-login log line for a 6000-byte user name: %d bytes", longest)
	assert.Less(t, longest, 400)
	assert.Equal(t, 0, strings.Count(logs.String(), `"msg":"forged"`), "no forged log record")
}
