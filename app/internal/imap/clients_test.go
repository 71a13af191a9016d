package imap

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

func TestCurlSession(t *testing.T) {
	t.Parallel()
	e := startEnv(t, Config{})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	m1 := voicemailtest.Deposit(t, e.svc, testNumber, "+15551110001", time.Second)
	time.Sleep(2 * time.Millisecond)
	m2 := voicemailtest.Deposit(t, e.svc, testNumber, "+15551110002", time.Second)
	ctx := context.Background()
	base := "imap://" + e.addr
	user := []string{"-u", testNumber + ":" + testPIN}
	run := func(args ...string) string {
		t.Helper()
		out, err := curl(t, append(append([]string{}, user...), args...)...)
		require.NoError(t, err)
		return out
	}

	assert.Equal(t, "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n* LIST (\\HasNoChildren) \"/\" \"Greetings\"\r\n", run(base+"/"))
	assert.Equal(t, "* SEARCH 1 2\r\n", run(base+"/INBOX?ALL"))
	uids := strings.Fields(strings.TrimPrefix(strings.TrimSpace(run(base+"/INBOX", "-X", "UID SEARCH ALL")), "* SEARCH"))
	require.Len(t, uids, 2)

	// Fetching a whole message (BODY[], not PEEK) marks it heard, as RFC 3501 says.
	full := run(base + "/INBOX;UID=" + uids[0])
	assert.Contains(t, full, "From: <+15551110001@voicemail.invalid>\r\n")
	assert.Contains(t, full, "Content-Type: audio/wav")
	got, err := e.svc.Message(ctx, testNumber, m1.ID)
	require.NoError(t, err)
	assert.True(t, got.Heard)

	// The audio part alone.
	part := run(base + "/INBOX;UID=" + uids[0] + ";SECTION=2")
	wav, err := e.svc.Audio(ctx, testNumber, m1.ID)
	require.NoError(t, err)
	assert.Equal(t, string(base64Wrapped(wav)), part)

	// \Deleted then EXPUNGE on one connection (--next reuses it).
	out := run(base+"/INBOX", "-X", "UID STORE "+uids[1]+" +FLAGS (\\Deleted)",
		"--next", "-u", testNumber+":"+testPIN, base+"/INBOX", "-X", "EXPUNGE")
	assert.Contains(t, out, "* 2 EXPUNGE")
	_, err = e.svc.Message(ctx, testNumber, m2.ID)
	assert.ErrorIs(t, err, voicemail.ErrNotFound)

	assert.Equal(t, "* QUOTAROOT \"INBOX\" \"\"\r\n* QUOTA \"\" (voice 1 100)\r\n", run(base+"/", "-X", "GETQUOTAROOT INBOX"))
	assert.Equal(t, "", run(base+"/", "-X", "XCHANGE_VM_LANG LANG=fr"))
	mb, err := e.svc.Mailbox(ctx, testNumber)
	require.NoError(t, err)
	assert.Equal(t, "fr", mb.Language)

	_, err = curl(t, "-u", testNumber+":9999", base+"/")
	var ce *curlError
	require.ErrorAs(t, err, &ce, "a wrong PIN fails the login")
	assert.Contains(t, ce.stderr, "Login denied")
}

// pyProc is a python client driven step by step over stdin/stdout.
type pyProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
}

func startPython(t *testing.T, script string, args ...string) *pyProc {
	t.Helper()
	py, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 is required for the IMAP client tests")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, py, append([]string{filepath.Join("testdata", script)}, args...)...)
	cmd.Stderr = testWriter{t}
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Wait() })
	return &pyProc{t: t, cmd: cmd, in: in, lines: bufio.NewScanner(out)}
}

func (p *pyProc) expect(line string) {
	p.t.Helper()
	require.True(p.t, p.lines.Scan(), "python ended before %q", line)
	require.Equal(p.t, line, p.lines.Text())
}

func (p *pyProc) proceed() {
	_, err := io.WriteString(p.in, "go\n")
	require.NoError(p.t, err)
}

