package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/local/azurite"
)

// initState runs `voicemail init-state` with env and returns its exit code and the outcome it
// logged ("" when it logged none).
func initState(t *testing.T, bin string, env ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, "init-state")
	// Only the stamp's ConfigMap-style variables: no operator token, as in the state-init Job.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "%v: %s", err, out)
		code = ee.ExitCode()
	}
	outcome := ""
	for _, line := range strings.Split(string(out), "\n") {
		var rec struct {
			Msg     string `json:"msg"`
			Outcome string `json:"outcome"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "init state" {
			outcome = rec.Outcome
		}
	}
	return code, outcome, string(out)
}

type blobState struct {
	exists bool
	body   string
	etag   string
}

func readBlob(t *testing.T, cl *azblob.Client, container, name string) blobState {
	t.Helper()
	resp, err := cl.DownloadStream(context.Background(), container, name, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return blobState{}
	}
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return blobState{exists: true, body: string(b), etag: string(*resp.ETag)}
}

// The real binary against Azurite: an absent state blob is created, a present one is left as
// it is, a second run changes nothing, and once a stamp is initialised a drained (deleted)
// blob stays deleted however often the Job runs again.
func TestInitStateAzure(t *testing.T) {
	t.Parallel() // own binary run, data dir and ports
	az := azurite.StartT(t, azurite.Options{InMemory: true, Services: []azurite.Service{azurite.Blob}})
	bin := build(t)
	conn := az.ConnectionString()
	cl, err := azblob.NewClientFromConnectionString(conn, nil)
	require.NoError(t, err)
	env := func(stamp string) []string {
		return []string{"VOICEMAIL_STORAGE_CONNECTION_STRING=" + conn, "VOICEMAIL_REGION=westeurope",
			"VOICEMAIL_STAMP=" + stamp, "VOICEMAIL_STATE_BLOB=" + stamp, "VOICEMAIL_STATE_CONTAINER=state"}
	}

	// Absent (the container does not even exist yet): created.
	code, outcome, out := initState(t, bin, env("weu-1-v1")...)
	require.Equal(t, 0, code, out)
	assert.Equal(t, "created", outcome, out)
	first := readBlob(t, cl, "state", "weu-1-v1")
	require.True(t, first.exists)
	assert.Equal(t, "in-service\n", first.body)

	// Run twice: exit 0, the blob untouched (same ETag).
	code, outcome, out = initState(t, bin, env("weu-1-v1")...)
	require.Equal(t, 0, code, out)
	assert.Equal(t, "already-initialized", outcome, out)
	assert.Equal(t, first, readBlob(t, cl, "state", "weu-1-v1"))

	// A drain after initialisation: the Job running again (TTL + refresh, or a replace) does
	// not undo it.
	_, err = cl.DeleteBlob(context.Background(), "state", "weu-1-v1", nil)
	require.NoError(t, err)
	code, outcome, out = initState(t, bin, env("weu-1-v1")...)
	require.Equal(t, 0, code, out)
	assert.Equal(t, "already-initialized", outcome, out)
	assert.False(t, readBlob(t, cl, "state", "weu-1-v1").exists, "a drained stamp stays drained")

	// Present before the first run (the manager or an operator wrote it): left as it is.
	_, err = cl.UploadBuffer(context.Background(), "state", "weu-2-v1", []byte("operator\n"), nil)
	require.NoError(t, err)
	before := readBlob(t, cl, "state", "weu-2-v1")
	code, outcome, out = initState(t, bin, env("weu-2-v1")...)
	require.Equal(t, 0, code, out)
	assert.Equal(t, "present", outcome, out)
	assert.Equal(t, before, readBlob(t, cl, "state", "weu-2-v1"))
}

// Storage unreachable (nothing listens on the blob endpoint's port): a non-zero exit, so the
// Job retries (backoffLimit). A test of its own, as the client's retries take seconds.
func TestInitStateAzureUnreachable(t *testing.T) {
	t.Parallel()
	bin := build(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := l.Addr().String()
	require.NoError(t, l.Close())
	conn := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://%s/%s;",
		azurite.Account, azurite.Key, dead, azurite.Account)
	code, _, out := initState(t, bin, "VOICEMAIL_STORAGE_CONNECTION_STRING="+conn, "VOICEMAIL_REGION=westeurope",
		"VOICEMAIL_STAMP=weu-3-v1", "VOICEMAIL_STATE_BLOB=weu-3-v1", "VOICEMAIL_STATE_CONTAINER=state")
	assert.Equal(t, 1, code, out)
}

func TestInitStateEmbedded(t *testing.T) {
	t.Parallel() // own binary run, data dir and ports
	bin := build(t)
	dir := filepath.Join(t.TempDir(), "data")
	env := []string{"VOICEMAIL_DATA_DIR=" + dir, "VOICEMAIL_STAMP=local-1"}
	state := filepath.Join(dir, "local-1")

	code, outcome, out := initState(t, bin, env...)
	require.Equal(t, 0, code, out)
	assert.Equal(t, "created", outcome)
	assert.FileExists(t, state)

	code, outcome, out = initState(t, bin, env...)
	require.Equal(t, 0, code, out)
	assert.Equal(t, "already-initialized", outcome)

	require.NoError(t, os.Remove(state)) // drained
	code, outcome, out = initState(t, bin, env...)
	require.Equal(t, 0, code, out)
	assert.Equal(t, "already-initialized", outcome)
	assert.NoFileExists(t, state, "a drained stamp stays drained")
}

func TestInitStateBadInput(t *testing.T) {
	t.Parallel() // own binary run, data dir and ports
	bin := build(t)
	code, _, out := initState(t, bin, "VOICEMAIL_STATE_BLOB=Not_Valid", "VOICEMAIL_DATA_DIR="+t.TempDir())
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "VOICEMAIL_STATE_BLOB")

	cmd := exec.Command(bin, "init-stat")
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
	assert.Contains(t, string(b), "usage")
}
