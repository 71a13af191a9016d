package azure_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/azurite"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/store/azure"
	"github.com/voicemail-platform/voicemail/app/internal/store/storetest"
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
