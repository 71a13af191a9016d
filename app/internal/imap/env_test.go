package imap

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

func TestConfigFromEnv(t *testing.T) {
	_, caFile := selfSigned(t)
	keyFile := filepath.Join(filepath.Dir(caFile), "key.pem")
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

	cfg, err := ConfigFromEnv(env(map[string]string{
		EnvTLSCert: caFile, EnvTLSKey: keyFile, EnvRequireTLS: "true", EnvDomain: "vvm.example.com",
		EnvLanguages: "en, de,fr", EnvIdleTimeout: "10m", EnvMaxConnections: "50", EnvTLSAddr: ":993",
	}))
	require.NoError(t, err)
	assert.NotNil(t, cfg.TLS)
	assert.True(t, cfg.RequireTLS)
	assert.Equal(t, "vvm.example.com", cfg.Domain)
	assert.Equal(t, []string{"en", "de", "fr"}, cfg.Languages)
	assert.Equal(t, 10*time.Minute, cfg.IdleTimeout)
	assert.Equal(t, 50, cfg.MaxConnections)

	empty, err := ConfigFromEnv(env(nil))
	require.NoError(t, err)
	assert.Nil(t, empty.TLS)

	for key, kv := range map[string]map[string]string{
		EnvTLSKey:         {EnvTLSCert: caFile},
		EnvTLSCert:        {EnvTLSCert: "/nonexistent.pem", EnvTLSKey: keyFile},
		EnvRequireTLS:     {EnvRequireTLS: "yes please"},
		EnvTLSAddr:        {EnvTLSAddr: ":993"},
		EnvDomain:         {EnvDomain: "a b"},
		EnvIdleTimeout:    {EnvIdleTimeout: "5s"},
		EnvMaxConnections: {EnvMaxConnections: "0"},
	} {
		_, err := ConfigFromEnv(env(kv))
		require.Error(t, err, key)
		assert.Contains(t, err.Error(), key, "the error names the variable")
	}
}

func TestRunServesBothListenersAndStops(t *testing.T) {
	tlsCfg, _ := selfSigned(t)
	svc := voicemailtest.New(t)
	srv := New(svc, Config{TLS: tlsCfg}, nil)
	addr, tlsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, addr, tlsAddr) }()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", tlsAddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	rc := dialRaw(t, addr)
	assert.Contains(t, rc.cmd("a", "CAPABILITY")[0], "STARTTLS")
	cancel()
	require.NoError(t, <-done)

	// A port already taken is an error, not a silent half-start.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	err = New(svc, Config{TLS: tlsCfg}, nil).Run(context.Background(), ln.Addr().String(), freeAddr(t))
	assert.ErrorContains(t, err, "imap listen")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
