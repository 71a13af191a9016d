package sip

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

func onlyMessage(t *testing.T, svc *voicemail.Service, number string) voicemail.Message {
	t.Helper()
	msgs, err := svc.Messages(context.Background(), number, "")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	return msgs[0]
}

func TestSippUnknownMailboxIs404ForTrustedPeers(t *testing.T) {
	t.Parallel()
	f := start(t, Config{TrustedPeers: peers{netip.MustParsePrefix("127.0.0.0/8")}})
	sipp(t, f.addr, "rejected.xml", map[string]string{"ruri": "sip:9999@" + f.addr, "caller": "5550155"})
	assert.NotEmpty(t, f.log.find("deposit to unknown mailbox", map[string]string{"mailbox": "9999"}))
}

func TestSippFullMailboxPromptsAndHangsUp(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	ctx := context.Background()
	_, _, err := f.svc.Provision(ctx, "3001", voicemail.ProvisionRequest{PIN: "2468", MaxMessages: 1})
	require.NoError(t, err)
	deposit(t, f.svc, "3001", "first")

	sipp(t, f.addr, "answered_bye.xml", map[string]string{"ruri": "sip:3001@" + f.addr, "caller": "5550166"})
	assert.NotEmpty(t, f.log.find("play", map[string]string{"prompt": "mailbox-full"}))
	assert.Empty(t, f.log.find("play", map[string]string{"prompt": "beep"}), "no recording offered")
	assert.Equal(t, "first", onlyMessage(t, f.svc, "3001").Caller, "nothing more stored")
}

func TestSippPoundEndsRecording(t *testing.T) {
	t.Parallel()
	f := start(t, Config{SilenceTimeout: 30 * time.Second})
	voicemailtest.Provision(t, f.svc, "3002", "2468")
	require.NoError(t, f.svc.PutGreeting(context.Background(), "3002", voicemail.GreetingUnavailable, toneWAV(600, 300)))

	sipp(t, f.addr, "deposit_pound.xml", map[string]string{"ruri": "sip:3002@" + f.addr, "caller": "5550177", "pcap": sippShare + "/g711a.pcap"}, "-d", "1000")
	f.log.waitFor(t, 2*time.Second, "recorded", map[string]string{"reason": "key"})
	assert.NotEmpty(t, f.log.find("play", map[string]string{"prompt": "message-saved"}))
	assert.InDelta(t, 2.0, onlyMessage(t, f.svc, "3002").Duration.Seconds(), 0.5)
}

func TestSippLostLegEndsByRTPTimeoutAndKeepsMessage(t *testing.T) {
	t.Parallel()
	f := start(t, Config{SilenceTimeout: 30 * time.Second, RTPTimeout: time.Second})
	voicemailtest.Provision(t, f.svc, "3003", "2468")
	require.NoError(t, f.svc.PutGreeting(context.Background(), "3003", voicemail.GreetingUnavailable, toneWAV(600, 300)))

	// sipp streams 7 s and then sends nothing and no BYE; the server hangs up.
	sipp(t, f.addr, "deposit_vanish.xml", map[string]string{"ruri": "sip:3003@" + f.addr, "caller": "5550188", "pcap": sippShare + "/g711a.pcap"}, "-d", "2000")
	// The server's BYE ends sipp; recording and storing finish after it, so wait for the store.
	f.log.waitFor(t, 10*time.Second, "message stored", map[string]string{"mailbox": "3003"})
	assert.NotEmpty(t, f.log.find("recorded", map[string]string{"reason": "rtp-timeout"}), "recorded: %v", f.log.find("recorded", nil))
	assert.InDelta(t, f.log.streamedAfterBeep(t, "3003", g711aDuration).Seconds(), onlyMessage(t, f.svc, "3003").Duration.Seconds(), 0.2)
}

func TestSippDepositOverTCP(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	voicemailtest.Provision(t, f.svc, "3004", "2468")
	require.NoError(t, f.svc.PutGreeting(context.Background(), "3004", voicemail.GreetingUnavailable, toneWAV(600, 300)))

	sipp(t, f.addr, "deposit_short.xml", map[string]string{"ruri": "sip:3004@" + f.addr + ";transport=tcp", "caller": "5550199",
		"pcap": sippShare + "/g711a.pcap", "diversion": "<sip:3004@example.com>;reason=no-answer"}, "-d", "1000", "-t", "t1")
	f.log.waitFor(t, 10*time.Second, "message stored", map[string]string{"mailbox": "3004"})
	assertRecordedFor(t, f, "3004", time.Second)
}

