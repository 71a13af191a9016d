package main_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

const token = "test-operator-token-0123"

// The service binary is built once for every test (each build links the whole service again,
// seconds on a busy machine), in the background so tests can start Azurite meanwhile.
var (
	binPath  string
	binErr   error
	binBuilt = make(chan struct{})
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "voicemail-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		go func() {
			defer close(binBuilt)
			bin := filepath.Join(dir, "voicemail")
			if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build: %w\n%s", err, out)
				return
			}
			binPath = bin
		}()
		code := m.Run()
		<-binBuilt // a run of tests that never asked for it still waits before removing dir
		return code
	}())
}

func build(t *testing.T) string {
	t.Helper()
	<-binBuilt
	require.NoError(t, binErr)
	return binPath
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

type proc struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
	addr string
	// scheme is https when the process was given a certificate.
	scheme string
}

func start(t *testing.T, bin, dataDir string, extra ...string) *proc {
	t.Helper()
	p := &proc{addr: freeAddr(t), out: &bytes.Buffer{}, done: make(chan error, 1), scheme: "http"}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(), "VOICEMAIL_DATA_DIR="+dataDir, "VOICEMAIL_HTTP_ADDR="+p.addr,
		"VOICEMAIL_OPERATOR_TOKEN="+token, "VOICEMAIL_SHUTDOWN_GRACE=20s")
	p.cmd.Env = append(p.cmd.Env, extra...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
	})
	client := http.DefaultClient
	if slices.ContainsFunc(extra, func(kv string) bool { return strings.HasPrefix(kv, "VOICEMAIL_TLS_CERT=") }) {
		p.scheme = "https"
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	require.Eventually(t, func() bool {
		resp, err := client.Get(p.scheme + "://" + p.addr + "/health/liveness")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 30*time.Second, 50*time.Millisecond, "service did not come up: %s", p.out)
	return p
}

func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("process did not exit: %s", p.out)
	}
	return p.cmd.ProcessState.ExitCode()
}

func do(t *testing.T, method, url string, body []byte, hdr ...string) (int, []byte) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestSIGTERMFinishesInFlightDeposit: a deposit whose body is still arriving when SIGTERM comes
// completes with 201, new connections are refused, the process exits 0, and the message is
// there after a restart on the same data directory.
func TestSIGTERMFinishesInFlightDeposit(t *testing.T) {
	t.Parallel() // own binary run, data dir and ports
	bin := build(t)
	dir := t.TempDir()
	p := start(t, bin, dir)
	base := "http://" + p.addr
	code, body := do(t, "PUT", base+"/v1/mailboxes/4930111", []byte(`{"pin":"8264"}`),
		"Authorization", "Bearer "+token, "Content-Type", "application/json")
	require.Equal(t, 201, code, string(body))

	wav := voicemailtest.WAV(audio.PCM16, 10*time.Second)
	conn, err := net.Dial("tcp", p.addr)
	require.NoError(t, err)
	defer conn.Close()
	// Expect: 100-continue makes the server confirm the handler is reading the body, so SIGTERM
	// lands on a deposit in flight rather than on a connection still in the accept queue.
	fmt.Fprintf(conn, "POST /v1/mailboxes/4930111/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: audio/wav\r\nX-Caller-Id: +4917\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", token, len(wav))
	rd := bufio.NewReader(conn)
	cont, err := http.ReadResponse(rd, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusContinue, cont.StatusCode)
	_, err = conn.Write(wav[:len(wav)/2])
	require.NoError(t, err)

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}, 10*time.Second, 20*time.Millisecond, "listener still accepting after SIGTERM")

	_, err = conn.Write(wav[len(wav)/2:])
	require.NoError(t, err)
	resp, err := http.ReadResponse(rd, nil)
	require.NoError(t, err)
	respBody, _ := io.ReadAll(resp.Body)
	require.Equal(t, 201, resp.StatusCode, string(respBody))
	var m struct{ ID string }
	require.NoError(t, json.Unmarshal(respBody, &m))
	assert.Equal(t, 0, p.wait(t), "exit code; output:\n%s", p.out)
	assert.Contains(t, p.out.String(), `"msg":"shutting down"`, "JSON logs")

	p2 := start(t, bin, dir)
	code, body = do(t, "GET", "http://"+p2.addr+"/v1/mailboxes/4930111/messages/"+m.ID+"/audio", nil, "Authorization", "Bearer "+token)
	require.Equal(t, 200, code, string(body))
	assert.Equal(t, wav, body, "the deposit survived shutdown and restart")
	require.NoError(t, p2.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, p2.wait(t))
}

func TestInvalidConfigNamesVariable(t *testing.T) {
	t.Parallel() // own binary run, data dir and ports
	bin := build(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "VOICEMAIL_HTTP_ADDR=nonsense", "VOICEMAIL_HEALTH_TIMEOUT=soon")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Equal(t, 2, cmd.ProcessState.ExitCode())
	assert.Contains(t, string(out), "VOICEMAIL_HTTP_ADDR:")
	assert.Contains(t, string(out), "VOICEMAIL_HEALTH_TIMEOUT:")
	assert.False(t, strings.Contains(string(out), "panic"))
}
