package azure_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/internal/store/storetest"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
)

// One Azurite for the package, persisted on disk so a service stopped by a test keeps its data
// across the restart; each backend gets its own table, containers and queue.
var (
	az  *azurite.Azurite
	seq atomic.Int64
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	a, err := azurite.Start(ctx, azurite.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: azurite:", err, "(install with: npm install -g azurite@3.37.0)")
		os.Exit(1)
	}
	az = a
	code := m.Run()
	a.Close()
	os.Exit(code)
}

// Config returns a config with fresh names on the package's Azurite.
func config(connStr string) azure.Config {
	n := seq.Add(1)
	return azure.Config{
		ConnectionString:  connStr,
		Table:             fmt.Sprintf("vm%d", n),
		AudioContainer:    fmt.Sprintf("audio-%d", n),
		Queue:             fmt.Sprintf("deposits-%d", n),
		NotifyQueue:       fmt.Sprintf("notify-%d", n),
		StateContainer:    fmt.Sprintf("state-%d", n),
		StateBlob:         "stamp-1",
		WriteInitialState: true,
	}
}

func open(t *testing.T) *store.Backend {
	b, err := azure.Open(context.Background(), config(az.ConnectionString()))
	require.NoError(t, err)
	return b
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

// The table service answers a query in pages of at most 1000 rows; List reads them all (the
// backend decodes query pages itself, so this guards its paging).
func TestListReadsEveryPage(t *testing.T) {
	ctx := context.Background()
	b := open(t)
	const n = 1010
	keys := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range keys {
				_, err := b.Meta.Insert(ctx, "4930700", fmt.Sprintf("m:%04d~west", i), []byte(`{}`))
				errs <- err
			}
		})
	}
	for i := range n {
		keys <- i
	}
	close(keys)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	rows, err := b.Meta.List(ctx, "4930700", "m:")
	require.NoError(t, err)
	require.Equal(t, n, len(rows), "rows of every page")
	for i, r := range rows {
		assert.Equal(t, fmt.Sprintf("m:%04d~west", i), r.Key)
		assert.Positive(t, r.Version)
	}
}
