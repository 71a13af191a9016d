package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/voicemail-platform/voicemail/contract"
)

// EnsureLocalToken generates an operator token for a local run that has none (embedded store,
// no token set) and stores it in <data dir>/operator-token (0600), reusing an existing one.
func EnsureLocalToken(c *contract.Stamp) error {
	if c.OperatorToken != "" || c.Azure() {
		return nil
	}
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("%s: %w", contract.EnvDataDir.Name, err)
	}
	path := filepath.Join(c.DataDir, "operator-token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		c.OperatorToken, c.OperatorTokenFile = strings.TrimSpace(string(b)), path
		return nil
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	tok := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	c.OperatorToken, c.OperatorTokenFile = tok, path
	return nil
}
