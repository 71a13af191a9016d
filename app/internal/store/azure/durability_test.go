package azure_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/azurite"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// killingBlobs stops a real Azurite service right after an audio upload succeeds, so the store
// fails in the middle of a deposit (between the audio and the metadata write).
type killingBlobs struct {
	store.Blobs
	t    *testing.T
	kill azurite.Service
	arm  bool
}

func (k *killingBlobs) Put(ctx context.Context, name string, data []byte) error {
	err := k.Blobs.Put(ctx, name, data)
	if err == nil && k.arm && len(name) > 6 && name[:6] == "audio/" {
		k.arm = false
		require.NoError(k.t, az.Stop(k.kill))
	}
	return err
}

// drainUntil runs the drainer until the message is listed.
func drainUntil(t *testing.T, svc *vm.Service, number, id string) {
	t.Helper()
	ctx := context.Background()
	require.Eventually(t, func() bool {
		_, _ = svc.Drain(ctx)
		_, err := svc.Message(ctx, number, id)
		return err == nil
	}, 20*time.Second, 200*time.Millisecond, "queued deposit %s never reached the store", id)
}

func TestDepositSurvivesTableOutageMidDeposit(t *testing.T) {
	ctx := context.Background()
	b, err := azure.Open(ctx, config(az.ConnectionString()))
	require.NoError(t, err)
	kb := &killingBlobs{Blobs: b.Blobs, t: t, kill: azurite.Table}
	b.Blobs = kb
	svc, err := vm.New(vm.Options{Backend: b, Region: "west", DrainVisibility: time.Second})
	require.NoError(t, err)
	voicemailtest.Provision(t, svc, "4930300", "1234")
	_, err = svc.CanDeposit(ctx, "4930300")
	require.NoError(t, err)
	events, cancel := svc.Subscribe("4930300")
	defer cancel()

	wav := voicemailtest.WAV(audio.ULaw, 5*time.Second)
	kb.arm = true
	m, err := svc.Deposit(ctx, "4930300", vm.Deposit{Caller: "+4917", Audio: wav})
	require.NoError(t, err, "deposit accepted through the queue although the table died mid-deposit")
	t.Cleanup(func() { _ = az.Restart(context.Background(), azurite.Table) })

	rep := newHealth(b).Check(ctx)
	assert.Equal(t, []string{"metadata-read", "metadata-write"}, rep.Unhealthy, "health names the failed table")

	// While the table is down the message cannot be read, and draining fails without loss.
	_, err = svc.Drain(ctx)
	assert.Error(t, err)
	_, err = svc.Message(ctx, "4930300", m.ID)
	assert.ErrorIs(t, err, vm.ErrUnavailable)

	require.NoError(t, az.Restart(ctx, azurite.Table))
	_, err = svc.Mailbox(ctx, "4930300")
	require.NoError(t, err, "the table kept its data across the restart")
	drainUntil(t, svc, "4930300", m.ID)
	got, err := svc.Audio(ctx, "4930300", m.ID)
	require.NoError(t, err)
	assert.Equal(t, wav, got)
	ev := <-events
	assert.Equal(t, vm.EventDeposited, ev.Kind)
	assert.Equal(t, m.ID, ev.MessageID)

	// The retry of the same deposit (a client that timed out) is idempotent.
	again, err := svc.Deposit(ctx, "4930300", vm.Deposit{ID: m.ID, Caller: "+4917", Audio: wav})
	require.NoError(t, err)
	assert.Equal(t, m.ID, again.ID)
	list, err := svc.Messages(ctx, "4930300", "")
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func TestDepositSurvivesBlobOutage(t *testing.T) {
	ctx := context.Background()
	b, err := azure.Open(ctx, config(az.ConnectionString()))
	require.NoError(t, err)
	svc, err := vm.New(vm.Options{Backend: b, Region: "west", DrainVisibility: time.Second})
	require.NoError(t, err)
	voicemailtest.Provision(t, svc, "4930400", "1234")

	require.NoError(t, az.Stop(azurite.Blob))
	t.Cleanup(func() { _ = az.Restart(context.Background(), azurite.Blob) })
	long := voicemailtest.WAV(audio.PCM16, 30*time.Second) // 480 kB: chunked through the queue
	m1, err := svc.Deposit(ctx, "4930400", vm.Deposit{Caller: "a", Audio: long})
	require.NoError(t, err)
	short := voicemailtest.WAV(audio.ALaw, time.Second)
	m2, err := svc.Deposit(ctx, "4930400", vm.Deposit{Caller: "b", Audio: short})
	require.NoError(t, err)
	_, _ = svc.Drain(ctx) // chunks cannot be staged yet; nothing may be lost
	rep := newHealth(b).Check(ctx)
	assert.Equal(t, []string{"state"}, rep.Unhealthy, "health names the state blob it cannot read")

	require.NoError(t, az.Restart(ctx, azurite.Blob))
	drainUntil(t, svc, "4930400", m1.ID)
	drainUntil(t, svc, "4930400", m2.ID)
	for _, c := range []struct {
		id  string
		wav []byte
	}{{m1.ID, long}, {m2.ID, short}} {
		got, err := svc.Audio(ctx, "4930400", c.id)
		require.NoError(t, err)
		assert.Equal(t, c.wav, got)
	}
	pending, err := b.Blobs.List(ctx, "pending/")
	require.NoError(t, err)
	assert.Empty(t, pending, "staging blobs cleaned up")
}