// assertRecordedFor checks a message recorded while the caller streamed for about want
// (sipp's pause): at least what was streamed after the beep less 0.3 s, and no more than the
// server's recording window (beep to end of recording) allows. A loaded machine can start the
// stream before the beep ends (audio before the beep is not part of a message) and stretches
// sipp's pause, so both bounds follow what the server saw, not fixed tolerances.
func assertRecordedFor(t *testing.T, f *fixture, mailbox string, want time.Duration) {
	t.Helper()
	got := onlyMessage(t, f.svc, mailbox).Duration
	after := f.log.streamedAfterBeep(t, mailbox, want)
	beep := f.log.find("play", map[string]string{"prompt": "beep"})
	rec := f.log.find("recorded", nil)
	require.Len(t, beep, 1)
	require.Len(t, rec, 1)
	window := rec[0].Time.Sub(beep[0].Time)
	assert.GreaterOrEqual(t, got, after-300*time.Millisecond, "recorded %v of about %v streamed after the beep", got, after)
	assert.LessOrEqual(t, got, max(want+300*time.Millisecond, window+100*time.Millisecond), "recorded %v within a window of %v", got, window)
}

// A call still going when the drain timeout ends is hung up and what was recorded is kept.
func TestShutdownStoresCallInProgress(t *testing.T) {
	t.Parallel()
	f := start(t, Config{SilenceTimeout: 30 * time.Second, DrainTimeout: 100 * time.Millisecond})
	voicemailtest.Provision(t, f.svc, "3005", "2468")
	require.NoError(t, f.svc.PutGreeting(context.Background(), "3005", voicemail.GreetingUnavailable, toneWAV(600, 300)))

	done := make(chan error, 1)
	go func() {
		done <- runSipp(t, f.addr, "deposit.xml", map[string]string{"ruri": "sip:3005@" + f.addr, "caller": "5550200",
			"pcap": sippShare + "/g711a.pcap"}, "-d", "800")
	}()
	f.log.waitFor(t, 5*time.Second, "play", map[string]string{"prompt": "beep"})
	time.Sleep(2 * time.Second) // about 1.5 s of the message is recorded
	f.stop()                    // SIGTERM in the binary
	f.log.waitFor(t, 5*time.Second, "message stored", map[string]string{"mailbox": "3005"})
	sec := onlyMessage(t, f.svc, "3005").Duration.Seconds()
	assert.True(t, sec > 0.5 && sec < 3, "partial message kept: %.2f s", sec)
	<-done // sipp sees our BYE mid-scenario; its verdict does not matter here
}

func TestSippReInviteKeepsCall(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	voicemailtest.Provision(t, f.svc, "3006", "2468")
	sipp(t, f.addr, "reinvite.xml", map[string]string{"ruri": "sip:3006@" + f.addr, "caller": "5550211"})
	assert.NotEmpty(t, f.log.find("deposit call", map[string]string{"mailbox": "3006"}))
}

func TestSippLossReorderAndSSRCChangeKeepTiming(t *testing.T) {
	t.Parallel()
	f := start(t, Config{SilenceTimeout: 30 * time.Second})
	voicemailtest.Provision(t, f.svc, "3007", "2468")
	require.NoError(t, f.svc.PutGreeting(context.Background(), "3007", voicemail.GreetingUnavailable, toneWAV(600, 300)))

	// 6 packets lost inside each stream, 4 pairs reordered, a new SSRC from packet 120 on.
	drop := map[int]bool{30: true, 31: true, 77: true, 150: true, 151: true, 200: true}
	swap := map[int]bool{10: true, 50: true, 130: true, 210: true}
	pcap, sent := impairedPcap(t, drop, swap, 120)
	require.Equal(t, g711aBytes-6*240, sent)

	sipp(t, f.addr, "deposit.xml", map[string]string{"ruri": "sip:3007@" + f.addr, "caller": "5550222", "pcap": pcap}, "-d", "2000")
	f.log.waitFor(t, 5*time.Second, "message stored", map[string]string{"mailbox": "3007"})
	wav, err := f.svc.Audio(context.Background(), "3007", onlyMessage(t, f.svc, "3007").ID)
	require.NoError(t, err)
	w, err := audio.Parse(wav)
	require.NoError(t, err)
	// Lost packets come back as silence, reordered ones in order, and the new stream is
	// appended: the recording keeps the stream's real length.
	assert.Equal(t, g711aBytes, len(w.Data))
	assert.NotEmpty(t, f.log.find("rtp source changed", map[string]string{"ssrc": "1592614637"}), "sipp sent the new SSRC")
}

func TestSippRetrievalWithSIPInfoKeys(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	voicemailtest.Provision(t, f.svc, "3008", "2468")
	sipp(t, f.addr, "retrieve_info.xml", map[string]string{"ruri": "sip:3008@" + f.addr, "caller": "3008", "first": "*"})
	f.log.waitFor(t, time.Second, "play", map[string]string{"prompt": "you-have"}) // logged in
	assert.NotEmpty(t, f.log.find("play", map[string]string{"prompt": "goodbye"}))
}

func TestSippLateOfferDeposit(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	voicemailtest.Provision(t, f.svc, "3009", "2468")
	require.NoError(t, f.svc.PutGreeting(context.Background(), "3009", voicemail.GreetingUnavailable, toneWAV(600, 300)))
	sipp(t, f.addr, "deposit_late.xml", map[string]string{"ruri": "sip:3009@" + f.addr, "caller": "5550233",
		"pcap": sippShare + "/g711a.pcap"}, "-d", "1000")
	f.log.waitFor(t, 10*time.Second, "message stored", map[string]string{"mailbox": "3009"})
	assertRecordedFor(t, f, "3009", time.Second)
}

