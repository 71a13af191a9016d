package azure_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/crdt"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
)

// killingMeta stops real Azurite services when a deposit writes its message row: the store
// then fails in the middle of a deposit, after the mailbox was read and the audio stored.
type killingMeta struct {
	store.Metadata
	t    *testing.T
	kill []azurite.Service
	arm  atomic.Bool
}

func (k *killingMeta) Insert(ctx context.Context, partition, key string, data []byte) (store.Row, error) {
	if k.arm.CompareAndSwap(true, false) {
		for _, s := range k.kill {
			if serr := az.Stop(s); serr != nil {
				k.t.Errorf("stop %s: %v", s, serr)
			}
		}
	}
	return k.Metadata.Insert(ctx, partition, key, data)
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
	svc, err := vm.New(vm.Options{AllowGuessablePINs: true, Backend: b, Region: "west", DrainVisibility: time.Second})
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

// order records, per deposit, whether the message row was inserted before its audio upload
// had finished: orderedBlobs and orderedMeta wrap the two stores around one order.
type order struct {
	mu          sync.Mutex
	uploaded    map[string]bool // audio ref -> upload finished
	inserts     int
	rowTooEarly []string
}

type orderedBlobs struct {
	store.Blobs
	o *order
}

func (b orderedBlobs) Put(ctx context.Context, name string, data []byte) error {
	err := b.Blobs.Put(ctx, name, data)
	b.o.mu.Lock()
	defer b.o.mu.Unlock()
	b.o.uploaded[name] = err == nil
	return err
}

type orderedMeta struct {
	store.Metadata
	o *order
}

func (m orderedMeta) Insert(ctx context.Context, partition, key string, data []byte) (store.Row, error) {
	var msg crdt.Message
	if json.Unmarshal(data, &msg) == nil && msg.Info != nil && msg.Info.AudioRef != "" {
		m.o.mu.Lock()
		m.o.inserts++
		if !m.o.uploaded[msg.Info.AudioRef] {
			m.o.rowTooEarly = append(m.o.rowTooEarly, msg.Info.AudioRef)
		}
		m.o.mu.Unlock()
	}
	return m.Metadata.Insert(ctx, partition, key, data)
}

// A message row is written only once its audio is stored, so no listed message ever points at
// missing audio, not even for a moment or after a crash; when the audio cannot be stored and
// the queue fails too, the deposit is refused and nothing is listed.
func TestDepositWritesNoRowBeforeItsAudio(t *testing.T) {
	ctx := context.Background()
	b, err := azure.Open(ctx, config(az.ConnectionString()))
	require.NoError(t, err)
	o := &order{uploaded: map[string]bool{}}
	b.Meta, b.Blobs = orderedMeta{b.Meta, o}, orderedBlobs{b.Blobs, o}
	svc, err := vm.New(vm.Options{AllowGuessablePINs: true, Backend: b, Region: "west"})
	require.NoError(t, err)
	voicemailtest.Provision(t, svc, "4930320", "1234")

	for range 5 {
		_, err := svc.Deposit(ctx, "4930320", vm.Deposit{Caller: "+4917", Audio: voicemailtest.WAV(audio.PCM16, 30*time.Second)})
		require.NoError(t, err)
	}
	o.mu.Lock()
	assert.Equal(t, 5, o.inserts, "one row per deposit")
	assert.Empty(t, o.rowTooEarly, "rows written before their audio was stored")
	o.mu.Unlock()

	require.NoError(t, az.Stop(azurite.Blob))
	require.NoError(t, az.Stop(azurite.Queue))
	t.Cleanup(func() {
		_ = az.Restart(context.Background(), azurite.Blob)
		_ = az.Restart(context.Background(), azurite.Queue)
	})
	_, err = svc.Deposit(ctx, "4930320", vm.Deposit{Caller: "+4917", Audio: voicemailtest.WAV(audio.ALaw, time.Second)})
	require.ErrorIs(t, err, vm.ErrUnavailable)
	list, err := svc.Messages(ctx, "4930320", "")
	require.NoError(t, err)
	assert.Len(t, list, 5, "the refused deposit left no row")
	o.mu.Lock()
	assert.Equal(t, 5, o.inserts, "no row was tried for audio that was never stored")
	o.mu.Unlock()
}

func TestDepositSurvivesBlobOutage(t *testing.T) {
	ctx := context.Background()
	b, err := azure.Open(ctx, config(az.ConnectionString()))
	require.NoError(t, err)
	svc, err := vm.New(vm.Options{AllowGuessablePINs: true, Backend: b, Region: "west", DrainVisibility: time.Second})
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
