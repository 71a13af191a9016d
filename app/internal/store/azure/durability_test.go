package azure_test

import (
	"context"
	"strings"
	"sync/atomic"
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

// killingMeta stops real Azurite services when a deposit writes its message row: the store
// then fails in the middle of a deposit, after the mailbox was read and while the audio
// uploads. With afterRow the row is written first; gate, when set, holds the audio upload until
// then, so the upload is the step that fails.
type killingMeta struct {
	store.Metadata
	t        *testing.T
	kill     []azurite.Service
	afterRow bool
	arm      atomic.Bool
	gate     chan struct{}
}

func (k *killingMeta) Insert(ctx context.Context, partition, key string, data []byte) (store.Row, error) {
	if !k.arm.CompareAndSwap(true, false) {
		return k.Metadata.Insert(ctx, partition, key, data)
	}
	var row store.Row
	var err error
	if k.afterRow {
		row, err = k.Metadata.Insert(ctx, partition, key, data)
	}
	for _, s := range k.kill {
		if serr := az.Stop(s); serr != nil {
			k.t.Errorf("stop %s: %v", s, serr)
		}
	}
	if k.gate != nil {
		close(k.gate)
	}
	if !k.afterRow {
		row, err = k.Metadata.Insert(ctx, partition, key, data)
	}
	return row, err
}

// gatedBlobs holds audio uploads until gate is closed.
type gatedBlobs struct {
	store.Blobs
	gate chan struct{}
}

func (g gatedBlobs) Put(ctx context.Context, name string, data []byte) error {
	if strings.HasPrefix(name, "audio/") {
		<-g.gate
	}
	return g.Blobs.Put(ctx, name, data)
}

// drainUntil runs the drainer until the message is listed and its audio can be read.
func drainUntil(t *testing.T, svc *vm.Service, number, id string) {
	t.Helper()
	ctx := context.Background()
	require.Eventually(t, func() bool {
		_, _ = svc.Drain(ctx)
		_, err := svc.Audio(ctx, number, id)
		return err == nil
	}, 20*time.Second, 200*time.Millisecond, "queued deposit %s never reached the store", id)
}

func TestDepositSurvivesTableOutageMidDeposit(t *testing.T) {
	ctx := context.Background()
	b, err := azure.Open(ctx, config(az.ConnectionString()))
	require.NoError(t, err)
	km := &killingMeta{Metadata: b.Meta, t: t, kill: []azurite.Service{azurite.Table}}
	b.Meta = km
	svc, err := vm.New(vm.Options{Backend: b, Region: "west", DrainVisibility: time.Second})
	require.NoError(t, err)
	voicemailtest.Provision(t, svc, "4930300", "1234")
	_, err = svc.CanDeposit(ctx, "4930300")
	require.NoError(t, err)
	events, cancel := svc.Subscribe("4930300")
	defer cancel()

	wav := voicemailtest.WAV(audio.ULaw, 5*time.Second)
	km.arm.Store(true)
	t.Cleanup(func() { _ = az.Restart(context.Background(), azurite.Table) })
	m, err := svc.Deposit(ctx, "4930300", vm.Deposit{Caller: "+4917", Audio: wav})
	require.NoError(t, err, "deposit accepted through the queue although the table died mid-deposit")

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

// The row of a fresh deposit is written while its audio uploads. When the blob service dies
// after the row is written, the audio goes through the queue and joins the row later.
func TestDepositSurvivesBlobOutageAfterRowWritten(t *testing.T) {
	ctx := context.Background()
	b, err := azure.Open(ctx, config(az.ConnectionString()))
	require.NoError(t, err)
	gate := make(chan struct{})
	km := &killingMeta{Metadata: b.Meta, t: t, kill: []azurite.Service{azurite.Blob}, afterRow: true, gate: gate}
	b.Meta, b.Blobs = km, gatedBlobs{Blobs: b.Blobs, gate: gate}
	svc, err := vm.New(vm.Options{Backend: b, Region: "west", DrainVisibility: time.Second})
	require.NoError(t, err)
	voicemailtest.Provision(t, svc, "4930310", "1234")
	events, cancel := svc.Subscribe("4930310")
	defer cancel()

	wav := voicemailtest.WAV(audio.PCM16, 30*time.Second) // 480 kB: chunked through the queue
	km.arm.Store(true)
	t.Cleanup(func() { _ = az.Restart(context.Background(), azurite.Blob) })
	m, err := svc.Deposit(ctx, "4930310", vm.Deposit{Caller: "+4917", Audio: wav})
	require.NoError(t, err, "deposit accepted through the queue although the blob service died mid-deposit")
	_, err = svc.Audio(ctx, "4930310", m.ID)
	assert.ErrorIs(t, err, vm.ErrUnavailable, "the audio is not stored yet")
	_, _ = svc.Drain(ctx) // chunks cannot be staged yet; nothing may be lost

	require.NoError(t, az.Restart(ctx, azurite.Blob))
	drainUntil(t, svc, "4930310", m.ID)
	got, err := svc.Audio(ctx, "4930310", m.ID)
	require.NoError(t, err)
	assert.Equal(t, wav, got)
	select {
	case ev := <-events:
		assert.Equal(t, vm.EventDeposited, ev.Kind)
		assert.Equal(t, m.ID, ev.MessageID)
	case <-time.After(5 * time.Second):
		t.Fatal("no deposit event once the queued audio was stored")
	}
	list, err := svc.Messages(ctx, "4930310", "")
	require.NoError(t, err)
	assert.Len(t, list, 1)
	pending, err := b.Blobs.List(ctx, "pending/")
	require.NoError(t, err)
	assert.Empty(t, pending, "staging blobs cleaned up")
}

// When the audio upload and the queue both fail after the row was written, the deposit is
// refused and its row withdrawn: no message is listed without audio.
func TestRefusedDepositWithdrawsItsRow(t *testing.T) {
	ctx := context.Background()
	b, err := azure.Open(ctx, config(az.ConnectionString()))
	require.NoError(t, err)
	gate := make(chan struct{})
	km := &killingMeta{Metadata: b.Meta, t: t, kill: []azurite.Service{azurite.Blob, azurite.Queue}, afterRow: true, gate: gate}
	b.Meta, b.Blobs = km, gatedBlobs{Blobs: b.Blobs, gate: gate}
	svc, err := vm.New(vm.Options{Backend: b, Region: "west"})
	require.NoError(t, err)
	voicemailtest.Provision(t, svc, "4930320", "1234")

	km.arm.Store(true)
	t.Cleanup(func() {
		_ = az.Restart(context.Background(), azurite.Blob)
		_ = az.Restart(context.Background(), azurite.Queue)
	})
	_, err = svc.Deposit(ctx, "4930320", vm.Deposit{Caller: "+4917", Audio: voicemailtest.WAV(audio.ALaw, time.Second)})
	require.ErrorIs(t, err, vm.ErrUnavailable)
	list, err := svc.Messages(ctx, "4930320", "")
	require.NoError(t, err)
	assert.Empty(t, list, "the refused deposit's row was withdrawn")
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
