package contract

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := LoadStamp(env(nil))
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
		_, err := LoadStamp(env(tc.env))
		require.Error(t, err, tc.env)
		for _, w := range tc.want {
			assert.Contains(t, err.Error(), w+":", tc.env)
		}
	}
}

func TestAzureConfig(t *testing.T) {
	c, err := LoadStamp(env(map[string]string{
		"VOICEMAIL_TABLE_ENDPOINT": "https://a.table.cosmos.azure.com/", "VOICEMAIL_BLOB_ENDPOINT": "https://a.blob.core.windows.net/",
		"VOICEMAIL_QUEUE_ENDPOINT": "https://a.queue.core.windows.net/", "VOICEMAIL_OPERATOR_TOKEN": "0123456789abcdef",
		"VOICEMAIL_STAMP": "weu-1", "VOICEMAIL_REGION": "westeurope",
	}))
	require.NoError(t, err)
	assert.True(t, c.Azure())
	assert.Equal(t, "weu-1", c.StateBlob)
}

func TestEnvironIsTheInverseOfLoad(t *testing.T) {
	d := DefaultStamp()
	back, err := LoadStamp(env(d.EnvironMap()))
	require.NoError(t, err)
	assert.Equal(t, d, back)

	c := DefaultStamp()
	c.SIPAddr, c.IMAPAddr, c.Region, c.Stamp, c.StateBlob = ":5060", ":1143", "eastus2", "eastus2-z1-v1", "eastus2-z1-v1"
	c.TableEndpoint, c.BlobEndpoint, c.QueueEndpoint = "https://a.table.cosmos.azure.com/", "https://a.blob.core.windows.net/", "https://a.queue.core.windows.net/"
	c.OperatorToken = "0123456789abcdef"
	c.HealthWindow, c.ShutdownGrace, c.DrainVisibility = 25*time.Second, 330*time.Second, 1500*time.Millisecond
	c.SIP.RTPPortMin, c.SIP.RTPPortMax, c.SIP.MaxCalls, c.SIP.MediaIP = 10000, 10398, 200, "203.0.113.5"
	c.SIP.AccessNumbers = []string{"8500", "8501"}
	c.IMAP.Languages, c.IMAP.Domain = []string{"en", "de"}, "vvm.example.com"
	back, err = LoadStamp(env(c.EnvironMap()))
	require.NoError(t, err)
	assert.Equal(t, c, back)
	m := c.EnvironMap()
	assert.Equal(t, "5m30s", m[EnvShutdownGrace.Name])
	assert.Equal(t, "15m", m[EnvPINFailureWindow.Name], "no trailing zero units")
	assert.Equal(t, "1h", m[EnvSIPMaxCallDuration.Name])
	assert.Equal(t, "1.5s", m[EnvDrainVisibility.Name])
	assert.Equal(t, "0s", m[EnvShutdownDelay.Name])
}

func TestEnvironWritesOnlyContractVariables(t *testing.T) {
	names := map[string]bool{}
	for _, v := range StampVars() {
		assert.False(t, names[v.Name], "%s listed twice", v.Name)
		names[v.Name] = true
	}
	c := DefaultStamp()
	c.OperatorToken = "0123456789abcdef"
	for _, kv := range c.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		assert.True(t, names[k], "%s is not a contract variable", k)
	}
}

func TestStampReadsEveryVariable(t *testing.T) {
	read := map[string]bool{}
	_, _ = LoadStamp(func(k string) string { read[k] = true; return "" })
	for _, v := range StampVars() {
		assert.True(t, read[v.Name], "LoadStamp does not read %s", v.Name)
	}
	assert.Len(t, read, len(StampVars()), "LoadStamp reads a variable StampVars does not list")
}

func TestStateBlob(t *testing.T) {
	b := StampStateBlob("eastus2-z1-v1")
	assert.Equal(t, StateContainer, b.Container)
	assert.Equal(t, "init/eastus2-z1-v1", b.InitMarker())
	assert.NoError(t, b.Validate())
	assert.Error(t, StateBlob{Name: "Has/Slash"}.Validate())
	assert.Equal(t, StateBlob{Container: StateContainer, Name: "local-1"}, DefaultStamp().State(), "the state blob defaults to the stamp name")
}

func TestLoadCountryCode(t *testing.T) {
	c, err := LoadStamp(env(map[string]string{EnvNumberCountryCode.Name: "49"}))
	require.NoError(t, err)
	assert.Equal(t, "49", c.CountryCode)
	for _, bad := range []string{"049", "1234", "+1", "x"} {
		_, err := LoadStamp(env(map[string]string{EnvNumberCountryCode.Name: bad}))
		assert.ErrorContains(t, err, EnvNumberCountryCode.Name, bad)
	}
}
