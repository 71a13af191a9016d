package edgetls

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/voicemail-platform/voicemail/internal/certgen"
)

// SelfSigned is a certificate that is its own root, for local runs and tests: clients trust
// it by using CertFile as their CA file.
type SelfSigned struct {
	CertFile, KeyFile string
}

// WriteSelfSigned writes a fresh self-signed certificate for hosts (localhost and 127.0.0.1
// are always included) into dir as cert.pem and key.pem (mode 0600), valid for validFor. Each
// call makes a new key and serial, so rewriting the files stands in for a renewal.
func WriteSelfSigned(dir, commonName string, validFor time.Duration, hosts ...string) (SelfSigned, error) {
	certPEM, keyPEM, err := certgen.SelfSigned(commonName, validFor, append([]string{"localhost", "127.0.0.1"}, hosts...)...)
	if err != nil {
		return SelfSigned{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return SelfSigned{}, err
	}
	s := SelfSigned{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	// Key first, then certificate: a reader between the two sees a pair that does not match
	// and keeps its previous certificate.
	if err := writeFile(s.KeyFile, keyPEM); err != nil {
		return SelfSigned{}, err
	}
	if err := writeFile(s.CertFile, certPEM); err != nil {
		return SelfSigned{}, err
	}
	return s, nil
}

// writeFile replaces path atomically (write beside it, rename over it).
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}
