package voicemail_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// Guessable PINs are the first an attacker tries; the service must refuse them.
func TestAttackTrivialPINsAccepted(t *testing.T) {
	ctx := context.Background()
	fixture := voicemailtest.New(t)
	svc, err := vm.New(vm.Options{Backend: fixture.Backend(), Region: "local"})
	require.NoError(t, err)
	accepted := 0
	trivial := []string{"0000", "1111", "1234", "4321", "123456", "1212", "2580", "5551234", "1234"}
	for _, pin := range trivial {
		if _, _, err := svc.Provision(ctx, "5551234", vm.ProvisionRequest{PIN: pin}); err == nil {
			accepted++
		} else {
			assert.ErrorIs(t, err, vm.ErrInvalid)
		}
	}
	t.Logf("%d of %d guessable PINs accepted", accepted, len(trivial))
	assert.Zero(t, accepted)
	_, _, err = svc.Provision(ctx, "5551234", vm.ProvisionRequest{PIN: "8264"})
	require.NoError(t, err)
	assert.ErrorIs(t, svc.ChangePIN(ctx, "5551234", "9999"), vm.ErrInvalid)
	assert.NoError(t, svc.ChangePIN(ctx, "5551234", "730519"))
}

// A subscriber points notify.mwiTarget at an address of their choosing (a victim, or a host
// that lets them probe the operator's network): the platform would send it NOTIFYs. Targets
// must name one of the operator's MWI domains; look-alike hosts do not match.
func TestAttackMWITargetOutsideOperatorDomains(t *testing.T) {
	ctx := context.Background()
	svc, _ := voicemailtest.NewWithOptions(t, vm.Options{MWIDomains: []string{"mwi.operator.example"}})
	_, _, err := svc.Provision(ctx, "4930222", vm.ProvisionRequest{PIN: "8264"})
	require.NoError(t, err)
	refused := 0
	for _, target := range []string{"sip:victim@attacker.example", "sip:x@192.0.2.99:5060", "sips:x@evilmwi.operator.example",
		"sip:x@mwi.operator.example.attacker.example", "sip:mwi.operator.example@attacker.example"} {
		_, err := svc.Configure(ctx, "4930222", vm.MailboxPatch{Notify: &vm.Notification{MWITarget: target}})
		if assert.ErrorIs(t, err, vm.ErrInvalid, target) {
			refused++
		}
		_, _, err = svc.Provision(ctx, "4930223", vm.ProvisionRequest{PIN: "8264", Notify: vm.Notification{MWITarget: target}})
		assert.ErrorIs(t, err, vm.ErrInvalid, "provisioning with %s", target)
	}
	t.Logf("MWI targets outside the operator's domains refused: %d of 5", refused)
	mb, err := svc.Configure(ctx, "4930222", vm.MailboxPatch{Notify: &vm.Notification{MWITarget: "sip:4930222@edge1.mwi.operator.example;transport=tcp"}})
	require.NoError(t, err, "a target of the operator's domain")
	assert.Equal(t, "sip:4930222@edge1.mwi.operator.example;transport=tcp", mb.Notify.MWITarget)
}

// Many callers deposit into one mailbox at once (a flood, or a mass call): each deposit read
// the count before the others stored their message, so the mailbox overflowed its limit.
// Deposits into one mailbox are admitted one at a time within a process, so the limit holds.
func TestAttackConcurrentDepositsOvershootMaxMessages(t *testing.T) {
	ctx := context.Background()
	svc := voicemailtest.New(t)
	_, _, err := svc.Provision(ctx, "4930333", vm.ProvisionRequest{PIN: "8264", MaxMessages: 5})
	require.NoError(t, err)
	const n = 50
	accepted := depositAll(t, []*vm.Service{svc}, "4930333", n)
	full := n - accepted
	msgs, err := svc.Messages(ctx, "4930333", vm.FolderNew)
	require.NoError(t, err)
	t.Logf("%d concurrent deposits into a mailbox limited to 5: %d accepted, %d refused full, %d stored", n, accepted, full, len(msgs))
	assert.Equal(t, 5, accepted)
	assert.Len(t, msgs, 5, "the limit holds under concurrency")
}

// "+15551234", "0015551234" and "15551234" were three mailboxes: a caller reaching one form
// and a subscriber logging in with another saw different messages, and a PIN set on one did
// not protect the others. One normal form (E.164 digits) makes them one mailbox; a national
// form takes the operator's country code, or is refused without one.
func TestAttackOneLineThreeMailboxes(t *testing.T) {
	ctx := context.Background()
	svc, _ := voicemailtest.NewWithOptions(t, vm.Options{CountryCode: "1"})
	_, created, err := svc.Provision(ctx, "+15551234", vm.ProvisionRequest{PIN: "8264"})
	require.NoError(t, err)
	require.True(t, created)
	forms := []string{"+15551234", "0015551234", "15551234", "05551234"}
	distinct := 0
	for _, n := range forms {
		_, created, err := svc.Provision(ctx, n, vm.ProvisionRequest{PIN: "8264"})
		require.NoError(t, err, n)
		if created {
			distinct++
		}
		mb, err := svc.Mailbox(ctx, n)
		require.NoError(t, err, n)
		assert.Equal(t, "15551234", mb.Number, n)
	}
	t.Logf("forms %v: %d extra mailboxes created", forms, distinct)
	assert.Zero(t, distinct, "every form names the one mailbox")
	voicemailtest.Deposit(t, svc, "0015551234", "+4917", time.Second)
	msgs, err := svc.Messages(ctx, "+15551234", "")
	require.NoError(t, err)
	assert.Len(t, msgs, 1, "a deposit to one form is seen through another")
	require.NoError(t, svc.Login(ctx, "05551234", "8264"))

	noCC, _ := voicemailtest.NewWithOptions(t, vm.Options{})
	_, _, err = noCC.Provision(ctx, "05551234", vm.ProvisionRequest{PIN: "8264"})
	assert.ErrorIs(t, err, vm.ErrInvalid, "a national number without a country code is ambiguous")
}
