package imap

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

var _ Service = (*voicemail.Service)(nil)

const (
	testNumber = "5550100"
	testPIN    = "1234"
)

// env is a real voicemail service on the embedded store with the IMAP server on loopback.
type env struct {
	svc  *voicemail.Service
	srv  *Server
	addr string
	host string
	port string
	logs *voicemailtest.LogBuffer // the server's log lines (warnings and above)
}

func startEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	svc := voicemailtest.New(t)
	return startEnvWith(t, svc, cfg)
}

func startEnvWith(t *testing.T, svc *voicemail.Service, cfg Config) *env {
	t.Helper()
	logs := &voicemailtest.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(testWriter{t}, logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	e := serveEnv(t, svc, New(svc, cfg, log))
	e.logs = logs
	return e
}

// serveEnv serves srv (built on svc, or on a wrapper of it) on a loopback port.
func serveEnv(t *testing.T, svc *voicemail.Service, srv *Server) *env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln, false) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	return &env{svc: svc, srv: srv, addr: ln.Addr().String(), host: host, port: port}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// python runs testdata/<script> with args and decodes its last stdout line as JSON into out.
// A missing python3 fails the test: the real client is the point.
func python(t *testing.T, out any, script string, args ...string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 is required for the IMAP client tests")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{filepath.Join("testdata", script)}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	require.NoError(t, err, "python %s: %s", script, stderr.String())
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), out), "python output: %s", stdout)
}

// curl runs curl with args and returns stdout, failing the test on a non-zero exit unless
// allowFail.
func curl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is required for the IMAP client tests")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-sS", "--max-time", "20"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), &curlError{err: err, stderr: stderr.String()}
	}
	return string(out), nil
}

type curlError struct {
	err    error
	stderr string
}

func (e *curlError) Error() string { return e.err.Error() + ": " + e.stderr }

