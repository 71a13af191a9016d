package contract

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadIMAP(t *testing.T) {
	c, err := LoadStamp(env(map[string]string{
		EnvTLSCert.Name: "/etc/tls/cert.pem", EnvTLSKey.Name: "/etc/tls/key.pem",
		EnvIMAPDomain.Name: "vvm.example.com", EnvIMAPLanguages.Name: "en, de,fr", EnvIMAPIdleTimeout.Name: "10m",
		EnvIMAPMaxConnections.Name: "50", EnvIMAPSAddr.Name: ":993", EnvIMAPVisibilityDelay.Name: "0s",
	}))
	require.NoError(t, err)
	assert.Equal(t, IMAP{TLSAddr: ":993",
		Domain: "vvm.example.com", Languages: []string{"en", "de", "fr"}, IdleTimeout: 10 * time.Minute, MaxConnections: 50}, c.IMAP)
	back, err := LoadStamp(env(c.EnvironMap()))
	require.NoError(t, err)
	assert.Equal(t, c.IMAP, back.IMAP, "a zero delay survives Environ")

	d := DefaultIMAP()
	assert.Equal(t, "voicemail.invalid", d.Domain)
	assert.Equal(t, 30*time.Minute, d.IdleTimeout)
	assert.Equal(t, 5*time.Second, d.VisibilityDelay)
	assert.NotContains(t, strings.Join(DefaultStamp().Environ(), "\n"), EnvIMAPVisibilityDelay.Name, "the default needs no line")

	for _, tc := range []struct {
		v  Var
		kv map[string]string
	}{
		{EnvIMAPSAddr, map[string]string{EnvIMAPSAddr.Name: ":993"}},
		{EnvIMAPDomain, map[string]string{EnvIMAPDomain.Name: "a b"}},
		{EnvIMAPIdleTimeout, map[string]string{EnvIMAPIdleTimeout.Name: "5s"}},
		{EnvIMAPMaxConnections, map[string]string{EnvIMAPMaxConnections.Name: "0"}},
		{EnvIMAPVisibilityDelay, map[string]string{EnvIMAPVisibilityDelay.Name: "-1s"}},
		{EnvIMAPVisibilityDelay, map[string]string{EnvIMAPVisibilityDelay.Name: "1h"}},
	} {
		_, err := LoadStamp(env(tc.kv))
		require.Error(t, err, tc.v.Name)
		assert.Contains(t, err.Error(), tc.v.Name, "the error names the variable")
	}
}

func TestLoadTLSAndMetrics(t *testing.T) {
	c, err := LoadStamp(env(map[string]string{
		EnvTLSCert.Name: "/mnt/keyvault/edge.pem", EnvTLSKey.Name: "/mnt/keyvault/edge.pem", EnvTLSCheckInterval.Name: "30s",
	}))
	require.NoError(t, err)
	assert.Equal(t, TLS{CertFile: "/mnt/keyvault/edge.pem", KeyFile: "/mnt/keyvault/edge.pem", CheckInterval: 30 * time.Second}, c.TLS)
	assert.True(t, c.TLS.Enabled())
	assert.Empty(t, c.MetricsAddr, "metrics are off unless given their own listener")
	assert.False(t, DefaultStamp().TLS.Enabled())

	for _, tc := range []struct {
		v  Var
		kv map[string]string
	}{
		{EnvTLSCert, map[string]string{EnvTLSKey.Name: "k.pem"}},
		{EnvTLSCheckInterval, map[string]string{EnvTLSCheckInterval.Name: "1h"}},
		{EnvIMAPSAddr, map[string]string{EnvIMAPSAddr.Name: ":993"}},
		{EnvMetricsAddr, map[string]string{EnvMetricsAddr.Name: ":8080", EnvHTTPAddr.Name: ":8080"}},
		{EnvMetricsAddr, map[string]string{EnvMetricsAddr.Name: "nope"}},
	} {
		_, err := LoadStamp(env(tc.kv))
		require.Error(t, err, tc.v.Name)
		assert.Contains(t, err.Error(), tc.v.Name, "the error names the variable")
	}
}