func TestSippSilenceEndsRecording(t *testing.T) {
	t.Parallel()
	f := start(t, Config{SilenceTimeout: 2500 * time.Millisecond})
	voicemailtest.Provision(t, f.svc, "3010", "2468")
	require.NoError(t, f.svc.PutGreeting(context.Background(), "3010", voicemail.GreetingUnavailable, toneWAV(600, 300)))
	// sipp talks for 7 s, then is silent (no BYE): the server ends the message, confirms, hangs up.
	sipp(t, f.addr, "deposit_vanish.xml", map[string]string{"ruri": "sip:3010@" + f.addr, "caller": "5550244", "pcap": sippShare + "/g711a.pcap"}, "-d", "2000")
	assert.NotEmpty(t, f.log.find("recorded", map[string]string{"reason": "silence"}))
	assert.NotEmpty(t, f.log.find("play", map[string]string{"prompt": "message-saved"}))
	want := f.log.streamedAfterBeep(t, "3010", g711aDuration)
	assert.InDelta(t, want.Seconds(), onlyMessage(t, f.svc, "3010").Duration.Seconds(), 0.3, "speech kept, the silence trimmed")
}

func TestSippMaxLengthEndsRecording(t *testing.T) {
	t.Parallel()
	f := start(t, Config{SilenceTimeout: 30 * time.Second})
	_, _, err := f.svc.Provision(context.Background(), "3011", voicemail.ProvisionRequest{PIN: "2468", MaxMessageSeconds: 3})
	require.NoError(t, err)
	require.NoError(t, f.svc.PutGreeting(context.Background(), "3011", voicemail.GreetingUnavailable, toneWAV(600, 300)))
	sipp(t, f.addr, "deposit_vanish.xml", map[string]string{"ruri": "sip:3011@" + f.addr, "caller": "5550255", "pcap": sippShare + "/g711a.pcap"}, "-d", "1000")
	assert.NotEmpty(t, f.log.find("recorded", map[string]string{"reason": "max-length"}))
	msg := onlyMessage(t, f.svc, "3011")
	assert.InDelta(t, 3.0, msg.Duration.Seconds(), 0.01, "cut at the mailbox's limit")
}

func TestGreetingChoice(t *testing.T) {
	ctx := context.Background()
	f := start(t, Config{})
	log := f.srv.log
	voicemailtest.Provision(t, f.svc, "3012", "2468")
	choose := func(c Cause) greeting {
		return f.srv.chooseGreeting(ctx, log, "3012", c, voicemail.GreetingUnavailable)
	}
	assert.Equal(t, greeting{Builtin: "unavailable"}, choose(CauseUnavailable))
	assert.Equal(t, greeting{Builtin: "busy"}, choose(CauseBusy))

	require.NoError(t, f.svc.PutGreeting(ctx, "3012", voicemail.GreetingName, toneWAV(300, 200)))
	g := choose(CauseBusy)
	assert.Equal(t, voicemail.GreetingName, g.Kind)
	assert.Equal(t, "is-busy", g.Builtin, "name, then \"is busy\"")

	require.NoError(t, f.svc.PutGreeting(ctx, "3012", voicemail.GreetingUnavailable, toneWAV(400, 200)))
	assert.Equal(t, voicemail.GreetingUnavailable, choose(CauseUnavailable).Kind)
	require.NoError(t, f.svc.PutGreeting(ctx, "3012", voicemail.GreetingTemporary, toneWAV(500, 200)))
	assert.Equal(t, voicemail.GreetingTemporary, choose(CauseUnavailable).Kind, "temporary overrides unavailable")
	assert.Equal(t, voicemail.GreetingName, choose(CauseBusy).Kind, "but not busy")
	require.NoError(t, f.svc.PutGreeting(ctx, "3012", voicemail.GreetingBusy, toneWAV(600, 200)))
	assert.Equal(t, greeting{Kind: voicemail.GreetingBusy, WAV: choose(CauseBusy).WAV}, choose(CauseBusy))
}

func TestSippStarDuringGreetingLogsIn(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	voicemailtest.Provision(t, f.svc, "3013", "2468")
	// A forwarded call (RFC 4458, no answer) into the deposit greeting; '*' switches to login.
	ruri := "sip:voicemail@" + f.addr + ";target=3013;cause=408"
	sipp(t, f.addr, "retrieve_info.xml", map[string]string{"ruri": ruri, "caller": "5550266", "first": "*"})
	assert.NotEmpty(t, f.log.find("login from greeting", map[string]string{"mailbox": "3013"}))
	f.log.waitFor(t, time.Second, "play", map[string]string{"prompt": "you-have"})
	assert.Empty(t, f.log.find("play", map[string]string{"prompt": "beep"}), "no recording")
	msgs, err := f.svc.Messages(context.Background(), "3013", "")
	require.NoError(t, err)
	assert.Empty(t, msgs)
}
