package azure_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
)

// hangProxy forwards loopback TCP to an Azurite service until hang is called; from then on it
// accepts connections and reads them but never answers (a black hole, not a refusal), and
// connections open at that moment go silent too. resume forwards new connections again.
type hangProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	hung     bool
	conns    []net.Conn
}

func newHangProxy(t *testing.T, upstream string) *hangProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &hangProxy{ln: ln, upstream: upstream}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *hangProxy) serve(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	hung := p.hung
	p.mu.Unlock()
	if hung {
		_, _ = io.Copy(io.Discard, c) // read and never answer
		return
	}
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(c, &gate{r: up, p: p}) }()
	_, _ = io.Copy(up, &gate{r: c, p: p})
}

// gate passes bytes on only while the proxy forwards; once hung, the reader blocks silently.
type gate struct {
	r io.Reader
	p *hangProxy
}

func (g *gate) Read(b []byte) (int, error) {
	n, err := g.r.Read(b)
	g.p.mu.Lock()
	hung := g.p.hung
	g.p.mu.Unlock()
	if hung {
		_, _ = io.Copy(io.Discard, g.r)
		return 0, io.EOF
	}
	return n, err
}

func (p *hangProxy) addr() string { return p.ln.Addr().String() }

func (p *hangProxy) hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = true
}

func (p *hangProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = false
	for _, c := range p.conns {
		c.Close() // clients reconnect through the healthy path
	}
	p.conns = nil
}

// A metadata store that hangs (accepts and never answers) must not hold a deposit for the SDK's
// per-try timeout: after StoreTimeout the deposit goes to the queue, is accepted, and reaches
// the mailbox once the table answers again.
func TestDepositWithHangingTableTakesQueuePath(t *testing.T) {
	ctx := context.Background()
	proxy := newHangProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(az.Port(azurite.Table))))
	cs := strings.Replace(az.ConnectionString(), az.Endpoint(azurite.Table), "http://"+proxy.addr()+"/"+azurite.Account, 1)
	b, err := azure.Open(ctx, config(cs))
	require.NoError(t, err)
	svc, err := vm.New(vm.Options{AllowGuessablePINs: true, Backend: b, Region: "west", DrainVisibility: time.Second, StoreTimeout: time.Second})
	require.NoError(t, err)
	voicemailtest.Provision(t, svc, "4930500", "1234")
	voicemailtest.Provision(t, svc, "4930501", "1234")
	_, err = svc.CanDeposit(ctx, "4930500") // this process has seen the mailbox: the outage cache knows it
	require.NoError(t, err)
	events, cancel := svc.Subscribe("4930500")
	defer cancel()

	proxy.hang()
	wav := voicemailtest.WAV(audio.ULaw, 3*time.Second)
	start := time.Now()
	_, err = svc.CanDeposit(ctx, "4930500")
	require.NoError(t, err, "a known mailbox can take a deposit while the table hangs")
	m, err := svc.Deposit(ctx, "4930500", vm.Deposit{Caller: "+4917", Audio: wav})
	took := time.Since(start)
	require.NoError(t, err, "deposit accepted through the queue although the table hangs")
	assert.Less(t, took, 5*time.Second, "deposit answered after the store timeout, not the SDK's per-try timeout")

	t.Logf("deposit with a hanging table answered in %s", took.Round(time.Millisecond))

	// A process that never saw the mailbox (a restarted one) cannot check it, so the deposit is
	// refused, quickly too.
	fresh, err := vm.New(vm.Options{AllowGuessablePINs: true, Backend: b, Region: "west", StoreTimeout: time.Second})
	require.NoError(t, err)
	start = time.Now()
	_, err = fresh.Deposit(ctx, "4930501", vm.Deposit{Caller: "+4917", Audio: wav})
	assert.ErrorIs(t, err, vm.ErrUnavailable)
	assert.Less(t, time.Since(start), 5*time.Second)

	proxy.resume()
	drainUntil(t, svc, "4930500", m.ID)
	got, err := svc.Audio(ctx, "4930500", m.ID)
	require.NoError(t, err)
	assert.Equal(t, wav, got)
	select {
	case ev := <-events:
		assert.Equal(t, m.ID, ev.MessageID)
	case <-time.After(5 * time.Second):
		t.Fatal("no deposit event after the queued deposit was stored")
	}
}