func TestIdleAnnouncesDepositsAndChanges(t *testing.T) {
	t.Parallel()
	e := startEnv(t, Config{})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	voicemailtest.Deposit(t, e.svc, testNumber, "+15551110001", time.Second)

	// The changes come in over the HTTP API: deposit, mark heard, delete.
	web := startHTTP(t, e.svc)
	p := startPython(t, "idle.py", e.host, e.port, testNumber, testPIN)
	p.expect("IDLING")
	m := web.deposit("+15551110002", voicemailtest.WAV(audio.ALaw, time.Second))
	p.proceed()
	p.expect("HEARD")
	code, body := web.do(http.MethodPatch, "/v1/mailboxes/"+testNumber+"/messages/"+m.ID, []byte(`{"heard":true}`), false,
		map[string]string{"Content-Type": "application/json"})
	require.Equal(t, http.StatusOK, code, string(body))
	p.proceed()
	p.expect("DELETED")
	code, body = web.do(http.MethodDelete, "/v1/mailboxes/"+testNumber+"/messages/"+m.ID, nil, false, nil)
	require.Equal(t, http.StatusNoContent, code, string(body))
	p.proceed()
	require.True(t, p.lines.Scan())
	var got struct {
		ExistsBefore int      `json:"exists_before"`
		Continuation string   `json:"continuation"`
		Events       []string `json:"events"`
		Done         string   `json:"done"`
		Noop         string   `json:"noop"`
	}
	require.NoError(t, json.Unmarshal(p.lines.Bytes(), &got), p.lines.Text())
	assert.Equal(t, 1, got.ExistsBefore)
	assert.Equal(t, "+ idling", got.Continuation)
	uid := assignUIDs(mustCreated(t, e), []time.Time{mustIDTime(t, m.ID)})[0]
	assert.Equal(t, []string{
		"* 2 EXISTS",
		"* 2 FETCH (UID " + strconv.FormatUint(uint64(uid), 10) + " FLAGS (\\Seen))",
		"* 2 EXPUNGE",
	}, got.Events)
	assert.Regexp(t, `^\S+ OK IDLE terminated$`, got.Done)
	assert.Equal(t, "OK", got.Noop)
}

func mustCreated(t *testing.T, e *env) time.Time {
	mb, err := e.svc.Mailbox(context.Background(), testNumber)
	require.NoError(t, err)
	return mb.Created
}

func TestWrongPINsSlowTheAddressNotTheMailbox(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := startEnv(t, Config{Registerer: reg})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	var got struct {
		SameSession []string `json:"same_session"`
		Wrong       []string `json:"wrong"`
		Right       string   `json:"right"`
	}
	// 3 failures in the first session (then BYE) are the free ones; the 4th, in a fresh
	// session, is evaluated and makes this address wait: the next attempts, even with the
	// right PIN, are refused without looking at the PIN.
	python(t, &got, "lockout.py", e.host, e.port, testNumber, "0000", testPIN, "3")
	require.Len(t, got.SameSession, 3)
	assert.Contains(t, got.SameSession[0], "[AUTHENTICATIONFAILED] invalid mailbox number or PIN")
	assert.Contains(t, got.SameSession[1], "[AUTHENTICATIONFAILED] invalid mailbox number or PIN")
	assert.Contains(t, got.SameSession[2], "abort", "the session ends after its third failure")
	require.Len(t, got.Wrong, 3)
	assert.Contains(t, got.Wrong[0], "invalid mailbox number or PIN")
	assert.Contains(t, got.Wrong[1], "UNAVAILABLE")
	assert.Contains(t, got.Wrong[2], "UNAVAILABLE")
	assert.Contains(t, got.Right, "UNAVAILABLE", "the right PIN waits too")
	// Only this address waits: the mailbox is not locked for HTTP or the phone.
	assert.NoError(t, e.svc.Login(voicemail.WithSource(context.Background(), "ip:192.0.2.9"), testNumber, testPIN))

	srv := e.srv.metrics
	assert.Equal(t, 4.0, testutil.ToFloat64(srv.logins.WithLabelValues("failed")))
	assert.Equal(t, 3.0, testutil.ToFloat64(srv.logins.WithLabelValues("throttled")))
	assert.Equal(t, 7.0, testutil.ToFloat64(srv.commands.WithLabelValues("LOGIN", "NO")))
	n, err := testutil.GatherAndCount(reg, "voicemail_imap_logins_total", "voicemail_imap_sessions")
	require.NoError(t, err)
	assert.Equal(t, 3, n, "registered on the given registry")
}

func TestCustomCommandsAndGreetingUpload(t *testing.T) {
	t.Parallel()
	e := startEnv(t, Config{})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	ctx := context.Background()
	wav := voicemailtest.WAV(audio.PCM16, 2*time.Second)
	wavFile := filepath.Join(t.TempDir(), "greeting.wav")
	require.NoError(t, os.WriteFile(wavFile, wav, 0o600))

	var got map[string]any
	python(t, &got, "custom.py", e.host, e.port, testNumber, testPIN, "8642", wavFile)
	assert.Equal(t, "NO password too short", got["too_short"])
	assert.Equal(t, "NO password contains invalid characters", got["invalid_chars"])
	assert.Equal(t, "NO old password mismatch", got["mismatch"])
	assert.Equal(t, "OK XCHANGE_TUI_PWD completed", got["changed"])
	assert.Equal(t, "OK XCHANGE_VM_LANG completed", got["lang"])
	assert.Equal(t, "NO invalid language", got["lang_bad"])
	assert.Equal(t, "OK", got["append"])
	assert.Equal(t, "NO", got["append_inbox"])
	assert.EqualValues(t, 1, got["greetings_exists"])
	assert.Equal(t, `\Seen $CNS-Greeting-On`, got["greeting_flags"])
	assert.Equal(t, "X-CNS-Greeting-Type: busy-greeting", got["greeting_type"])
	assert.Equal(t, "OK", got["login_new"])
	assert.Contains(t, got["login_old"], "invalid mailbox number or PIN")

	mb, err := e.svc.Mailbox(ctx, testNumber)
	require.NoError(t, err)
	assert.Equal(t, "de", mb.Language)
	assert.Equal(t, voicemail.GreetingBusy, mb.ActiveGreeting)
	stored, err := e.svc.Greeting(ctx, testNumber, voicemail.GreetingBusy)
	require.NoError(t, err)
	assert.Equal(t, wav, stored, "the appended greeting is what the phone menu plays")
	require.NoError(t, e.svc.Login(ctx, testNumber, "8642"))
}

