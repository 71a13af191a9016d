package kamailio

import (
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/edgetls"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

// servedSerial is the serial of the certificate openssl s_client is shown on addr.
func servedSerial(t *testing.T, addr string) string {
	t.Helper()
	out, err := exec.Command("bash", "-c", "openssl s_client -connect "+addr+" </dev/null 2>/dev/null | openssl x509 -noout -serial").Output()
	require.NoError(t, err, "openssl s_client %s", addr)
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "serial=")
}

// tlsAnswer sends request over TLS to addr with openssl s_client, verifying the server's
// certificate against caFile, and returns what openssl printed up to the end of the first SIP
// answer's headers. s_client -quiet keeps the connection open after its input ends, so the
// answer, not a timer, ends the exchange; the deadline only bounds a server that never answers.
func tlsAnswer(t *testing.T, addr, caFile, request string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", "s_client", "-quiet", "-verify_return_error", "-CAfile", caFile, "-connect", addr)
	cmd.Stdin = strings.NewReader(request)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	go func() { pw.CloseWithError(cmd.Wait()) }()
	var out strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := pr.Read(buf)
		out.Write(buf[:n])
		if _, rest, ok := strings.Cut(out.String(), "SIP/2.0 "); ok && strings.Contains(rest, "\r\n\r\n") || err != nil {
			break
		}
	}
	cancel() // the answer is in; s_client would otherwise wait on the open connection
	pr.Close()
	return out.String()
}

func fileSerial(t *testing.T, certFile string) string {
	t.Helper()
	out, err := exec.Command("openssl", "x509", "-noout", "-serial", "-in", certFile).Output()
	require.NoError(t, err)
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "serial=")
}

// The stamp dispatcher terminates SIP over TLS: a SIP client (sipsak) that verifies the
// certificate gets its answer over TLS, TLS 1.1 is refused, and a certificate written over the
// mounted file (as the CSI driver does on renewal) is served to new connections by the same
// Kamailio process.
func TestDispatcherTLSServesAndFollowsRenewals(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("openssl")
	require.NoError(t, err, "openssl is needed (Debian package openssl)")
	certDir := t.TempDir()
	cert, err := edgetls.WriteSelfSigned(certDir, "dispatcher.local", time.Hour)
	require.NoError(t, err)
	var p *Process
	var tlsPort string
	// The ports were free a moment ago; a test running alongside may bind one first, and
	// Kamailio then exits at start-up. That start is retried on new ports.
	for attempt := 0; ; attempt++ {
		tlsPort = freePort(t)
		p, err = Start(context.Background(), t.TempDir(), Config{
			Role: RoleStamp, Name: "stamp-tls", Children: 1,
			Listen: []Listen{{Proto: "tcp", Addr: "127.0.0.1:" + freePort(t)}, {Proto: "tls", Addr: "127.0.0.1:" + tlsPort}},
			TLS:    &TLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile, ReloadInterval: time.Second},
		})
		if err == nil || attempt == 2 || !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kamailio log:\n%s", p.Tail(4000))
		}
		p.Stop()
	})
	addr := "127.0.0.1:" + tlsPort

	// OPTIONS to the dispatcher itself over TLS that verifies the certificate (openssl as the
	// TLS client: sipsak 0.9.8.1 resets the connection after the handshake and cuts five-digit
	// ports from the Request-URI). With no replica in rotation the probe answer is 503.
	options := "OPTIONS sip:" + addr + " SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-tls1;rport\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:" + addr + ">\r\nCall-ID: tls-1\r\nCSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	out := tlsAnswer(t, addr, cert.CertFile, options)
	assert.Contains(t, string(out), "SIP/2.0 503 No Target Active", "a SIP answer over verified TLS:\n%s", out)
	assert.Contains(t, string(out), "SIP/2.0/TLS", "the answer's Via names TLS")

	old, _ := exec.Command("bash", "-c", "openssl s_client -tls1_1 -connect "+addr+" </dev/null 2>&1").CombinedOutput()
	assert.NotContains(t, string(old), "BEGIN CERTIFICATE", "TLS 1.1 must be refused:\n%s", old)

	before := servedSerial(t, addr)
	require.Equal(t, fileSerial(t, cert.CertFile), before)
	_, err = edgetls.WriteSelfSigned(certDir, "dispatcher.local", time.Hour)
	require.NoError(t, err)
	renewed := fileSerial(t, cert.CertFile)
	require.NotEqual(t, before, renewed)
	deadline := time.Now().Add(20 * time.Second)
	got := before
	for got != renewed && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond) // the reload timer's period is 1 s
		got = servedSerial(t, addr)
	}
	assert.Equal(t, renewed, got, "new connections get the renewed certificate")
	exited, _ := p.Exited()
	assert.False(t, exited, "the same process")
	t.Log("renewed certificate served by the same Kamailio process, without a restart")
}
