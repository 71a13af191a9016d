// Package storetest is the conformance suite every store backend passes, at two levels: the
// store.Backend contract itself, and the voicemail service running on the backend (including
// two regions writing one mailbox concurrently, and replication between two stores).
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	vm "github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// Opener returns a fresh, empty backend; every call must return an independent store.
type Opener func(t *testing.T) *store.Backend

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	t.Run("Metadata", func(t *testing.T) { t.Parallel(); testMetadata(t, open(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { t.Parallel(); testConcurrentUpdates(t, open(t)) })
	t.Run("ExportImport", func(t *testing.T) { t.Parallel(); testExportImport(t, open(t), open(t)) })
	t.Run("Blobs", func(t *testing.T) { t.Parallel(); testBlobs(t, open(t)) })
	t.Run("Queue", func(t *testing.T) { t.Parallel(); testQueue(t, open(t)) })
	t.Run("State", func(t *testing.T) { t.Parallel(); testState(t, open(t)) })
	t.Run("Service", func(t *testing.T) { t.Parallel(); testService(t, open(t)) })
	t.Run("TwoRegionsOneStore", func(t *testing.T) { t.Parallel(); testTwoRegions(t, open(t)) })
	t.Run("TwoRegionsReplicated", func(t *testing.T) { t.Parallel(); testReplicated(t, open(t), open(t)) })
}

func testMetadata(t *testing.T, b *store.Backend) {
	ctx := context.Background()
	m := b.Meta
	_, err := m.Get(ctx, "100", "box~r1")
	assert.ErrorIs(t, err, store.ErrNotFound)

	r1, err := m.Update(ctx, "100", "box~r1", func(cur []byte) ([]byte, error) {
		assert.Nil(t, cur)
		return []byte(`{"a":1}`), nil
	})
	require.NoError(t, err)
	got, err := m.Get(ctx, "100", "box~r1")
	require.NoError(t, err)
	assert.Equal(t, r1, got)
	assert.JSONEq(t, `{"a":1}`, string(got.Data))

	r2, err := m.Update(ctx, "100", "box~r1", func(cur []byte) ([]byte, error) {
		assert.JSONEq(t, `{"a":1}`, string(cur))
		return []byte(`{"a":2}`), nil
	})
	require.NoError(t, err)
	assert.Greater(t, r2.Version, r1.Version)

	_, err = m.Update(ctx, "100", "box~r1", func([]byte) ([]byte, error) { return nil, fmt.Errorf("refused") })
	assert.ErrorContains(t, err, "refused")
	got, err = m.Get(ctx, "100", "box~r1")
	require.NoError(t, err)
	assert.Equal(t, r2.Version, got.Version, "a failed update changes nothing")

	ins, err := m.Insert(ctx, "100", "m:new~r1", []byte(`"fresh"`))
	require.NoError(t, err)
	got, err = m.Get(ctx, "100", "m:new~r1")
	require.NoError(t, err)
	assert.Equal(t, ins.Version, got.Version)
	assert.Equal(t, `"fresh"`, string(got.Data))
	_, err = m.Insert(ctx, "100", "m:new~r1", []byte(`"again"`))
	assert.ErrorIs(t, err, store.ErrExists)
	upd, err := m.Update(ctx, "100", "m:new~r1", func(cur []byte) ([]byte, error) {
		assert.Equal(t, `"fresh"`, string(cur))
		return []byte(`"updated"`), nil
	})
	require.NoError(t, err)
	assert.Greater(t, upd.Version, ins.Version)

	for _, k := range []string{"m:2~r1", "m:1~r2", "m:1~r1", "lock~r1"} {
		_, err := m.Update(ctx, "100", k, func([]byte) ([]byte, error) { return []byte(`"` + k + `"`), nil })
		require.NoError(t, err)
	}
	_, err = m.Update(ctx, "1000", "m:9~r1", func([]byte) ([]byte, error) { return []byte(`{}`), nil })
	require.NoError(t, err)

	rows, err := m.List(ctx, "100", "m:")
	require.NoError(t, err)
	assert.Equal(t, []string{"m:1~r1", "m:1~r2", "m:2~r1", "m:new~r1"}, keys(rows), "prefix, partition and key order")
	rows, err = m.List(ctx, "100", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"box~r1", "lock~r1", "m:1~r1", "m:1~r2", "m:2~r1", "m:new~r1"}, keys(rows))
	for _, r := range rows {
		got, err := m.Get(ctx, "100", r.Key)
		require.NoError(t, err)
		assert.Equal(t, got, r, "List and Get return the same row (partition, version, data)")
	}
	rows, err = m.List(ctx, "404", "")
	require.NoError(t, err)
	assert.Empty(t, rows)

	big := `"` + strings.Repeat("é<&>'\"x", 2000)[:12000] + `"`
	_, err = m.Update(ctx, "+4930", "box~r1", func([]byte) ([]byte, error) { return []byte(big), nil })
	require.NoError(t, err)
	got, err = m.Get(ctx, "+4930", "box~r1")
	require.NoError(t, err)
	assert.Equal(t, big, string(got.Data), "data round-trips byte for byte")
}

func keys(rows []store.Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Key)
	}
	return out
}