func TestPythonImaplibSession(t *testing.T) {
	t.Parallel()
	e := startEnv(t, Config{Domain: "vvm.test"})
	mb := voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	m1 := voicemailtest.Deposit(t, e.svc, testNumber, "+15551110001", 3*time.Second)
	time.Sleep(2 * time.Millisecond) // distinct deposit milliseconds keep the expected order simple
	m2 := voicemailtest.Deposit(t, e.svc, testNumber, "+15551110002", 2*time.Second)
	ctx := context.Background()

	var got struct {
		Capabilities       []string   `json:"capabilities"`
		Login              string     `json:"login"`
		List               []string   `json:"list"`
		Exists             int        `json:"exists"`
		Status             string     `json:"status"`
		UIDs               []uint32   `json:"uids"`
		Messages           []pyMsg    `json:"messages"`
		AudioSHA           string     `json:"audio_sha256"`
		FullSize           int64      `json:"full_size"`
		PartTypes          []string   `json:"part_types"`
		FullAudioSHA       string     `json:"full_audio_sha256"`
		FlagsAfterPeek     string     `json:"flags_after_peek"`
		StoreSeen          []string   `json:"store_seen"`
		StoreDeletedSilent []string   `json:"store_deleted_silent"`
		Expunged           []int      `json:"expunged"`
		UnseenAfter        []uint32   `json:"unseen_after"`
		QuotaRoot          [][]string `json:"quotaroot"`
	}
	python(t, &got, "session.py", e.host, e.port, testNumber, testPIN)

	assert.Contains(t, got.Capabilities, "IMAP4REV1")
	assert.Contains(t, got.Capabilities, "IDLE")
	assert.Contains(t, got.Capabilities, "QUOTA")
	assert.Equal(t, "OK", got.Login)
	assert.Equal(t, []string{`(\HasNoChildren) "/" "INBOX"`, `(\HasNoChildren) "/" "Greetings"`}, got.List)
	assert.Equal(t, 2, got.Exists)

	// UIDs derive from the ids' deposit times: ascending, and what a second derivation gives.
	uids := assignUIDs(mb.Created, []time.Time{mustIDTime(t, m1.ID), mustIDTime(t, m2.ID)})
	assert.Equal(t, uids, got.UIDs)
	assert.Contains(t, got.Status, "MESSAGES 2")
	assert.Contains(t, got.Status, "UNSEEN 2")
	assert.Contains(t, got.Status, "UIDVALIDITY "+strconv.FormatInt(mb.Created.Unix(), 10))

	require.Len(t, got.Messages, 2)
	for i, m := range []voicemail.Message{m1, m2} {
		pm := got.Messages[i]
		assert.Equal(t, uids[i], pm.UID)
		assert.Equal(t, "", pm.Flags)
		assert.True(t, pm.MultipartMixed, "BODYSTRUCTURE is multipart/mixed with an audio/wav part")
		assert.Equal(t, "<"+m.Caller+"@vvm.test>", pm.From)
		assert.Equal(t, "Voice message from "+m.Caller, pm.Subject)
		assert.Equal(t, "<"+m.ID+"@vvm.test>", pm.MessageID)
		assert.Equal(t, strconv.FormatInt(m.Seconds, 10), pm.Duration)
		assert.Equal(t, m.Received.UTC().Format(time.RFC1123Z), pm.Date)
	}
	wav, err := e.svc.Audio(ctx, testNumber, m1.ID)
	require.NoError(t, err)
	assert.Equal(t, sha(wav), got.AudioSHA, "BODY.PEEK[2] decodes to the stored WAV")
	assert.Equal(t, sha(wav), got.FullAudioSHA, "the full message's audio part too")
	assert.Equal(t, []string{"text/plain", "audio/wav"}, got.PartTypes)
	assert.Equal(t, int64(got.Messages[0].Size), got.FullSize, "RFC822.SIZE is the real size")
	assert.NotContains(t, got.FlagsAfterPeek, `\Seen`, "PEEK does not mark heard")

	// \Seen went to the service as heard; \Deleted + EXPUNGE deleted through the service.
	require.Len(t, got.StoreSeen, 1)
	assert.Contains(t, got.StoreSeen[0], `FLAGS (\Seen)`)
	assert.Empty(t, got.StoreDeletedSilent, ".SILENT sends no FETCH")
	assert.Equal(t, []int{2}, got.Expunged)
	assert.Empty(t, got.UnseenAfter)
	web := startHTTP(t, e.svc)
	heard := web.message(m1.ID)
	require.NotNil(t, heard)
	assert.True(t, heard.Heard, "the HTTP API shows the message heard")
	assert.Nil(t, web.message(m2.ID), "the HTTP API shows the expunged message gone")
	_, err = e.svc.Message(ctx, testNumber, m2.ID)
	assert.ErrorIs(t, err, voicemail.ErrNotFound)
	left, err := e.svc.Messages(ctx, testNumber, "")
	require.NoError(t, err)
	assert.Len(t, left, 1)

	require.Len(t, got.QuotaRoot, 2)
	assert.Equal(t, []string{`"INBOX" ""`}, got.QuotaRoot[0])
	assert.Equal(t, []string{`"" (voice 1 100)`}, got.QuotaRoot[1])
}

type pyMsg struct {
	UID            uint32 `json:"uid"`
	Flags          string `json:"flags"`
	Size           int    `json:"size"`
	MultipartMixed bool   `json:"multipart_mixed"`
	From           string `json:"from"`
	Date           string `json:"date"`
	Subject        string `json:"subject"`
	MessageID      string `json:"message_id"`
	Duration       string `json:"duration"`
}

func mustIDTime(t *testing.T, id string) time.Time {
	t.Helper()
	ts, ok := voicemail.MessageTime(id)
	require.True(t, ok, "message id %q carries its deposit time", id)
	return ts
}

// rawConn is a line-level client for protocol edge cases no real client produces.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	assert.True(t, strings.HasPrefix(rc.line(), "* OK "))
	return rc
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	_, err := rc.c.Write([]byte(s))
	require.NoError(rc.t, err)
}

func (rc *rawConn) line() string {
	rc.t.Helper()
	l, err := rc.r.ReadString('\n')
	require.NoError(rc.t, err)
	return strings.TrimRight(l, "\r\n")
}

// until reads lines up to and including the one starting with prefix.
func (rc *rawConn) until(prefix string) []string {
	rc.t.Helper()
	var lines []string
	for {
		l := rc.line()
		lines = append(lines, l)
		if strings.HasPrefix(l, prefix) {
			return lines
		}
	}
}

