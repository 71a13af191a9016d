package kamailio

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTargetSyncWritesTheReplicasAndOnlyOnChange(t *testing.T) {
	pods := []string{"10.1.16.9", "10.1.16.4"}
	s := TargetSync{Host: "voicemail-sip", Port: 5060, ListFile: filepath.Join(t.TempDir(), "dispatcher.list"),
		Resolve: func(context.Context, string) ([]string, error) { return pods, nil }}
	wrote, err := s.Once(context.Background())
	require.NoError(t, err)
	assert.True(t, wrote)
	b, err := os.ReadFile(s.ListFile)
	require.NoError(t, err)
	assert.Equal(t, "# setid destination flags priority attrs (generated)\n1 sip:10.1.16.4:5060 0 0 weight=1\n1 sip:10.1.16.9:5060 0 0 weight=1\n", string(b))
	wrote, err = s.Once(context.Background())
	require.NoError(t, err)
	assert.False(t, wrote, "unchanged set: no rewrite, no reload churn")
	pods = []string{"10.1.16.9"}
	wrote, err = s.Once(context.Background())
	require.NoError(t, err)
	assert.True(t, wrote)
}

func TestParseDestinations(t *testing.T) {
	out := "{\n\tNRSETS: 1\n\tRECORDS: {\n\t\tSET: {\n\t\t\tID: 1\n\t\t\tTARGETS: {\n\t\t\t\tDEST: {\n\t\t\t\t\tURI: sip:127.0.0.1:25996\n\t\t\t\t\tFLAGS: AP\n" +
		"\t\t\t\t\tPRIORITY: 0\n\t\t\t\t}\n\t\t\t\tDEST: {\n\t\t\t\t\tURI: sip:127.0.0.2:25997\n\t\t\t\t\tFLAGS: IP\n\t\t\t\t}\n\t\t\t}\n\t\t}\n\t}\n}\n"
	assert.Equal(t, map[string]bool{"sip:127.0.0.1:25996": true, "sip:127.0.0.2:25997": false}, parseDestinations(out))
}
