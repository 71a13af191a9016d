package imap

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// uidState is what a client caches about a folder: UIDVALIDITY, UIDNEXT and the UID list.
type uidState struct{ validity, next, uids string }

func selectState(t *testing.T, rc *rawConn, folder string) uidState {
	t.Helper()
	var st uidState
	for _, l := range rc.cmd("s", "SELECT "+folder) {
		if v, ok := strings.CutPrefix(l, "* OK [UIDVALIDITY "); ok {
			st.validity, _, _ = strings.Cut(v, "]")
		}
		if v, ok := strings.CutPrefix(l, "* OK [UIDNEXT "); ok {
			st.next, _, _ = strings.Cut(v, "]")
		}
	}
	st.uids = rc.cmd("u", "UID SEARCH ALL")[0]
	return st
}

// RFC 3501 2.3.1.1: UIDVALIDITY stays while UIDs persist, and UIDNEXT changes only when a
// message is added. Both folders, across sessions, time and stamps; deletions renumber nothing.
func TestUIDValidityAndUIDNextAreStable(t *testing.T) {
	t.Parallel()
	svc := voicemailtest.New(t)
	other, _ := voicemailtest.NewWithOptions(t, voicemail.Options{Backend: svc.Backend(), Node: "local/stamp2"})
	voicemailtest.Provision(t, svc, testNumber, testPIN)
	ctx := context.Background()
	// Two deposits in the same 100 ms tick: the second UID is bumped above the first.
	now := time.Now()
	var ids []string
	for i := range 3 {
		m, err := svc.Deposit(ctx, testNumber, voicemail.Deposit{
			ID:     voicemail.NewMessageID("local", now.Add(time.Duration(i)*time.Millisecond)),
			Caller: fmt.Sprint("+1555111000", i), Audio: voicemailtest.WAV(audio.ALaw, time.Second),
		})
		require.NoError(t, err)
		ids = append(ids, m.ID)
	}
	require.NoError(t, svc.PutGreeting(ctx, testNumber, voicemail.GreetingBusy, voicemailtest.WAV(audio.PCM16, time.Second)))
	e1, e2 := startEnvWith(t, svc, Config{}), startEnvWith(t, other, Config{})

	view := func(addr, folder string) uidState {
		rc := dialRaw(t, addr)
		rc.login()
		return selectState(t, rc, folder)
	}
	inbox, greetings := view(e1.addr, "INBOX"), view(e1.addr, "Greetings")
	require.Regexp(t, `^\* SEARCH \d+ \d+ \d+$`, inbox.uids)
	require.Regexp(t, `^\* SEARCH \d+$`, greetings.uids)
	// Long enough for the wall clock to move past a UID tick and a second.
	time.Sleep(1100 * time.Millisecond)
	for _, addr := range []string{e1.addr, e2.addr} {
		assert.Equal(t, inbox, view(addr, "INBOX"), "INBOX in a later session")
		assert.Equal(t, greetings, view(addr, "Greetings"), "Greetings in a later session")
	}
	assert.Equal(t, inbox.validity, greetings.validity, "both folders' UIDs live as long as the mailbox")

	// Deleting the first and the last message renumbers nothing and keeps UIDNEXT.
	uids := strings.Fields(strings.TrimPrefix(inbox.uids, "* SEARCH "))
	require.NoError(t, svc.DeleteMessage(ctx, testNumber, ids[0]))
	require.NoError(t, svc.DeleteMessage(ctx, testNumber, ids[2]))
	after := view(e2.addr, "INBOX")
	assert.Equal(t, uidState{inbox.validity, inbox.next, "* SEARCH " + uids[1]}, after)

	// A re-recorded greeting is a new message: greater UID and UIDNEXT, same UIDVALIDITY.
	require.NoError(t, svc.PutGreeting(ctx, testNumber, voicemail.GreetingBusy, voicemailtest.WAV(audio.PCM16, 2*time.Second)))
	again := view(e1.addr, "Greetings")
	assert.Equal(t, greetings.validity, again.validity)
	assert.Greater(t, again.uids, greetings.uids)
	assert.Greater(t, again.next, greetings.next)
	assert.Equal(t, again, view(e2.addr, "Greetings"))

	// STATUS agrees with SELECT.
	rc := dialRaw(t, e2.addr)
	rc.login()
	assert.Equal(t, fmt.Sprintf(`* STATUS "INBOX" (UIDNEXT %s UIDVALIDITY %s)`, inbox.next, inbox.validity),
		rc.cmd("st", "STATUS INBOX (UIDNEXT UIDVALIDITY)")[0])
	assert.Equal(t, fmt.Sprintf(`* STATUS "Greetings" (UIDNEXT %s UIDVALIDITY %s)`, again.next, again.validity),
		rc.cmd("st", "STATUS Greetings (UIDNEXT UIDVALIDITY)")[0])
}

