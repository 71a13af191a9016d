package sip

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// g711aBytes is the RTP payload carried by sipp's g711a.pcap (236 packets of 240 bytes).
const g711aBytes = 56640

// g711aDuration is how long g711a.pcap streams (8000 bytes a second).
const g711aDuration = g711aBytes * time.Second / 8000

// toneWAV is a short recorded greeting (A-law) of freq Hz.
func toneWAV(freq float64, ms int) []byte {
	return audio.Encode(audio.ALaw, audio.FromPCM16(audio.ALaw, audio.Tone(freq, ms, 8000)))
}

func TestSippDepositStoresStreamedAudio(t *testing.T) {
	t.Parallel()
	f := start(t, Config{SilenceTimeout: 30 * time.Second})
	ctx := context.Background()
	mwiPort := freePort(t)
	_, _, err := f.svc.Provision(ctx, "1001", voicemail.ProvisionRequest{PIN: "2468",
		Notify: voicemail.Notification{MWITarget: "sip:1001@127.0.0.1:" + itoa(mwiPort)}})
	require.NoError(t, err)
	require.NoError(t, f.svc.PutGreeting(ctx, "1001", voicemail.GreetingUnavailable, toneWAV(600, 500)))

	// The mailbox's phone waits for the unsolicited NOTIFY that the deposit triggers.
	uas := make(chan error, 1)
	go func() {
		uas <- runSipp(t, "", "mwi_uas.xml", nil, "-p", itoa(mwiPort), "-timeout", "30s")
	}()

	// Greeting (0.5 s) and beep (0.3 s) are over well before sipp starts streaming, after 2 s.
	sipp(t, f.addr, "deposit.xml", map[string]string{
		"ruri": "sip:1001@" + f.addr, "caller": "5550100", "pcap": sippShare + "/g711a.pcap",
	}, "-d", "2000")

	f.log.waitFor(t, 5*time.Second, "message stored", map[string]string{"mailbox": "1001"})
	msgs, err := f.svc.Messages(ctx, "1001", voicemail.FolderNew)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, "5550100", msgs[0].Caller)
	assert.InDelta(t, 7.08, msgs[0].Duration.Seconds(), 0.2, "duration of the streamed pcap")

	wav, err := f.svc.Audio(ctx, "1001", msgs[0].ID)
	require.NoError(t, err)
	w, err := audio.Parse(wav)
	require.NoError(t, err)
	assert.Equal(t, audio.ALaw, w.Encoding, "stored in the call's codec")
	assert.InEpsilon(t, g711aBytes, len(w.Data), 0.02, "recorded bytes match the streamed audio")
	assert.Greater(t, audio.Level(w.ToPCM16()), 200.0, "the recording holds speech, not silence")

	assert.NotEmpty(t, f.log.find("play", map[string]string{"greeting": "unavailable", "mailbox": "1001"}), "recorded greeting played")
	assert.NotEmpty(t, f.log.find("play", map[string]string{"prompt": "beep"}))

	select {
	case err := <-uas:
		require.NoError(t, err, "unsolicited MWI NOTIFY to the mailbox's target")
	case <-time.After(20 * time.Second):
		t.Fatal("MWI target got no NOTIFY")
	}
}

