package imap

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// panicCatcher records the session's recovered panics, which it logs at error level.
type panicCatcher struct {
	slog.Handler
	panics *atomic.Int32
}

func (h panicCatcher) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.panics.Add(1)
	}
	return nil
}

func (h panicCatcher) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panicCatcher) WithGroup(string) slog.Handler      { return h }

// FuzzSession drives whole sessions over a real service with arbitrary client bytes: the
// server must never panic and must always answer with well-formed lines.
func FuzzSession(f *testing.F) {
	svc := voicemailtest.New(f)
	voicemailtest.Provision(f, svc, testNumber, testPIN)
	voicemailtest.Deposit(f, svc, testNumber, "+15551110001", time.Second)
	voicemailtest.Deposit(f, svc, testNumber, "+15551110002", time.Second)
	var panics atomic.Int32
	log := slog.New(panicCatcher{Handler: slog.DiscardHandler, panics: &panics})
	srv := New(svc, Config{MaxLiteral: 4096, MaxLoginFailures: 1000}, log)
	login := "a LOGIN " + testNumber + " " + testPIN + "\r\n"
	for _, s := range []string{
		login + "b SELECT INBOX\r\nc UID FETCH 1:* (FLAGS BODY.PEEK[HEADER] BODYSTRUCTURE)\r\n",
		login + "b SELECT INBOX\r\nc FETCH 1 (BODY[2]<0.10> ENVELOPE)\r\nd STORE 1 +FLAGS (\\Seen)\r\n",
		login + "b SELECT INBOX\r\nc UID SEARCH OR UNSEEN (NOT DELETED) UID 1:*\r\nd IDLE\r\nDONE\r\n",
		login + "b APPEND Greetings (\\Seen) {5+}\r\nhello\r\nc SELECT Greetings\r\nd FETCH 1:* ALL\r\n",
		login + "b GETQUOTAROOT INBOX\r\nc STATUS INBOX (MESSAGES UNSEEN)\r\nd LIST \"\" *\r\n",
		"a AUTHENTICATE PLAIN\r\nAHg=\r\nb CAPABILITY\r\n",
		"a NOOP\r\n\r\n)(\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			newSession(ctx, srv, server, false).run()
		}()
		out := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(client)
			out <- string(b)
		}()
		client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		client.Write(data)
		// Give the session a moment to answer, then hang up.
		time.Sleep(time.Millisecond)
		cancel()
		<-done
		client.Close()
		resp := <-out
		if n := panics.Load(); n > 0 {
			t.Fatalf("session panicked on %q", data)
		}
		if !strings.HasPrefix(resp, "* OK ") {
			t.Fatalf("no greeting: %q", resp)
		}
	})
}
