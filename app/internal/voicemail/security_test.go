package voicemail_test

import (
	"context"
	"testing"

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
