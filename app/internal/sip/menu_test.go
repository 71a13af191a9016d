package sip

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// names lists what an output plays: prompt names, and "msg:<caller>" for message audio.
func names(o out) []string {
	var s []string
	for _, it := range o.Play {
		if it.Message != nil {
			s = append(s, "msg:"+it.Message.Caller)
		} else {
			s = append(s, it.Prompt)
		}
	}
	return s
}

// keys feeds a key sequence and returns the last output.
func keys(ctx context.Context, m *menu, ks string) out {
	var o out
	for _, k := range ks {
		o = m.key(ctx, k)
	}
	return o
}

func deposit(t *testing.T, svc *voicemail.Service, number, caller string) voicemail.Message {
	t.Helper()
	msg, err := svc.Deposit(context.Background(), number, voicemail.Deposit{Caller: caller, Audio: toneWAV(400, 200), Received: time.Now()})
	require.NoError(t, err)
	time.Sleep(2 * time.Millisecond) // distinct deposit times keep newest-first order stable
	return msg
}

func TestMenuLoginAndMessageNavigation(t *testing.T) {
	ctx := context.Background()
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, "2001", "4321")
	deposit(t, svc, "2001", "a")
	deposit(t, svc, "2001", "b")
	deposit(t, svc, "2001", "c")

	m := newMenu(svc, "2001")
	assert.Equal(t, []string{"enter-pin"}, names(m.start()))
	assert.Empty(t, names(keys(ctx, m, "4321")), "digits are collected silently")
	assert.Equal(t, []string{"you-have", "digit-3", "new-messages", "digit-0", "saved-messages", "main-menu"}, names(m.key(ctx, '#')))

	// 1: newest first.
	assert.Equal(t, []string{"message", "digit-1", "msg:c", "message-menu"}, names(m.key(ctx, '1')))
	assert.Equal(t, []string{"first-message", "message-menu"}, names(m.key(ctx, '4')))
	assert.Equal(t, []string{"message", "digit-2", "msg:b", "message-menu"}, names(m.key(ctx, '6')))
	assert.Equal(t, []string{"message", "digit-2", "msg:b", "message-menu"}, names(m.key(ctx, '5')), "5 repeats")
	assert.Equal(t, []string{"message", "digit-1", "msg:c", "message-menu"}, names(m.key(ctx, '4')))
	// 7 deletes c and moves on to b; 9 saves b and moves on to a. Each keeps the number it was
	// listed with, and going back skips the ones that left the folder.
	assert.Equal(t, []string{"deleted", "message", "digit-2", "msg:b", "message-menu"}, names(m.key(ctx, '7')))
	assert.Equal(t, []string{"saved", "message", "digit-3", "msg:a", "message-menu"}, names(m.key(ctx, '9')))
	assert.Equal(t, []string{"first-message", "message-menu"}, names(m.key(ctx, '4')))
	assert.Equal(t, []string{"message", "digit-3", "msg:a", "message-menu"}, names(m.key(ctx, '5')))
	assert.Equal(t, []string{"no-more", "main-menu"}, names(m.key(ctx, '6')))
	assert.Equal(t, []string{"invalid", "main-menu"}, names(m.key(ctx, '8')))
	assert.Equal(t, []string{"main-menu", "help"}, names(m.key(ctx, '*')))

	newMsgs, err := svc.Messages(ctx, "2001", voicemail.FolderNew)
	require.NoError(t, err)
	require.Len(t, newMsgs, 1)
	assert.Equal(t, "a", newMsgs[0].Caller)
	assert.True(t, newMsgs[0].Heard, "played messages are marked heard")
	saved, err := svc.Messages(ctx, "2001", voicemail.FolderSaved)
	require.NoError(t, err)
	require.Len(t, saved, 1)
	assert.Equal(t, "b", saved[0].Caller)

	assert.Equal(t, []string{"message", "digit-1", "msg:b", "message-menu"}, names(m.key(ctx, '2')))
	assert.Equal(t, []string{"main-menu"}, names(m.key(ctx, '#')))
	o := m.key(ctx, '#')
	assert.True(t, o.Hangup)
	assert.Equal(t, []string{"goodbye"}, names(o))
}

