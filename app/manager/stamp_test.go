package manager

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/health"
	"github.com/voicemail-platform/voicemail/app/local/azurite"
	"github.com/voicemail-platform/voicemail/app/local/faultproxy"
)

// The stamp health path and the state component the real service reports.
const (
	stampHealthPath     = "/health/stamp"
	stampStateComponent = health.State
)

// realStamp is the voicemail binary on the Azure backend, all on the shared Azurite: blobs and
// queue directly (so the manager and the stamp see the same state blob), metadata in a table
// of its own reached through a faultproxy.Proxy that Break sets refusing (open connections are
// cut and new ones closed at once, as when the table service stops) and Heal restores. That is
// a real dependency outage without booting a table service per stamp.
type realStamp struct {
	id    string
	url   string
	table *faultproxy.Proxy
	cmd   *exec.Cmd
}

func newRealStamp(t *testing.T, container, id, blob string) *realStamp {
	t.Helper()
	table, err := faultproxy.New(fmt.Sprintf("127.0.0.1:%d", shared.Port(azurite.Table)))
	require.NoError(t, err)
	t.Cleanup(table.Close)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	conn := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;QueueEndpoint=%s;TableEndpoint=http://%s/%s;",
		azurite.Account, azurite.Key, shared.Endpoint(azurite.Blob), shared.Endpoint(azurite.Queue), table.Addr(), azurite.Account)
	cmd := exec.Command(voicemailBin)
	cmd.Env = append(os.Environ(),
		"VOICEMAIL_HTTP_ADDR="+addr,
		"VOICEMAIL_STORAGE_CONNECTION_STRING="+conn,
		"VOICEMAIL_OPERATOR_TOKEN=stamp-operator-token-0123456789",
		"VOICEMAIL_REGION=westeurope",
		"VOICEMAIL_STAMP="+id,
		"VOICEMAIL_STATE_CONTAINER="+container,
		"VOICEMAIL_STATE_BLOB="+blob,
		"VOICEMAIL_QUEUE=deposits-"+id,
		"VOICEMAIL_TABLE=meta"+strings.ReplaceAll(id, "-", ""), // Azure table names are alphanumeric
		"VOICEMAIL_HEALTH_CACHE_TTL=1ms",                       // every probe is a fresh round (0 means the 10 s default)
		"VOICEMAIL_HEALTH_TIMEOUT=1s",
		"VOICEMAIL_DATA_DIR="+t.TempDir(),
		"VOICEMAIL_LOG_LEVEL=warn",
	)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	s := &realStamp{id: id, url: "http://" + addr, table: table, cmd: cmd}
	waitHealthy(t, s)
	return s
}

func (s *realStamp) ID() string  { return s.id }
func (s *realStamp) URL() string { return s.url }

func (s *realStamp) Break(t *testing.T) {
	t.Helper()
	s.table.Refuse()
}

func (s *realStamp) Heal(t *testing.T) {
	t.Helper()
	s.table.Restore()
}

// waitHealthy waits until the stamp answers 200 (start-up only; the scenarios never wait).
func waitHealthy(t *testing.T, s testStamp) {
	t.Helper()
	p := HTTPProber{Path: stampHealthPath, StateComponent: stampStateComponent}
	deadline := time.Now().Add(30 * time.Second)
	for {
		o := p.Probe(context.Background(), Stamp{ID: s.ID(), URL: s.URL()})
		if o.Status == http.StatusOK {
			return
		}
		require.True(t, time.Now().Before(deadline), "stamp %s never became healthy: %+v", s.ID(), o)
		time.Sleep(100 * time.Millisecond)
	}
}

func TestManagerAgainstRealStamps(t *testing.T) {
	conn := startAzurite(t)
	runScenarios(t, conn, func(t *testing.T, container, id, blob string) testStamp {
		// The stamp's state container must exist before it starts (the manager's rig creates
		// it too; creating twice is fine).
		newContainer(t, conn, container)
		return newRealStamp(t, container, id, blob)
	})
}
