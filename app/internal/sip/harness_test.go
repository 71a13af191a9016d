package sip

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/sip/sipptest"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

const sippShare = sipptest.Share

// logEntry is one record of the server's call log, with attributes flattened.
type logEntry struct {
	Time  time.Time
	Msg   string
	Attrs map[string]string
}

// callLog is a slog handler that keeps every record, so tests can assert what a call played.
type callLog struct {
	mu    *sync.Mutex
	recs  *[]logEntry
	attrs []slog.Attr
}

func newCallLog() *callLog { return &callLog{mu: &sync.Mutex{}, recs: &[]logEntry{}} }

func (h *callLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *callLog) WithGroup(string) slog.Handler            { return h }
func (h *callLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &callLog{mu: h.mu, recs: h.recs, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}
func (h *callLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo {
		for _, a := range h.attrs {
			if a.Key == "layer" {
				return nil // sipgo's own debug chatter
			}
		}
	}
	e := logEntry{Time: r.Time, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		e.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { e.Attrs[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	*h.recs = append(*h.recs, e)
	h.mu.Unlock()
	return nil
}

// find returns the entries with msg whose attributes include all of want.
func (h *callLog) find(msg string, want map[string]string) []logEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logEntry
next:
	for _, e := range *h.recs {
		if e.Msg != msg {
			continue
		}
		for k, v := range want {
			if e.Attrs[k] != v {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// waitFor polls the log until an entry matches or the timeout passes.
func (h *callLog) waitFor(t *testing.T, d time.Duration, msg string, want map[string]string) logEntry {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if es := h.find(msg, want); len(es) > 0 {
			return es[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.mu.Lock()
	for _, e := range *h.recs {
		t.Logf("log: %s %v", e.Msg, e.Attrs)
	}
	h.mu.Unlock()
	t.Fatalf("no log entry %q with %v within %v", msg, want, d)
	return logEntry{}
}

// streamedAfterBeep is how much of a deposit stream of length total the server could record
// for mailbox: all of it, unless the greeting and beep ended after the caller began to stream
// (a loaded machine can hold them past sipp's pause) and the first packets, which the server
// counts as rtp_before_beep, came before the beep. Audio before the beep is not part of a
// message, by design; what follows it must all be kept. Packets are 20 ms.
func (h *callLog) streamedAfterBeep(t testing.TB, mailbox string, total time.Duration) time.Duration {
	t.Helper()
	calls := h.find("deposit call", map[string]string{"mailbox": mailbox})
	require.Len(t, calls, 1, "deposit calls to %s", mailbox)
	rec := h.find("recorded", map[string]string{"call": calls[0].Attrs["call"]})
	require.Len(t, rec, 1, "recordings of the call to %s", mailbox)
	before, err := strconv.Atoi(rec[0].Attrs["rtp_before_beep"])
	require.NoError(t, err)
	if before > 0 {
		t.Logf("mailbox %s: %d packets arrived before the beep", mailbox, before)
	}
	return total - time.Duration(before)*20*time.Millisecond
}

type fixture struct {
	stop func()     // cancels Serve; cleanup waits for it to return
	done chan error // Serve's result, once
	svc  *voicemail.Service
	srv  *Server
	log  *callLog
	addr string
}

// start runs a real service (embedded store) and a SIP server on a free loopback port.
func start(t testing.TB, cfg Config) *fixture {
	t.Helper()
	return startWith(t, voicemailtest.New(t), cfg)
}

// startWith runs a SIP server on a free loopback port in front of svc.
func startWith(t testing.TB, svc *voicemail.Service, cfg Config) *fixture {
	t.Helper()
	return startAt(t, svc, cfg, "127.0.0.1")
}

// startAt runs a SIP server on a free port of the loopback address ip, which it advertises in
// Contact and SDP and binds its RTP to (a pod with its own address).
func startAt(t testing.TB, svc *voicemail.Service, cfg Config, ip string) *fixture {
	t.Helper()
	cl := newCallLog()
	if ip != "127.0.0.1" {
		cfg.MediaIP, cfg.RTPBindIP = ip, ip
	}
	if cfg.MWIDomains == nil {
		cfg.MWIDomains = []string{"127.0.0.1"} // the tests' MWI phones listen on loopback
	}
	if cfg.RTPPortMin == 0 {
		base := 20000 + (os.Getpid()*37+int(time.Now().UnixNano()/1000))%20000
		base -= base % 2
		cfg.RTPPortMin, cfg.RTPPortMax = base, base+2000
	}
	srv, err := New(svc, cfg, slog.New(cl))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ip+":0") }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	served := make(chan error, 1)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("server did not stop")
		}
	})
	out := make(chan error, 1)
	go func() { err := <-done; out <- err; served <- err }()
	return &fixture{stop: cancel, done: out, svc: svc, srv: srv, log: cl, addr: srv.Addr()}
}

// freePort returns a UDP port that was free a moment ago.
func freePort(t testing.TB) int { return sipptest.FreeUDPPort(t) }

// sipp runs one sipp scenario from testdata against the server and fails the test (with
// sipp's own error log) unless every call succeeds.
func sipp(t testing.TB, target, scenario string, keys map[string]string, extra ...string) {
	t.Helper()
	require.NoError(t, runSipp(t, target, scenario, keys, extra...))
}

// runSipp runs one scenario from testdata (see sipptest.Run).
func runSipp(t testing.TB, target, scenario string, keys map[string]string, extra ...string) error {
	t.Helper()
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	require.NoError(t, err)
	return sipptest.Run(t, sf, target, keys, extra...)
}

func itoa(n int) string { return strconv.Itoa(n) }