func TestMenuWrongPINsSlowTheCallerNotTheMailbox(t *testing.T) {
	ctx := voicemail.WithSource(context.Background(), "sip:15550001")
	svc, _ := voicemailtest.NewWithOptions(t, voicemail.Options{Auth: voicemail.AuthPolicy{FailureDelay: time.Millisecond}})
	voicemailtest.Provision(t, svc, "2002", "4321")

	m := newMenu(svc, "2002")
	m.start()
	assert.Equal(t, []string{"bad-pin", "enter-pin"}, names(keys(ctx, m, "1111#")))
	assert.Equal(t, []string{"bad-pin", "enter-pin"}, names(keys(ctx, m, "2222#")))
	o := keys(ctx, m, "3333#")
	assert.True(t, o.Hangup, "three wrong PINs end the call")

	// One more wrong PIN from this caller, then it must wait: even its right PIN is refused.
	keys(ctx, newMenu(svc, "2002"), "9999#")
	o = keys(ctx, newMenu(svc, "2002"), "4321#")
	assert.Equal(t, []string{"bad-pin", "goodbye"}, names(o))
	assert.True(t, o.Hangup)
	// The owner calling from elsewhere is not locked out.
	owner := voicemail.WithSource(context.Background(), "sip:2002")
	o = keys(owner, newMenu(svc, "2002"), "4321#")
	assert.NotContains(t, names(o), "bad-pin")
	assert.NoError(t, svc.Login(owner, "2002", "4321"))
}

func TestMenuAccessNumberAsksForMailbox(t *testing.T) {
	ctx := context.Background()
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, "2003", "4321")

	m := newMenu(svc, "")
	assert.Equal(t, []string{"enter-mailbox"}, names(m.start()))
	assert.Equal(t, []string{"enter-pin"}, names(keys(ctx, m, "9999#")), "unknown mailboxes are not revealed")
	assert.Equal(t, []string{"bad-pin", "enter-mailbox"}, names(keys(ctx, m, "4321#")))
	assert.Equal(t, []string{"enter-pin"}, names(keys(ctx, m, "2003#")))
	// Entry ends on timeout as well as on '#'.
	keys(ctx, m, "4321")
	assert.Contains(t, names(m.timeout(ctx)), "main-menu")
}

func TestMenuOptionsGreetingAndPIN(t *testing.T) {
	ctx := context.Background()
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, "2004", "4321")
	m := newMenu(svc, "2004")
	keys(ctx, m, "4321#")

	assert.Equal(t, []string{"options-menu"}, names(m.key(ctx, '0')))
	for i, kind := range voicemail.GreetingKinds {
		o := m.key(ctx, rune('1'+i))
		assert.Equal(t, kind, o.Record)
		assert.Equal(t, []string{"record-greeting"}, names(o))
		assert.Equal(t, []string{"greeting-saved", "options-menu"}, names(m.recorded(ctx, kind, toneWAV(300+float64(i)*100, 300))))
		got, err := svc.Greeting(ctx, "2004", kind)
		require.NoError(t, err)
		assert.NotEmpty(t, got)
	}
	assert.Equal(t, []string{"options-menu"}, names(m.recorded(ctx, voicemail.GreetingBusy, nil)), "nothing recorded, nothing stored")

	assert.Equal(t, []string{"new-pin"}, names(m.key(ctx, '5')))
	assert.Equal(t, []string{"pin-invalid", "new-pin"}, names(keys(ctx, m, "12#")))
	assert.Equal(t, []string{"confirm-pin"}, names(keys(ctx, m, "5678#")))
	assert.Equal(t, []string{"pin-mismatch", "options-menu"}, names(keys(ctx, m, "5679#")))
	m.key(ctx, '5')
	keys(ctx, m, "5678#")
	assert.Equal(t, []string{"pin-changed", "options-menu"}, names(keys(ctx, m, "5678#")))
	require.NoError(t, svc.Login(ctx, "2004", "5678"))
	assert.Equal(t, []string{"main-menu"}, names(m.key(ctx, '*')))
}

func TestMenuSilentCallerIsHungUp(t *testing.T) {
	ctx := context.Background()
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, "2005", "4321")
	m := newMenu(svc, "2005")
	keys(ctx, m, "4321#")
	assert.Equal(t, []string{"main-menu"}, names(m.timeout(ctx)))
	assert.Equal(t, []string{"main-menu"}, names(m.timeout(ctx)))
	o := m.timeout(ctx)
	assert.True(t, o.Hangup)
	assert.Equal(t, []string{"goodbye"}, names(o))
}
