package manager

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Azurite's well-known development account.
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// azuriteConn is the connection string of the one Azurite every test of this package shares
// (set once by TestMain before any test runs; each test uses its own container).
var azuriteConn string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		conn, stop, err := launchAzurite()
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			return 1
		}
		defer stop()
		azuriteConn = conn
		return m.Run()
	}())
}

func startAzurite(t *testing.T) string {
	t.Helper()
	require.NotEmpty(t, azuriteConn)
	return azuriteConn
}

// launchAzurite starts azurite-blob on a free loopback port and returns a connection string.
// Missing Azurite fails the package: these tests never skip.
func launchAzurite() (string, func(), error) {
	bin, err := exec.LookPath("azurite-blob")
	if err != nil {
		return "", nil, fmt.Errorf("azurite-blob not on PATH (npm install -g azurite@3.37.0): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "azurite")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
		"--inMemoryPersistence", "--skipApiVersionCheck", "--silent", "--disableTelemetry")
	cmd.Dir = dir // Azurite drops its debug files in the working directory
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start azurite-blob: %w", err)
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = os.RemoveAll(dir) }
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("azurite-blob did not listen on %d", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;BlobEndpoint=http://127.0.0.1:%d/devstoreaccount1;", azuriteKey, port), stop, nil
}

// newContainer returns a fresh state container on Azurite.
func newContainer(t *testing.T, conn, name string) *Container {
	t.Helper()
	c, err := NewContainerFromConnectionString(conn, name, "manager/test.json")
	require.NoError(t, err)
	require.NoError(t, c.EnsureContainer(context.Background()))
	return c
}
