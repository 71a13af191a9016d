package main_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/edgetls"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
	"github.com/voicemail-platform/voicemail/contract"
)

// curlOut runs curl and returns its stdout and exit error.
func curlOut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "10"}, args...)...).Output()
	return string(out), err
}

// presentedSerial is the serial of the certificate openssl s_client is shown by addr (with
// -starttls imap when starttls).
func presentedSerial(t *testing.T, addr string, starttls bool) string {
	t.Helper()
	cmd := "openssl s_client -connect " + addr + " -servername localhost"
	if starttls {
		cmd += " -starttls imap"
	}
	out, err := exec.Command("bash", "-c", cmd+" </dev/null 2>/dev/null | openssl x509 -noout -serial").Output()
	require.NoError(t, err, "openssl s_client %s", addr)
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "serial="))
}

// The binary with a certificate: the API and the health probe speak HTTPS only (TLS 1.2 at
// least), /metrics is on its own plain port and not on the API's, IMAP offers STARTTLS with
// LOGINDISABLED before it and implicit TLS, and a certificate written over the files is
// presented by the next handshakes on every listener, without a restart.
func TestEdgeTLS(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"curl", "openssl", "python3"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is needed (Debian package of the same name)", tool)
	}
	bin := build(t)
	certDir := t.TempDir()
	cert, err := edgetls.WriteSelfSigned(certDir, "stamp.local", time.Hour)
	require.NoError(t, err)
	metrics, imapAddr, imapsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	p := start(t, bin, t.TempDir(), "VOICEMAIL_TLS_CERT="+cert.CertFile, "VOICEMAIL_TLS_KEY="+cert.KeyFile,
		"VOICEMAIL_TLS_CHECK_INTERVAL=0s", "VOICEMAIL_METRICS_ADDR="+metrics,
		"VOICEMAIL_IMAP_ADDR="+imapAddr, "VOICEMAIL_IMAPS_ADDR="+imapsAddr)
	base := "https://" + p.addr

	// HTTPS with a verified chain; the probe path answers over it.
	out, err := curlOut(t, "--cacert", cert.CertFile, "-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}", base+"/health/stamp")
	require.NoError(t, err)
	assert.Equal(t, "200 0", out, "GET /health/stamp over HTTPS")
	out, err = curlOut(t, "--cacert", cert.CertFile, "-X", "PUT", "-H", "Authorization: Bearer "+token,
		"-H", "Content-Type: application/json", "-d", `{"pin":"8264"}`, "-o", "/dev/null", "-w", "%{http_code}", base+"/v1/mailboxes/4930111")
	require.NoError(t, err)
	assert.Equal(t, "201", out)
	// No cleartext API: plain HTTP on the same port gets no answer from a handler.
	out, _ = curlOut(t, "-o", "/dev/null", "-w", "%{http_code}", "http://"+p.addr+"/health/stamp")
	assert.NotEqual(t, "200", out, "plain HTTP on the API port")
	// Old protocol versions are refused.
	_, err = curlOut(t, "-k", "--tlsv1.0", "--tls-max", "1.1", base+"/health/liveness")
	assert.Error(t, err, "TLS 1.1 must be refused")

	// Metrics: not on the public listener; on their own port.
	out, err = curlOut(t, "--cacert", cert.CertFile, "-o", "/dev/null", "-w", "%{http_code}", base+"/metrics")
	require.NoError(t, err)
	assert.Equal(t, "404", out, "/metrics on the public API listener")
	out, err = curlOut(t, "http://"+metrics+"/metrics")
	require.NoError(t, err)
	assert.Contains(t, out, "voicemail_http_requests_total")
	out, err = curlOut(t, "-o", "/dev/null", "-w", "%{http_code}", "http://"+metrics+"/health/stamp")
	require.NoError(t, err)
	assert.Equal(t, "404", out, "the metrics port serves nothing else")

	// IMAP with python's imaplib: LOGINDISABLED and refusal before STARTTLS, login after it,
	// and login over implicit TLS.
	imapHost, imapPort, _ := net.SplitHostPort(imapAddr)
	_, imapsPort, _ := net.SplitHostPort(imapsAddr)
	script := `
import imaplib, json, ssl, sys
host, port, tport, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
out = {}
m = imaplib.IMAP4(host, port)
out["plain_caps"] = list(m.capabilities)
try:
    m.login("4930111", "8264"); out["plain_login"] = "OK"
except imaplib.IMAP4.error as e:
    out["plain_login"] = str(e)
m.starttls(ssl_context=ctx)
out["starttls_caps"] = list(m.capabilities)
out["starttls_login"] = m.login("4930111", "8264")[0]
m.logout()
s = imaplib.IMAP4_SSL(host, tport, ssl_context=ctx)
out["imaps_login"] = s.login("4930111", "8264")[0]
out["imaps_version"] = s.sock.version()
s.logout()
print(json.dumps(out))
`
	raw, err := exec.Command("python3", "-c", script, imapHost, imapPort, imapsPort, cert.CertFile).CombinedOutput()
	require.NoError(t, err, "%s", raw)
	var got struct {
		PlainCaps     []string `json:"plain_caps"`
		PlainLogin    string   `json:"plain_login"`
		StartTLSCaps  []string `json:"starttls_caps"`
		StartTLSLogin string   `json:"starttls_login"`
		IMAPSLogin    string   `json:"imaps_login"`
		IMAPSVersion  string   `json:"imaps_version"`
	}
	require.NoError(t, json.Unmarshal(raw, &got), "%s", raw)
	assert.Contains(t, got.PlainCaps, "STARTTLS")
	assert.Contains(t, got.PlainCaps, "LOGINDISABLED")
	assert.Contains(t, got.PlainLogin, "PRIVACYREQUIRED")
	assert.NotContains(t, got.StartTLSCaps, "LOGINDISABLED")
	assert.Equal(t, "OK", got.StartTLSLogin)
	assert.Equal(t, "OK", got.IMAPSLogin)
	assert.Contains(t, []string{"TLSv1.2", "TLSv1.3"}, got.IMAPSVersion)

	// The served certificate's end of validity is exported, and logged for the expiry alert.
	assert.Equal(t, notAfter(t, cert.CertFile), servedNotAfter(t, metrics))
	assert.Contains(t, p.out.String(), `"msg":"`+contract.EdgeCertificateLogMessage+`"`)

	// Rotation: write a renewed certificate (valid longer) over the files; every listener's
	// next handshake presents it, the metric follows, and the process is the same.
	before := presentedSerial(t, p.addr, false)
	_, err = edgetls.WriteSelfSigned(certDir, "stamp.local", 90*24*time.Hour)
	require.NoError(t, err)
	want, err := exec.Command("openssl", "x509", "-noout", "-serial", "-in", cert.CertFile).Output()
	require.NoError(t, err)
	renewed := strings.TrimPrefix(strings.TrimSpace(string(want)), "serial=")
	require.NotEqual(t, before, renewed)
	assert.Equal(t, renewed, presentedSerial(t, p.addr, false), "HTTPS after renewal")
	assert.Equal(t, renewed, presentedSerial(t, imapsAddr, false), "IMAPS after renewal")
	assert.Equal(t, renewed, presentedSerial(t, imapAddr, true), "STARTTLS after renewal")
	out, err = curlOut(t, "--cacert", cert.CertFile, "-o", "/dev/null", "-w", "%{http_code}", base+"/health/liveness")
	require.NoError(t, err, "the renewed certificate verifies")
	assert.Equal(t, "200", out)
	assert.Nil(t, p.cmd.ProcessState, "no restart")
	assert.Contains(t, p.out.String(), "tls certificate reloaded")
	renewedNotAfter := notAfter(t, cert.CertFile)
	require.True(t, renewedNotAfter.After(time.Now().Add(80*24*time.Hour)))
	assert.Equal(t, renewedNotAfter, servedNotAfter(t, metrics), "%s after renewal", contract.EdgeCertificateMetric)
}