// selfSigned writes a certificate for 127.0.0.1 and returns the TLS config and CA file.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "voicemail imap test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cfg, err := LoadTLS(certFile, keyFile)
	require.NoError(t, err)
	return cfg, certFile
}

func TestStartTLSAndImplicitTLS(t *testing.T) {
	t.Parallel()
	tlsCfg, caFile := selfSigned(t)
	svc := voicemailtest.New(t)
	voicemailtest.Provision(t, svc, testNumber, testPIN)
	srv := New(svc, Config{TLS: tlsCfg}, nil)
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	implicit, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- srv.ServeListener(ctx, plain, false) }()
	go func() { errs <- srv.ServeListener(ctx, implicit, true) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)
	})
	_, plainPort, _ := net.SplitHostPort(plain.Addr().String())
	_, tlsPort, _ := net.SplitHostPort(implicit.Addr().String())

	var got struct {
		PlainCaps       []string `json:"plain_caps"`
		PlainLogin      string   `json:"plain_login"`
		TLSCaps         []string `json:"tls_caps"`
		StartTLSLogin   string   `json:"starttls_login"`
		StartTLSSelect  string   `json:"starttls_select"`
		ImplicitVersion string   `json:"implicit_version"`
		ImplicitLogin   string   `json:"implicit_login"`
		ImplicitEnd     string   `json:"implicit_end"`
		StartTLSEnd     string   `json:"starttls_end"`
	}
	python(t, &got, "tls.py", "127.0.0.1", plainPort, tlsPort, caFile, testNumber, testPIN)
	assert.Contains(t, got.PlainCaps, "STARTTLS")
	assert.Contains(t, got.PlainCaps, "LOGINDISABLED")
	assert.Contains(t, got.PlainLogin, "PRIVACYREQUIRED", "no PIN in clear when TLS is required")
	assert.NotContains(t, got.TLSCaps, "STARTTLS")
	assert.Contains(t, got.TLSCaps, "AUTH=PLAIN")
	assert.Equal(t, "OK", got.StartTLSLogin)
	assert.Equal(t, "OK", got.StartTLSSelect)
	assert.Contains(t, []string{"TLSv1.2", "TLSv1.3"}, got.ImplicitVersion)
	assert.Equal(t, "OK", got.ImplicitLogin)
	// RFC 8446 6.1: the server ends its TLS sessions with close_notify.
	assert.Equal(t, "close_notify", got.ImplicitEnd)
	assert.Equal(t, "close_notify", got.StartTLSEnd)

	// curl: STARTTLS (--ssl-reqd on imap://) and imaps://.
	for _, url := range []string{"imap://127.0.0.1:" + plainPort + "/", "imaps://127.0.0.1:" + tlsPort + "/"} {
		out, err := curl(t, "--ssl-reqd", "--cacert", caFile, "-u", testNumber+":"+testPIN, url)
		require.NoError(t, err, url)
		assert.Contains(t, out, `"INBOX"`, url)
	}
	// Without TLS the client is refused.
	_, err = curl(t, "-u", testNumber+":"+testPIN, "imap://127.0.0.1:"+plainPort+"/")
	assert.Error(t, err)
}

func TestShutdownSaysBye(t *testing.T) {
	svc := voicemailtest.New(t)
	srv := New(svc, Config{}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln, false) }()
	voicemailtest.Provision(t, svc, testNumber, testPIN)
	rc := dialRaw(t, ln.Addr().String())
	idle := dialRaw(t, ln.Addr().String())
	idle.login()
	idle.cmd("s", "SELECT INBOX")
	idle.send("i IDLE\r\n")
	assert.Equal(t, "+ idling", idle.line())
	cancel()
	assert.Equal(t, "* BYE server shutting down", rc.line())
	assert.Equal(t, "* BYE server shutting down", idle.line(), "an idling client is told too")
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its sessions ended")
	}
	_, err = net.Dial("tcp", ln.Addr().String())
	assert.Error(t, err, "the listener is closed")
}