func testConcurrentUpdates(t *testing.T, b *store.Backend) {
	ctx := context.Background()
	const writers, each = 8, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := b.Meta.Update(ctx, "200", "counter~r1", func(cur []byte) ([]byte, error) {
					var seen []string
					if cur != nil {
						if err := json.Unmarshal(cur, &seen); err != nil {
							return nil, err
						}
					}
					return json.Marshal(append(seen, fmt.Sprintf("%d-%d", w, i)))
				})
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	got, err := b.Meta.Get(ctx, "200", "counter~r1")
	require.NoError(t, err)
	var seen []string
	require.NoError(t, json.Unmarshal(got.Data, &seen))
	assert.Len(t, seen, writers*each, "no concurrent update lost")
}

func testExportImport(t *testing.T, a, b *store.Backend) {
	ctx := context.Background()
	for _, k := range []string{"box~r1", "m:1~r1", "box~r2"} {
		_, err := a.Meta.Update(ctx, "300", k, func([]byte) ([]byte, error) { return []byte(`"v1"`), nil })
		require.NoError(t, err)
	}
	rows, err := a.Meta.Export(ctx, "r1", 0)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"box~r1", "m:1~r1"}, keys(rows))
	n, err := b.Meta.Import(ctx, rows)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = b.Meta.Import(ctx, rows)
	require.NoError(t, err)
	assert.Zero(t, n, "import is idempotent")

	cursor := rows[0].Version
	for _, r := range rows {
		cursor = max(cursor, r.Version)
	}
	newer, err := a.Meta.Update(ctx, "300", "box~r1", func([]byte) ([]byte, error) { return []byte(`"v2"`), nil })
	require.NoError(t, err)
	since, err := a.Meta.Export(ctx, "r1", cursor)
	require.NoError(t, err)
	assert.Equal(t, []string{"box~r1"}, keys(since), "only rows changed after the cursor")

	// Newer first, then the stale copy: the higher version stays.
	_, err = b.Meta.Import(ctx, since)
	require.NoError(t, err)
	n, err = b.Meta.Import(ctx, rows)
	require.NoError(t, err)
	assert.Zero(t, n)
	got, err := b.Meta.Get(ctx, "300", "box~r1")
	require.NoError(t, err)
	assert.Equal(t, newer.Version, got.Version)
	assert.Equal(t, `"v2"`, string(got.Data))
}

