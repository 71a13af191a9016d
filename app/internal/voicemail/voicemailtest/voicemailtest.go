// Package voicemailtest builds a real *voicemail.Service for other packages' tests: embedded
// store in t.TempDir(), region "local", queue drainer running, everything closed at cleanup.
package voicemailtest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/store/embedded"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// New returns a Service on a fresh embedded store.
func New(t testing.TB) *voicemail.Service {
	t.Helper()
	svc, _ := NewWithOptions(t, voicemail.Options{})
	return svc
}

// NewWithOptions is New with options (Backend and Region are filled in when empty; Region
// defaults to "local"); it also returns the data directory.
func NewWithOptions(t testing.TB, opt voicemail.Options) (*voicemail.Service, string) {
	t.Helper()
	dir := t.TempDir()
	if opt.Backend == nil {
		b, err := embedded.Open(dir, embedded.Options{})
		if err != nil {
			t.Fatalf("open embedded store: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		opt.Backend = b
	}
	if opt.Region == "" {
		opt.Region = "local"
	}
	// Fixtures use memorable PINs; the PIN policy is tested on its own.
	opt.AllowGuessablePINs = true
	// Fixtures' phones and MWI servers listen on loopback.
	if opt.MWIDomains == nil {
		opt.MWIDomains = []string{"127.0.0.1"}
	}
	if opt.DrainInterval == 0 {
		opt.DrainInterval = 100 * time.Millisecond
	}
	svc, err := voicemail.New(opt)
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return svc, dir
}

// Provision creates mailbox number with pin and default limits, failing the test on error.
func Provision(t testing.TB, svc *voicemail.Service, number, pin string) voicemail.Mailbox {
	t.Helper()
	mb, _, err := svc.Provision(context.Background(), number, voicemail.ProvisionRequest{PIN: pin, DisplayName: "Test " + number})
	if err != nil {
		t.Fatalf("provision %s: %v", number, err)
	}
	return mb
}

// WAV returns a valid 8 kHz mono WAV of the given length in enc (a 440 Hz tone).
func WAV(enc audio.Encoding, d time.Duration) []byte {
	return audio.Encode(enc, audio.FromPCM16(enc, audio.Tone(440, int(d/time.Millisecond), 8000)))
}

// Deposit leaves a message of length d from caller, failing the test on error.
func Deposit(t testing.TB, svc *voicemail.Service, number, caller string, d time.Duration) voicemail.Message {
	t.Helper()
	m, err := svc.Deposit(context.Background(), number, voicemail.Deposit{Caller: caller, Audio: WAV(audio.ALaw, d)})
	if err != nil {
		t.Fatalf("deposit to %s: %v", number, err)
	}
	return m
}

// LogBuffer collects log output written from several goroutines (a service's logger, a child
// process's stdout) while the test reads it.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
