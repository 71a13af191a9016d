package manager

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/local/azurite"
	"github.com/voicemail-platform/voicemail/app/local/runner"
)

// Set once by TestMain before any test runs: the Azurite every test shares (each test uses
// its own containers) and the voicemail binary the stamps run.
var (
	shared       *azurite.Azurite
	voicemailBin string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		dir, err := os.MkdirTemp("", "manager-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		// Build the binary while Azurite boots: both take seconds.
		built := make(chan error, 1)
		go func() {
			var err error
			voicemailBin, err = runner.BuildVoicemail(ctx, dir)
			built <- err
		}()
		a, err := azurite.Start(ctx, azurite.Options{InMemory: true, Combined: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: azurite (npm install -g azurite@3.37.0):", err)
			<-built
			return 1
		}
		defer a.Close()
		shared = a
		if err := <-built; err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: build app/cmd/voicemail:", err)
			return 1
		}
		return m.Run()
	}())
}

func startAzurite(t *testing.T) string {
	t.Helper()
	require.NotNil(t, shared)
	return shared.ConnectionString()
}

// newContainer returns a fresh state container on Azurite. It is deleted when the test ends,
// so the tests can run again in the same process (go test -count=N) on the shared Azurite.
func newContainer(t *testing.T, conn, name string) *Container {
	t.Helper()
	c, err := NewContainerFromConnectionString(conn, name, "manager/test.json")
	require.NoError(t, err)
	require.NoError(t, c.EnsureContainer(context.Background()))
	t.Cleanup(func() { _, _ = c.c.Delete(context.Background(), nil) }) // a second delete finds none
	return c
}
