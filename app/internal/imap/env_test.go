package imap

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
	"github.com/voicemail-platform/voicemail/contract"
)

func TestFromContract(t *testing.T) {
	tlsCfg, _ := selfSigned(t)
	cfg, err := FromContract(contract.IMAP{Domain: "vvm.example.com",
		Languages: []string{"en", "de", "fr"}, IdleTimeout: 10 * time.Minute, MaxConnections: 50, TLSAddr: ":993"}, tlsCfg)
	require.NoError(t, err)
	assert.NotNil(t, cfg.TLS)
	assert.True(t, cfg.loginNeedsTLS(), "with a certificate, login waits for TLS")
	assert.Equal(t, "vvm.example.com", cfg.Domain)
	assert.Equal(t, []string{"en", "de", "fr"}, cfg.Languages)
	assert.Equal(t, 10*time.Minute, cfg.IdleTimeout)
	assert.Equal(t, 50, cfg.MaxConnections)

	empty, err := FromContract(contract.DefaultIMAP(), nil)
	require.NoError(t, err)
	assert.Nil(t, empty.TLS)
	assert.False(t, empty.loginNeedsTLS())
	assert.Equal(t, contract.DefaultIMAP().VisibilityDelay, empty.VisibilityDelay, "a stamp holds new messages back by default")
	assert.Positive(t, empty.VisibilityDelay)

	_, err = FromContract(contract.IMAP{TLSAddr: ":993"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), contract.EnvTLSCert.Name, "the error names the variable")
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
