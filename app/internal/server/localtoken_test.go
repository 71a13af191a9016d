package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/contract"
)

func TestLocalTokenIsGeneratedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	c := contract.DefaultStamp()
	c.DataDir = dir
	require.NoError(t, EnsureLocalToken(&c))
	assert.Len(t, c.OperatorToken, 48)
	assert.Equal(t, filepath.Join(dir, "operator-token"), c.OperatorTokenFile)
	fi, err := os.Stat(c.OperatorTokenFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	c2 := contract.DefaultStamp()
	c2.DataDir = dir
	require.NoError(t, EnsureLocalToken(&c2))
	assert.Equal(t, c.OperatorToken, c2.OperatorToken, "a restart keeps the token")
}
