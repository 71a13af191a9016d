package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/embedded"
	"github.com/voicemail-platform/voicemail/app/internal/store/storetest"
)

func open(t *testing.T) *store.Backend {
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := embedded.Open(dir, embedded.Options{})
	require.NoError(t, err)
	row, err := b.Meta.Update(ctx, "100", "box~r1", func([]byte) ([]byte, error) { return []byte("x"), nil })
	require.NoError(t, err)
	require.NoError(t, b.Blobs.Put(ctx, "audio/100/a.wav", []byte("wav")))
	require.NoError(t, b.Queue.Send(ctx, "queued"))
	require.NoError(t, b.Close())

	b, err = embedded.Open(dir, embedded.Options{})
	require.NoError(t, err, "reopen")
	defer b.Close()
	got, err := b.Meta.Get(ctx, "100", "box~r1")
	require.NoError(t, err)
	assert.Equal(t, row, got)
	data, err := b.Blobs.Get(ctx, "audio/100/a.wav")
	require.NoError(t, err)
	assert.Equal(t, []byte("wav"), data)
	msgs, err := b.Queue.Receive(ctx, 10, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, "queued", msgs[0].Text)
	next, err := b.Meta.Update(ctx, "100", "box~r1", func([]byte) ([]byte, error) { return []byte("y"), nil })
	require.NoError(t, err)
	assert.Greater(t, next.Version, row.Version, "versions keep growing across restarts")
}

func TestSecondOpenFailsClearly(t *testing.T) {
	dir := t.TempDir()
	b, err := embedded.Open(dir, embedded.Options{})
	require.NoError(t, err)
	defer b.Close()
	_, err = embedded.Open(dir, embedded.Options{LockTimeout: 50 * time.Millisecond})
	assert.ErrorContains(t, err, "meta.db", "a second process on the same directory is refused, naming the file")
}