// notAfter is the end of validity of the first certificate in a PEM file.
func notAfter(t *testing.T, file string) time.Time {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	block, _ := pem.Decode(raw)
	require.NotNil(t, block, file)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c.NotAfter.UTC()
}

// servedNotAfter reads contract.EdgeCertificateMetric from the metrics listener.
func servedNotAfter(t *testing.T, metrics string) time.Time {
	t.Helper()
	out, err := curlOut(t, "http://"+metrics+contract.MetricsPath)
	require.NoError(t, err)
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, contract.EdgeCertificateMetric+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, line)
			return time.Unix(int64(f), 0).UTC()
		}
	}
	t.Fatalf("no %s in:\n%s", contract.EdgeCertificateMetric, out)
	return time.Time{}
}

// The dispatcher pod's sidecar reports the certificate file Kamailio serves SIP over TLS from
// (key and chain in one file, as the CSI driver mounts it), in the line the expiry alert reads.
func TestSIPTargetsReportsTheDispatcherCertificate(t *testing.T) {
	t.Parallel()
	bin := build(t)
	dir := t.TempDir()
	cert, err := edgetls.WriteSelfSigned(filepath.Join(dir, "pair"), "dispatcher.local", 30*24*time.Hour)
	require.NoError(t, err)
	edge := filepath.Join(dir, contract.EdgeCertificate)
	key, err := os.ReadFile(cert.KeyFile)
	require.NoError(t, err)
	chain, err := os.ReadFile(cert.CertFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(edge, append(key, chain...), 0o600))

	out := &voicemailtest.LogBuffer{}
	cmd := exec.Command(bin, "sip-targets", "-host=localhost", "-list="+filepath.Join(dir, "dispatcher.list"), "-interval=1h", "-cert="+edge)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var line struct {
		NotAfter time.Time `json:"notAfter"`
		DaysLeft float64   `json:"daysLeft"`
	}
	require.Eventually(t, func() bool {
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(l, `"msg":"`+contract.EdgeCertificateLogMessage+`"`) {
				return json.Unmarshal([]byte(l), &line) == nil
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "no %q line: %s", contract.EdgeCertificateLogMessage, out)
	assert.Equal(t, notAfter(t, cert.CertFile), line.NotAfter.UTC())
	assert.InDelta(t, 30, line.DaysLeft, 0.2)
}