func TestSippBusyCauseGetsBusyGreeting(t *testing.T) {
	t.Parallel()
	f := start(t, Config{SilenceTimeout: 30 * time.Second})
	ctx := context.Background()
	voicemailtest.Provision(t, f.svc, "1002", "2468")
	require.NoError(t, f.svc.PutGreeting(ctx, "1002", voicemail.GreetingUnavailable, toneWAV(600, 400)))
	require.NoError(t, f.svc.PutGreeting(ctx, "1002", voicemail.GreetingBusy, toneWAV(900, 400)))
	voicemailtest.Provision(t, f.svc, "1003", "2468") // no greetings: built-in busy prompt

	// RFC 4458 voicemail URI with cause 486 to a mailbox with a recorded busy greeting; the
	// Diversion header names another mailbox but the Request-URI target takes precedence.
	ruri := "sip:voicemail@" + f.addr + ";target=sip:1002%40example.com;cause=486"
	sipp(t, f.addr, "deposit_short.xml", map[string]string{"ruri": ruri, "caller": "5550111",
		"pcap": sippShare + "/g711a.pcap", "diversion": "<sip:1003@example.com>;reason=no-answer"}, "-d", "1000")
	e := f.log.waitFor(t, 5*time.Second, "play", map[string]string{"greeting": "busy", "mailbox": "1002"})
	call := e.Attrs["call"]
	assert.Empty(t, f.log.find("play", map[string]string{"call": call, "greeting": "unavailable"}), "busy call must not hear the unavailable greeting")
	f.log.waitFor(t, 5*time.Second, "message stored", map[string]string{"mailbox": "1002"})

	// Busy from a Diversion header to a mailbox without greetings: the built-in busy prompt.
	// The caller hangs up during it, so nothing is stored.
	sipp(t, f.addr, "deposit_short.xml", map[string]string{"ruri": "sip:voicemail@" + f.addr, "caller": "5550122",
		"pcap": sippShare + "/g711a.pcap", "diversion": "<sip:1003@example.com>;reason=user-busy;counter=1"}, "-d", "500")
	f.log.waitFor(t, 5*time.Second, "play", map[string]string{"prompt": "busy"})
	assert.Empty(t, f.log.find("play", map[string]string{"prompt": "unavailable"}))
	require.Eventually(t, func() bool { return f.srv.ActiveCalls() == 0 }, 5*time.Second, 20*time.Millisecond)
	msgs, err := f.svc.Messages(ctx, "1003", "")
	require.NoError(t, err)
	assert.Empty(t, msgs)
}

func TestSippRetrievalWithDTMF(t *testing.T) {
	t.Parallel()
	f := start(t, Config{DigitTimeout: 3 * time.Second})
	ctx := context.Background()
	voicemailtest.Provision(t, f.svc, "1004", "2468")
	_, err := f.svc.Deposit(ctx, "1004", voicemail.Deposit{Caller: "5550133", Audio: toneWAV(500, 800), Received: time.Now()})
	require.NoError(t, err)

	sipp(t, f.addr, "retrieve.xml", map[string]string{"ruri": "sip:1004@" + f.addr, "caller": "1004", "share": sippShare})

	// Keys arrived in order and drove the menu; those typed at a PIN prompt (the PIN, the new
	// PIN and its confirmation, with their #) are logged as hidden.
	var keys []string
	for _, e := range f.log.find("key", nil) {
		keys = append(keys, e.Attrs["key"])
	}
	h := func(n int) []string { return slices.Repeat([]string{"hidden"}, n) }
	want := slices.Concat(h(5), []string{"1", "9", "0", "5"}, h(10), []string{"*", "#"})
	assert.Equal(t, want, keys)
	assert.NotEmpty(t, f.log.find("play", map[string]string{"prompt": "main-menu"}), "logged in")
	assert.NotEmpty(t, f.log.find("play", map[string]string{"prompt": "pin-changed"}))

	// 1 played the message and marked it heard; 9 saved it.
	saved, err := f.svc.Messages(ctx, "1004", voicemail.FolderSaved)
	require.NoError(t, err)
	require.Len(t, saved, 1)
	assert.True(t, saved[0].Heard)
	assert.NotEmpty(t, f.log.find("play", map[string]string{"message": saved[0].ID}))
	// 0 5 changed the PIN.
	require.NoError(t, f.svc.Login(ctx, "1004", "1357"))
	assert.ErrorIs(t, f.svc.Login(ctx, "1004", "2468"), voicemail.ErrBadPIN)
}

func TestSippSubscribeGetsNotifyAfterDeposit(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	ctx := context.Background()
	voicemailtest.Provision(t, f.svc, "1005", "2468")

	done := make(chan error, 1)
	go func() { done <- runSipp(t, f.addr, "subscribe.xml", map[string]string{"mailbox": "1005"}) }()
	f.log.waitFor(t, 10*time.Second, "mwi notify", map[string]string{"mailbox": "1005", "new": "0"})
	_, err := f.svc.Deposit(ctx, "1005", voicemail.Deposit{Caller: "5550144", Audio: toneWAV(500, 300), Received: time.Now()})
	require.NoError(t, err)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("sipp did not finish")
	}
	f.log.waitFor(t, time.Second, "mwi notify", map[string]string{"mailbox": "1005", "new": "1", "old": "0"})
	f.log.waitFor(t, time.Second, "mwi notify", map[string]string{"mailbox": "1005", "state": "terminated"})
}
