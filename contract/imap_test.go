package contract

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadIMAP(t *testing.T) {
	c, err := LoadStamp(env(map[string]string{
		EnvIMAPTLSCert.Name: "/etc/tls/cert.pem", EnvIMAPTLSKey.Name: "/etc/tls/key.pem", EnvIMAPRequireTLS.Name: "true",
		EnvIMAPDomain.Name: "vvm.example.com", EnvIMAPLanguages.Name: "en, de,fr", EnvIMAPIdleTimeout.Name: "10m",
		EnvIMAPMaxConnections.Name: "50", EnvIMAPSAddr.Name: ":993",
	}))
	require.NoError(t, err)
	assert.Equal(t, IMAP{TLSAddr: ":993", TLSCert: "/etc/tls/cert.pem", TLSKey: "/etc/tls/key.pem", RequireTLS: true,
		Domain: "vvm.example.com", Languages: []string{"en", "de", "fr"}, IdleTimeout: 10 * time.Minute, MaxConnections: 50}, c.IMAP)

	d := DefaultIMAP()
	assert.Equal(t, "voicemail.invalid", d.Domain)
	assert.Equal(t, 30*time.Minute, d.IdleTimeout)

	for _, tc := range []struct {
		v  Var
		kv map[string]string
	}{
		{EnvIMAPTLSKey, map[string]string{EnvIMAPTLSCert.Name: "c.pem"}},
		{EnvIMAPRequireTLS, map[string]string{EnvIMAPRequireTLS.Name: "yes please"}},
		{EnvIMAPSAddr, map[string]string{EnvIMAPSAddr.Name: ":993"}},
		{EnvIMAPDomain, map[string]string{EnvIMAPDomain.Name: "a b"}},
		{EnvIMAPIdleTimeout, map[string]string{EnvIMAPIdleTimeout.Name: "5s"}},
		{EnvIMAPMaxConnections, map[string]string{EnvIMAPMaxConnections.Name: "0"}},
	} {
		_, err := LoadStamp(env(tc.kv))
		require.Error(t, err, tc.v.Name)
		assert.Contains(t, err.Error(), tc.v.Name, "the error names the variable")
	}
}
