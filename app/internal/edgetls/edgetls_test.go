package edgetls

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/contract"
)

// presented is the serial of the certificate a TLS server on ln presents to a new handshake.
func presented(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func serial(t *testing.T, certFile string) string {
	t.Helper()
	raw, err := os.ReadFile(certFile)
	require.NoError(t, err)
	pair, err := tls.X509KeyPair(raw, mustRead(t, filepath.Join(filepath.Dir(certFile), "key.pem")))
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	return leaf.SerialNumber.Text(16)
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

// A renewed certificate written over the files is presented by the next handshake, without a
// restart; connections are not interrupted.
func TestReplacedFilesArePresentedByNewHandshakes(t *testing.T) {
	dir := t.TempDir()
	first, err := WriteSelfSigned(dir, "stamp.example", time.Hour)
	require.NoError(t, err)
	files, err := Load(first.CertFile, first.KeyFile, 0, nil)
	require.NoError(t, err)
	addr := serve(t, files.Config())
	oldSerial := serial(t, first.CertFile)
	assert.Equal(t, oldSerial, presented(t, addr))

	_, err = WriteSelfSigned(dir, "stamp.example", time.Hour)
	require.NoError(t, err)
	newSerial := serial(t, first.CertFile)
	require.NotEqual(t, oldSerial, newSerial)
	assert.Equal(t, newSerial, presented(t, addr), "the next handshake presents the replaced certificate")
	assert.Equal(t, 1, files.Reloads())
}

// The CSI driver (like kubelet for Secrets) swaps a "..data" symlink to publish new files; the
// files are read through the links, so the swap is seen as a change.
func TestSymlinkSwapIsFollowed(t *testing.T) {
	root := t.TempDir()
	a, err := WriteSelfSigned(filepath.Join(root, "..a"), "stamp.example", time.Hour)
	require.NoError(t, err)
	require.NoError(t, os.Symlink("..a", filepath.Join(root, "..data")))
	for _, n := range []string{"cert.pem", "key.pem"} {
		require.NoError(t, os.Symlink(filepath.Join("..data", n), filepath.Join(root, n)))
	}
	files, err := Load(filepath.Join(root, "cert.pem"), filepath.Join(root, "key.pem"), 0, nil)
	require.NoError(t, err)
	addr := serve(t, files.Config())
	assert.Equal(t, serial(t, a.CertFile), presented(t, addr))

	b, err := WriteSelfSigned(filepath.Join(root, "..b"), "stamp.example", time.Hour)
	require.NoError(t, err)
	require.NoError(t, os.Symlink("..b", filepath.Join(root, "..data.tmp")))
	require.NoError(t, os.Rename(filepath.Join(root, "..data.tmp"), filepath.Join(root, "..data")))
	assert.Equal(t, serial(t, b.CertFile), presented(t, addr))
}

// Half-written files (a certificate without its key) keep the previous certificate in
// service; once the pair agrees again it is taken.
func TestMismatchedPairKeepsThePreviousCertificate(t *testing.T) {
	dir := t.TempDir()
	first, err := WriteSelfSigned(dir, "stamp.example", time.Hour)
	require.NoError(t, err)
	oldKey := mustRead(t, first.KeyFile)
	files, err := Load(first.CertFile, first.KeyFile, 0, nil)
	require.NoError(t, err)
	addr := serve(t, files.Config())
	oldSerial := presented(t, addr)

	_, err = WriteSelfSigned(dir, "stamp.example", time.Hour)
	require.NoError(t, err)
	newSerial := serial(t, first.CertFile)
	require.NoError(t, os.WriteFile(first.KeyFile, oldKey, 0o600)) // certificate new, key old
	assert.Equal(t, oldSerial, presented(t, addr), "a pair that does not match is not served")

	_, err = WriteSelfSigned(dir, "stamp.example", time.Hour)
	require.NoError(t, err)
	assert.NotEqual(t, newSerial, presented(t, addr))
	assert.NotEqual(t, oldSerial, presented(t, addr))
}

// Files are re-read at most once per interval, not on every handshake.
func TestCheckInterval(t *testing.T) {
	dir := t.TempDir()
	first, err := WriteSelfSigned(dir, "stamp.example", time.Hour)
	require.NoError(t, err)
	files, err := Load(first.CertFile, first.KeyFile, time.Minute, nil)
	require.NoError(t, err)
	now := time.Now()
	files.now = func() time.Time { return now }
	old := files.Certificate().Leaf.SerialNumber
	_, err = WriteSelfSigned(dir, "stamp.example", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, old, files.Certificate().Leaf.SerialNumber, "within the interval the files are not read")
	now = now.Add(time.Minute)
	assert.NotEqual(t, old, files.Certificate().Leaf.SerialNumber)
}

func TestLoadNamesTheFiles(t *testing.T) {
	_, err := Load("/nonexistent/cert.pem", "/nonexistent/key.pem", 0, nil)
	assert.ErrorContains(t, err, "/nonexistent/cert.pem")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not pem"), 0o600))
	_, err = Load(bad, bad, 0, nil)
	assert.ErrorContains(t, err, bad)
}

// Key Vault exports a PEM certificate as one file holding the key and the chain; the same
// path serves as both.
func TestOneFileWithKeyAndChain(t *testing.T) {
	dir := t.TempDir()
	s, err := WriteSelfSigned(dir, "stamp.example", time.Hour)
	require.NoError(t, err)
	both := filepath.Join(dir, "both.pem")
	require.NoError(t, os.WriteFile(both, append(mustRead(t, s.KeyFile), mustRead(t, s.CertFile)...), 0o600))
	_, err = Load(both, both, 0, nil)
	require.NoError(t, err)
}

// NotAfter and the periodic report follow the certificate a handshake would be given: after a
// renewal written over the files, both name the new end of validity.
func TestNotAfterAndReportFollowRenewals(t *testing.T) {
	dir := t.TempDir()
	first, err := WriteSelfSigned(dir, "stamp", time.Hour)
	require.NoError(t, err)
	logs := &syncWriter{w: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	f, err := Load(first.CertFile, first.KeyFile, 0, log)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), f.NotAfter(), 5*time.Minute)

	_, err = WriteSelfSigned(dir, "stamp", 60*24*time.Hour)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(60*24*time.Hour), f.NotAfter(), 5*time.Minute, "renewal")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Report(ctx, time.Hour) }()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), contract.EdgeCertificateLogMessage) }, 5*time.Second, 10*time.Millisecond)
	cancel()
	<-done
	var line struct {
		Msg      string    `json:"msg"`
		NotAfter time.Time `json:"notAfter"`
		DaysLeft float64   `json:"daysLeft"`
	}
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"`+contract.EdgeCertificateLogMessage+`"`) {
			require.NoError(t, json.Unmarshal([]byte(l), &line))
		}
	}
	assert.Equal(t, f.NotAfter().UTC().Truncate(time.Second), line.NotAfter.UTC())
	assert.InDelta(t, 60, line.DaysLeft, 0.2)
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