func testBlobs(t *testing.T, b *store.Backend) {
	ctx := context.Background()
	_, err := b.Blobs.Get(ctx, "audio/100/x.wav")
	assert.ErrorIs(t, err, store.ErrNotFound)
	big := make([]byte, 600_000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	require.NoError(t, b.Blobs.Put(ctx, "audio/100/a.wav", big))
	require.NoError(t, b.Blobs.Put(ctx, "audio/100/b.wav", []byte("b")))
	require.NoError(t, b.Blobs.Put(ctx, "audio/1000/c.wav", []byte("c")))
	got, err := b.Blobs.Get(ctx, "audio/100/a.wav")
	require.NoError(t, err)
	assert.Equal(t, big, got)
	require.NoError(t, b.Blobs.Put(ctx, "audio/100/b.wav", []byte("b2")))
	got, err = b.Blobs.Get(ctx, "audio/100/b.wav")
	require.NoError(t, err)
	assert.Equal(t, []byte("b2"), got, "put overwrites")
	names, err := b.Blobs.List(ctx, "audio/100/")
	require.NoError(t, err)
	assert.Equal(t, []string{"audio/100/a.wav", "audio/100/b.wav"}, names)
	require.NoError(t, b.Blobs.Delete(ctx, "audio/100/a.wav"))
	require.NoError(t, b.Blobs.Delete(ctx, "audio/100/a.wav"), "deleting a missing blob is fine")
	_, err = b.Blobs.Get(ctx, "audio/100/a.wav")
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func testQueue(t *testing.T, b *store.Backend) {
	ctx := context.Background()
	q := b.Queue
	got, err := q.Receive(ctx, 32, time.Second)
	require.NoError(t, err)
	assert.Empty(t, got)

	big := strings.Repeat("<&é\"'>\x00", store.MaxQueueMessage/9)
	require.NoError(t, q.Send(ctx, "one"))
	require.NoError(t, q.Send(ctx, big))
	assert.Error(t, q.Send(ctx, strings.Repeat("x", store.MaxQueueMessage+1)), "over the limit is refused")

	got, err = q.Receive(ctx, 32, 30*time.Second)
	require.NoError(t, err)
	require.Len(t, got, 2)
	texts := []string{got[0].Text, got[1].Text}
	assert.ElementsMatch(t, []string{"one", big}, texts, "text survives byte for byte")
	again, err := q.Receive(ctx, 32, 30*time.Second)
	require.NoError(t, err)
	assert.Empty(t, again, "received messages are hidden")
	for _, m := range got {
		require.NoError(t, q.Delete(ctx, m))
	}

	// The notification queue is a separate queue.
	require.NotNil(t, b.Notify)
	require.NoError(t, b.Notify.Send(ctx, "note"))
	got, err = q.Receive(ctx, 32, time.Second)
	require.NoError(t, err)
	assert.Empty(t, got, "a notification does not land in the deposit queue")
	notes, err := b.Notify.Receive(ctx, 32, time.Second)
	require.NoError(t, err)
	require.Len(t, notes, 1)
	assert.Equal(t, "note", notes[0].Text)
	require.NoError(t, b.Notify.Delete(ctx, notes[0]))

	require.NoError(t, q.Send(ctx, "retry"))
	first, err := q.Receive(ctx, 1, time.Second)
	require.NoError(t, err)
	require.Len(t, first, 1)
	var second []store.QueueMessage
	require.Eventually(t, func() bool {
		second, err = q.Receive(ctx, 1, 30*time.Second)
		return err == nil && len(second) == 1
	}, 5*time.Second, 100*time.Millisecond, "reappears after the visibility timeout")
	assert.Equal(t, "retry", second[0].Text)
	assert.GreaterOrEqual(t, second[0].DequeueCount, int64(2))
	assert.Error(t, q.Delete(ctx, first[0]), "a stale pop receipt cannot delete")
	require.NoError(t, q.Delete(ctx, second[0]))
}

func testState(t *testing.T, b *store.Backend) {
	ctx := context.Background()
	require.NoError(t, b.State.Remove(ctx))
	ok, err := b.State.Present(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, b.State.Write(ctx))
	ok, err = b.State.Present(ctx)
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, b.State.Remove(ctx))
	ok, err = b.State.Present(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
}

// WAV is a test recording of d.
func WAV(d time.Duration) []byte {
	return audio.Encode(audio.ALaw, audio.FromPCM16(audio.ALaw, audio.Tone(440, int(d/time.Millisecond), 8000)))
}

func newService(t *testing.T, b *store.Backend, region string) *vm.Service {
	svc, err := vm.New(vm.Options{Backend: b, Region: region})
	require.NoError(t, err)
	return svc
}

func testService(t *testing.T, b *store.Backend) {
	ctx := context.Background()
	svc := newService(t, b, "r1")
	_, created, err := svc.Provision(ctx, "4930100", vm.ProvisionRequest{PIN: "2468", DisplayName: "Conformance"})
	require.NoError(t, err)
	require.True(t, created)
	require.NoError(t, svc.Login(ctx, "4930100", "2468"))
	greeting := WAV(time.Second)
	require.NoError(t, svc.PutGreeting(ctx, "4930100", vm.GreetingUnavailable, greeting))
	g, err := svc.Greeting(ctx, "4930100", vm.GreetingUnavailable)
	require.NoError(t, err)
	assert.Equal(t, greeting, g)

	wav := WAV(3 * time.Second)
	m, err := svc.Deposit(ctx, "4930100", vm.Deposit{Caller: "+4917", Audio: wav})
	require.NoError(t, err)
	got, err := svc.Audio(ctx, "4930100", m.ID)
	require.NoError(t, err)
	assert.Equal(t, wav, got)
	heard := true
	_, err = svc.UpdateMessage(ctx, "4930100", m.ID, vm.MessageUpdate{Heard: &heard})
	require.NoError(t, err)
	sum, err := svc.Summary(ctx, "4930100")
	require.NoError(t, err)
	assert.Equal(t, vm.Summary{Old: 1}, sum)
	require.NoError(t, svc.DeleteMessage(ctx, "4930100", m.ID))
	list, err := svc.Messages(ctx, "4930100", "")
	require.NoError(t, err)
	assert.Empty(t, list)
	require.NoError(t, svc.RemoveMailbox(ctx, "4930100"))
	_, err = svc.Mailbox(ctx, "4930100")
	assert.ErrorIs(t, err, vm.ErrNotFound)
}

// concurrentWrites has two regions deposit, flag and configure one mailbox at the same time.
func concurrentWrites(t *testing.T, a, b *vm.Service) (ids []string) {
	ctx := context.Background()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, svc := range []*vm.Service{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				m, err := svc.Deposit(ctx, "4930200", vm.Deposit{Caller: svc.Region(), Audio: WAV(200 * time.Millisecond)})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				ids = append(ids, m.ID)
				mu.Unlock()
				name := fmt.Sprintf("%s-%d", svc.Region(), i)
				_, err = svc.Configure(ctx, "4930200", vm.MailboxPatch{DisplayName: &name})
				assert.NoError(t, err)
				if i%2 == 0 {
					heard := true
					_, err = svc.UpdateMessage(ctx, "4930200", m.ID, vm.MessageUpdate{Heard: &heard})
					assert.NoError(t, err)
				}
			}
		}()
	}
	wg.Wait()
	return ids
}

