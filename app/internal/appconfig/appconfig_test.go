package appconfig

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	require.NoError(t, err)
	assert.Equal(t, ":8080", c.HTTPAddr)
	assert.Equal(t, "./data", c.DataDir)
	assert.Equal(t, "local", c.Region)
	assert.Equal(t, "local-1", c.StateBlob)
	assert.Equal(t, 3*time.Second, c.HealthTimeout)
	assert.Equal(t, 10*time.Second, c.HealthCacheTTL)
	assert.Equal(t, 2*time.Second, c.StoreTimeout)
	assert.False(t, c.Azure())
	assert.Empty(t, c.SIPAddr)
}

func TestErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"VOICEMAIL_HTTP_ADDR": "8080"}, []string{"VOICEMAIL_HTTP_ADDR"}},
		{map[string]string{"VOICEMAIL_SIP_ADDR": ":99999"}, []string{"VOICEMAIL_SIP_ADDR"}},
		{map[string]string{"VOICEMAIL_REGION": "West Europe"}, []string{"VOICEMAIL_REGION"}},
		{map[string]string{"VOICEMAIL_HEALTH_TIMEOUT": "3"}, []string{"VOICEMAIL_HEALTH_TIMEOUT"}},
		{map[string]string{"VOICEMAIL_HEALTH_CACHE_TTL": "-1s"}, []string{"VOICEMAIL_HEALTH_CACHE_TTL"}},
		{map[string]string{"VOICEMAIL_HEALTH_WINDOW": "1s"}, []string{"VOICEMAIL_HEALTH_WINDOW"}},
		{map[string]string{"VOICEMAIL_STORE_TIMEOUT": "2"}, []string{"VOICEMAIL_STORE_TIMEOUT"}},
		{map[string]string{"VOICEMAIL_STORE_TIMEOUT": "10ms"}, []string{"VOICEMAIL_STORE_TIMEOUT"}},
		{map[string]string{"VOICEMAIL_OPERATOR_TOKEN": "short"}, []string{"VOICEMAIL_OPERATOR_TOKEN"}},
		{map[string]string{"VOICEMAIL_PIN_FREE_FAILURES": "zero"}, []string{"VOICEMAIL_PIN_FREE_FAILURES"}},
		{map[string]string{"VOICEMAIL_PIN_PENALTY_MAX": "1h"}, []string{"VOICEMAIL_PIN_PENALTY_MAX"}},
		{map[string]string{"VOICEMAIL_LOG_LEVEL": "loud"}, []string{"VOICEMAIL_LOG_LEVEL"}},
		{map[string]string{"VOICEMAIL_TABLE_ENDPOINT": "https://a.table.cosmos.azure.com/", "VOICEMAIL_OPERATOR_TOKEN": "0123456789abcdef"},
			[]string{"VOICEMAIL_BLOB_ENDPOINT", "VOICEMAIL_QUEUE_ENDPOINT"}},
		{map[string]string{"VOICEMAIL_BLOB_ENDPOINT": "http://a.blob.core.windows.net/"}, []string{"VOICEMAIL_BLOB_ENDPOINT", "VOICEMAIL_OPERATOR_TOKEN"}},
		{map[string]string{"VOICEMAIL_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage", "VOICEMAIL_OPERATOR_TOKEN": "0123456789abcdef"}, []string{"VOICEMAIL_STORAGE_CONNECTION_STRING"}},
		{map[string]string{"VOICEMAIL_AUDIO_CONTAINER": "Audio_Files", "VOICEMAIL_TABLE": "1x"}, []string{"VOICEMAIL_AUDIO_CONTAINER", "VOICEMAIL_TABLE"}},
	} {
		_, err := Load(env(tc.env))
		require.Error(t, err, tc.env)
		for _, w := range tc.want {
			assert.Contains(t, err.Error(), w+":", tc.env)
		}
	}
}

func TestAzureConfig(t *testing.T) {
	c, err := Load(env(map[string]string{
		"VOICEMAIL_TABLE_ENDPOINT": "https://a.table.cosmos.azure.com/", "VOICEMAIL_BLOB_ENDPOINT": "https://a.blob.core.windows.net/",
		"VOICEMAIL_QUEUE_ENDPOINT": "https://a.queue.core.windows.net/", "VOICEMAIL_OPERATOR_TOKEN": "0123456789abcdef",
		"VOICEMAIL_STAMP": "weu-1", "VOICEMAIL_REGION": "westeurope",
	}))
	require.NoError(t, err)
	assert.True(t, c.Azure())
	assert.Equal(t, "weu-1", c.StateBlob)
}

func TestLocalTokenIsGeneratedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(env(map[string]string{"VOICEMAIL_DATA_DIR": dir}))
	require.NoError(t, err)
	require.NoError(t, c.EnsureLocalToken())
	assert.Len(t, c.OperatorToken, 48)
	assert.Equal(t, filepath.Join(dir, "operator-token"), c.OperatorTokenFile)
	fi, err := os.Stat(c.OperatorTokenFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	c2, _ := Load(env(map[string]string{"VOICEMAIL_DATA_DIR": dir}))
	require.NoError(t, c2.EnsureLocalToken())
	assert.Equal(t, c.OperatorToken, c2.OperatorToken, "a restart keeps the token")
}