func TestMalformedCommandsGetBADAndSessionSurvives(t *testing.T) {
	e := startEnv(t, Config{MaxLiteral: 1024})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	rc := dialRaw(t, e.addr)
	cases := []struct{ send, want string }{
		{"\r\n", "* BAD "},
		{"a1\r\n", "a1 BAD "},
		{"a2 FROBNICATE\r\n", "a2 BAD "},
		{"a3 LOGIN \"unterminated\r\n", "a3 BAD "},
		{"a4 FETCH 1 (FLAGS\r\n", "a4 BAD "},
		{"a5 SELECT INBOX\r\n", "a5 BAD "}, // not logged in
		{"a6 LOGIN " + testNumber + "\r\n", "a6 BAD "},
		{"a7 NOOP " + strings.Repeat("x", 70000) + "\r\n", "a7 BAD "},
		{"a8 LOGIN {99999}\r\n", "a8 BAD [TOOBIG]"},
		{"a8 LOGIN {1025}\r\n", "a8 BAD [TOOBIG]"}, // before login literals stay small
		{"a9 CAPABILITY extra\r\n", "a9 BAD "},
		{"\x00\x01\x02 \xff\xfe\r\n", "* BAD "},
	}
	for _, tc := range cases {
		rc.send(tc.send)
		got := rc.line()
		assert.True(t, strings.HasPrefix(got, tc.want), "%.40q -> %q, want prefix %q", tc.send, got, tc.want)
	}
	rc.send("b1 NOOP\r\n")
	assert.Equal(t, "b1 OK NOOP completed", rc.line())
	rc.send("b2 LOGIN " + testNumber + " {4}\r\n")
	assert.True(t, strings.HasPrefix(rc.line(), "+ "))
	rc.send(testPIN + "\r\n")
	assert.Contains(t, rc.line(), "b2 OK ")
	rc.send("b3 SELECT INBOX\r\n")
	assert.Contains(t, rc.until("b3 "), "b3 OK [READ-WRITE] SELECT completed")
	for _, bad := range []string{
		"c1 UID FETCH x:y FLAGS\r\n",
		"c2 UID FETCH 1 (NOPE)\r\n",
		"c3 UID STORE 1 +FLAGZ (\\Seen)\r\n",
		"c4 UID SEARCH FOO\r\n",
		"c5 FETCH 1 BODY[9.HEADER.FIELDS]\r\n",
		"c6 STATUS INBOX MESSAGES\r\n",
		"c7 XCHANGE_TUI_PWD 1234\r\n",
		"c8 SEARCH " + strings.Repeat("NOT ", 40) + "ALL\r\n",
		"c9 DONE\r\n",
		"c10 APPEND Greetings {5000}\r\n", // over MaxLiteral
		"c11 APPEND Greetings {3}\r\n",    // continued below: not a MIME greeting is NO, not BAD
	} {
		rc.send(bad)
		got := rc.line()
		tag := strings.Fields(bad)[0]
		if tag == "c11" {
			assert.True(t, strings.HasPrefix(got, "+ "))
			rc.send("abc\r\n")
			assert.Equal(t, "c11 NO [CANNOT] not a MIME message: malformed header line: abc", rc.line())
			continue
		}
		assert.True(t, strings.HasPrefix(got, tag+" BAD "), "%q -> %q", bad, got)
	}
	rc.send("d1 NOOP\r\n")
	assert.Equal(t, "d1 OK NOOP completed", rc.line())
	rc.send("d2 LOGOUT\r\n")
	assert.Equal(t, []string{"* BYE logging out", "d2 OK LOGOUT completed"}, rc.until("d2 "))

	// Something that is not an IMAP client gets BAD for a while, then BYE.
	http := dialRaw(t, e.addr)
	http.send(strings.Repeat("GET / HTTP/1.1\r\n", maxBadCommands+5))
	lines := http.until("* BYE")
	assert.Len(t, lines, maxBadCommands+1)
	assert.Equal(t, "* BYE too many invalid commands", lines[len(lines)-1])
}
