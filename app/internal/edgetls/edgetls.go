// Package edgetls serves the stamp's edge certificate (HTTPS, IMAPS and STARTTLS) from PEM
// files and follows them when they change, without a restart.
//
// In AKS the files are a Key Vault certificate mounted by the Secrets Store CSI driver, which
// rewrites them in place when the certificate is renewed and secret rotation is on
// (https://learn.microsoft.com/azure/aks/csi-secrets-store-configuration-options#enable-and-disable-auto-rotation).
// The driver does not signal the application, so the files are re-read at most once per
// check interval, on the next handshake: a handshake after the interval presents the new
// certificate, and connections already open keep theirs. A pair that does not load (the
// certificate written but not yet its key) keeps the previous certificate in service until
// the files agree again.
package edgetls

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/voicemail-platform/voicemail/contract"
)

// Files is one certificate and key, reloaded when their content changes.
type Files struct {
	certFile, keyFile string
	interval          time.Duration
	log               *slog.Logger
	now               func() time.Time

	mu       sync.Mutex
	checked  time.Time
	certPEM  []byte
	keyPEM   []byte
	cert     *tls.Certificate
	badPair  []byte // the content of the last pair that failed to load, logged once
	reloaded int
}

// Load reads the pair once (an error names the files) and returns Files that re-read them at
// most once per interval (0: on every handshake). certFile and keyFile may be the same file
// holding the chain and the key, as Key Vault exports a PEM certificate.
func Load(certFile, keyFile string, interval time.Duration, log *slog.Logger) (*Files, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Files{certFile: certFile, keyFile: keyFile, interval: interval, log: log, now: time.Now}
	certPEM, keyPEM, err := f.read()
	if err != nil {
		return nil, err
	}
	cert, err := parse(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: %s / %s: %w", certFile, keyFile, err)
	}
	f.certPEM, f.keyPEM, f.cert, f.checked = certPEM, keyPEM, cert, f.now()
	return f, nil
}

func (f *Files) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(f.certFile); err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	if keyPEM, err = os.ReadFile(f.keyFile); err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	return certPEM, keyPEM, nil
}

func parse(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &cert, nil
}

// Certificate is the pair to present now, re-read first when the interval has passed.
func (f *Files) Certificate() *tls.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.now(); now.Sub(f.checked) >= f.interval {
		f.checked = now
		f.refresh()
	}
	return f.cert
}

// refresh loads the files if their content changed. Called with mu held.
func (f *Files) refresh() {
	certPEM, keyPEM, err := f.read()
	if err != nil {
		f.log.Warn("tls certificate files unreadable; serving the previous certificate", "err", err)
		return
	}
	if bytes.Equal(certPEM, f.certPEM) && bytes.Equal(keyPEM, f.keyPEM) {
		return
	}
	cert, err := parse(certPEM, keyPEM)
	if err != nil {
		if pair := append(append([]byte{}, certPEM...), keyPEM...); !bytes.Equal(pair, f.badPair) {
			f.badPair = pair
			f.log.Warn("tls certificate files changed but do not load; serving the previous certificate",
				"cert", f.certFile, "key", f.keyFile, "err", err)
		}
		return
	}
	f.certPEM, f.keyPEM, f.cert, f.badPair = certPEM, keyPEM, cert, nil
	f.reloaded++
	f.log.Info("tls certificate reloaded", "cert", f.certFile, "subject", cert.Leaf.Subject.String(),
		"serial", cert.Leaf.SerialNumber.Text(16), "notAfter", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

// NotAfter is the end of validity of the certificate a new handshake is given now: the files
// are re-read first when the check interval has passed, so a renewal shows here as soon as it
// would be served.
func (f *Files) NotAfter() time.Time {
	c := f.Certificate()
	f.mu.Lock()
	defer f.mu.Unlock()
	return c.Leaf.NotAfter
}

// Report logs the certificate being served (contract.EdgeCertificateLogMessage: subject,
// serial, notAfter, daysLeft) now and every interval until ctx ends. The health model alerts on
// these lines, so what is watched is what clients are shown, not what the vault holds.
func (f *Files) Report(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		c := f.Certificate()
		f.mu.Lock()
		leaf := c.Leaf
		f.mu.Unlock()
		f.log.Info(contract.EdgeCertificateLogMessage, "cert", f.certFile, "subject", leaf.Subject.String(),
			"serial", leaf.SerialNumber.Text(16), "notAfter", leaf.NotAfter.UTC().Format(time.RFC3339),
			"daysLeft", math.Floor(leaf.NotAfter.Sub(f.now()).Hours()/24*10)/10)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Reloads is how many times a changed pair was loaded since Load.
func (f *Files) Reloads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloaded
}

// Config is a server configuration presenting the current certificate, TLS 1.2 at least (the
// platform's floor on every public edge).
func (f *Files) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := f.Certificate(); c != nil {
				return c, nil
			}
			return nil, errors.New("tls: no certificate")
		},
	}
}
