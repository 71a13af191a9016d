package sip

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// notifyCounter is an MWI target that answers every NOTIFY with 200 and counts them.
func notifyCounter(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	var n atomic.Int32
	go func() {
		buf := make([]byte, 65535)
		for {
			k, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			msg := string(buf[:k])
			if !strings.HasPrefix(msg, "NOTIFY ") {
				continue
			}
			n.Add(1)
			var res strings.Builder
			res.WriteString("SIP/2.0 200 OK\r\n")
			for _, line := range strings.Split(msg, "\r\n") {
				for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
					if strings.HasPrefix(line, h) {
						res.WriteString(line + "\r\n")
					}
				}
			}
			res.WriteString("Content-Length: 0\r\n\r\n")
			_, _ = c.WriteTo([]byte(res.String()), from)
		}
	}()
	return c.LocalAddr().String(), &n
}

// Every replica of a stamp watches the mailboxes that have an MWI target, but a deposit sends
// one unsolicited NOTIFY, from the replica that took it, not one per replica.
func TestUnsolicitedMWIOnePerChangeAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _ := voicemailtest.NewWithOptions(t, voicemail.Options{WatchInterval: 100 * time.Millisecond})
	b, err := voicemail.New(voicemail.Options{AllowGuessablePINs: true, Backend: a.Backend(), Region: "local", WatchInterval: 100 * time.Millisecond,
		MWIDomains: []string{"127.0.0.1"}})
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	target, notifies := notifyCounter(t)
	_, _, err = a.Provision(ctx, "4501", voicemail.ProvisionRequest{PIN: "2468",
		Notify: voicemail.Notification{MWITarget: "sip:4501@" + target}})
	require.NoError(t, err)
	fa := startAt(t, a, Config{}, "127.0.0.2")
	fb := startAt(t, b, Config{}, "127.0.0.3")
	fa.log.waitFor(t, 10*time.Second, "mwi watch", map[string]string{"mailbox": "4501"})
	fb.log.waitFor(t, 10*time.Second, "mwi watch", map[string]string{"mailbox": "4501"})

	voicemailtest.Deposit(t, a, "4501", "5550600", time.Second)
	require.Eventually(t, func() bool { return notifies.Load() >= 1 }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(time.Second) // ten polls of the other replica
	assert.Equal(t, int32(1), notifies.Load(), "one NOTIFY per change")
}