// Client flags are permanent: stored through the service, merged like other message state,
// seen by the next session and by the HTTP API. Flags the server does not keep are not
// offered in PERMANENTFLAGS and are not echoed back.
func TestClientFlagsArePermanent(t *testing.T) {
	t.Parallel()
	e := startEnv(t, Config{})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	m := voicemailtest.Deposit(t, e.svc, testNumber, "+15551110001", time.Second)
	rc := dialRaw(t, e.addr)
	rc.login()
	sel := strings.Join(rc.cmd("s", "SELECT INBOX"), "\n")
	assert.Contains(t, sel, `* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Draft \Deleted)]`)
	assert.Contains(t, sel, `* FLAGS (\Seen \Answered \Flagged \Draft \Deleted)`)
	uid := uidOf(t, rc, 1)
	assert.Equal(t, []string{"* 1 FETCH (UID " + uid + ` FLAGS (\Flagged))`, "f OK UID STORE completed"},
		rc.cmd("f", "UID STORE "+uid+` +FLAGS (\Flagged $Junk)`))
	assert.Equal(t, []string{"* 1 FETCH (UID " + uid + ` FLAGS (\Answered \Flagged))`, "f OK UID STORE completed"},
		rc.cmd("f", "UID STORE "+uid+` +FLAGS (\Answered)`))
	assert.Equal(t, []string{"* SEARCH " + uid, "f OK UID SEARCH completed"}, rc.cmd("f", "UID SEARCH FLAGGED ANSWERED UNDRAFT"))

	web := startHTTP(t, e.svc)
	assert.Equal(t, []string{`\Answered`, `\Flagged`}, web.message(m.ID).Flags, "HTTP sees the flags")
	code, body := web.do("PATCH", "/v1/mailboxes/"+testNumber+"/messages/"+m.ID, []byte(`{"flags":{"\\Draft":true}}`), false,
		map[string]string{"Content-Type": "application/json"})
	require.Equal(t, 200, code, string(body))
	assert.Equal(t, []string{"* 1 FETCH (UID " + uid + ` FLAGS (\Answered \Flagged \Draft))`, "h OK NOOP completed"}, rc.cmd("h", "NOOP"))
	code, body = web.do("PATCH", "/v1/mailboxes/"+testNumber+"/messages/"+m.ID, []byte(`{"flags":{"\\Draft":false,"$Junk":true}}`), false,
		map[string]string{"Content-Type": "application/json"})
	assert.Equal(t, 400, code, "only the kept flags: %s", body)

	rc2 := dialRaw(t, e.addr)
	rc2.login()
	rc2.cmd("s", "SELECT INBOX")
	assert.Equal(t, []string{`* 1 FETCH (FLAGS (\Answered \Flagged \Draft))`, "g OK FETCH completed"}, rc2.cmd("g", "FETCH 1 FLAGS"))
	assert.Equal(t, []string{`* 1 FETCH (FLAGS (\Answered))`, "g OK STORE completed"}, rc2.cmd("g", `STORE 1 -FLAGS (\Flagged \Draft)`))
	// The first session learns of the change on NOOP.
	assert.Equal(t, []string{"* 1 FETCH (UID " + uid + ` FLAGS (\Answered))`, "n OK NOOP completed"}, rc.cmd("n", "NOOP"))
	got, err := e.svc.Message(context.Background(), testNumber, m.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{`\Answered`}, got.Flags)
	assert.False(t, got.Heard, "client flags leave heard alone")
}

// RFC 3501 6.4.5: any non-PEEK BODY[section] fetch sets \Seen, the audio part's included. VVM
// clients fetch with BODY.PEEK and STORE \Seen when the subscriber plays the message.
func TestBodySectionFetchMarksHeard(t *testing.T) {
	t.Parallel()
	e := startEnv(t, Config{})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	m := voicemailtest.Deposit(t, e.svc, testNumber, "+15551110001", time.Second)
	rc := dialRaw(t, e.addr)
	rc.login()
	rc.cmd("s", "SELECT INBOX")
	heard := func() bool {
		got, err := e.svc.Message(context.Background(), testNumber, m.ID)
		require.NoError(t, err)
		return got.Heard
	}
	peek := rc.cmd("p", "FETCH 1 (BODY.PEEK[2])")
	assert.NotContains(t, strings.Join(peek, "\n"), `\Seen`)
	assert.False(t, heard(), "BODY.PEEK[2] leaves it unheard")
	body := rc.cmd("b", "FETCH 1 (BODY[2])")
	assert.Contains(t, body[len(body)-2], `FLAGS (\Seen))`, "the new flag is sent with the data")
	assert.True(t, heard(), "BODY[2] marks it heard")
}