func assertConverged(t *testing.T, a, b *vm.Service, ids []string) {
	ctx := context.Background()
	la, err := a.Messages(ctx, "4930200", "")
	require.NoError(t, err)
	lb, err := b.Messages(ctx, "4930200", "")
	require.NoError(t, err)
	assert.Equal(t, la, lb, "both regions list the same messages")
	assert.Len(t, la, len(ids), "no deposit lost")
	ma, err := a.Mailbox(ctx, "4930200")
	require.NoError(t, err)
	mb, err := b.Mailbox(ctx, "4930200")
	require.NoError(t, err)
	assert.Equal(t, ma, mb, "settings converge to one value")
	sa, _ := a.Summary(ctx, "4930200")
	sb, _ := b.Summary(ctx, "4930200")
	assert.Equal(t, vm.Summary{New: 4, Old: 4}, sa)
	assert.Equal(t, sa, sb)
}

// testTwoRegions: two regions share one store (Cosmos multi-region writes), each writing only
// its own rows.
func testTwoRegions(t *testing.T, st *store.Backend) {
	ctx := context.Background()
	a, b := newService(t, st, "west"), newService(t, st, "east")
	_, _, err := a.Provision(ctx, "4930200", vm.ProvisionRequest{PIN: "1357"})
	require.NoError(t, err)
	ids := concurrentWrites(t, a, b)
	assertConverged(t, a, b, ids)
}

// testReplicated: each region has its own store; rows and audio are copied both ways, in
// either order, and both converge.
func testReplicated(t *testing.T, sa, sb *store.Backend) {
	ctx := context.Background()
	a, b := newService(t, sa, "west"), newService(t, sb, "east")
	_, _, err := a.Provision(ctx, "4930200", vm.ProvisionRequest{PIN: "1357"})
	require.NoError(t, err)
	_, err = store.Replicate(ctx, sa, sb, "west", 0)
	require.NoError(t, err)
	ids := concurrentWrites(t, a, b)
	_, err = store.Replicate(ctx, sb, sa, "east", 0)
	require.NoError(t, err)
	_, err = store.Replicate(ctx, sa, sb, "west", 0)
	require.NoError(t, err)
	assertConverged(t, a, b, ids)
	for _, id := range ids {
		wa, err := a.Audio(ctx, "4930200", id)
		require.NoError(t, err)
		wb, err := b.Audio(ctx, "4930200", id)
		require.NoError(t, err)
		assert.Equal(t, wa, wb)
	}
}
