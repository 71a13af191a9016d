package main_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/local/azurite"
)

func freeUDPAddr(t *testing.T) string {
	// SIP listens on UDP and TCP on one port: find one that is free for both.
	for range 20 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := u.LocalAddr().String()
		l, err := net.Listen("tcp", addr)
		u.Close()
		if err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatal("no free UDP+TCP port")
	return ""
}

// TestBinaryServesSIPAndIMAP: with both addresses set the one process answers SIP OPTIONS and
// greets IMAP clients, and SIGTERM still ends it cleanly.
func TestBinaryServesSIPAndIMAP(t *testing.T) {
	t.Parallel() // own binary run, data dir and ports
	bin := build(t)
	sipAddr, imapAddr := freeUDPAddr(t), freeAddr(t)
	p := start(t, bin, t.TempDir(), "VOICEMAIL_SIP_ADDR="+sipAddr, "VOICEMAIL_IMAP_ADDR="+imapAddr,
		"VOICEMAIL_SIP_RTP_PORTS=31000-31100")

	var imapGreeting string
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", imapAddr)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		imapGreeting, err = bufio.NewReader(c).ReadString('\n')
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "imap: %s", p.out)
	assert.True(t, strings.HasPrefix(imapGreeting, "* OK"), imapGreeting)

	c, err := net.Dial("udp", sipAddr)
	require.NoError(t, err)
	defer c.Close()
	local := c.LocalAddr().String()
	options := fmt.Sprintf("OPTIONS sip:voicemail@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-opt1\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@%s>;tag=1\r\nTo: <sip:voicemail@%s>\r\nCall-ID: opt-1@test\r\n"+
		"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", sipAddr, local, local, sipAddr)
	var reply string
	require.Eventually(t, func() bool {
		if _, err := c.Write([]byte(options)); err != nil {
			return false
		}
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		reply = string(buf[:n])
		return err == nil
	}, 10*time.Second, 100*time.Millisecond, "sip: %s", p.out)
	assert.True(t, strings.HasPrefix(reply, "SIP/2.0 200"), reply)

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, p.wait(t), p.out.String())
}

// TestBadProtocolConfigFailsAtStart: a malformed SIP setting stops the process before it serves,
// naming the variable.
func TestBadProtocolConfigFailsAtStart(t *testing.T) {
	t.Parallel() // own binary run, data dir and ports
	bin := build(t)
	cmd := exec.Command(bin)
	cmd.Env = append(cmd.Environ(), "VOICEMAIL_DATA_DIR="+t.TempDir(), "VOICEMAIL_HTTP_ADDR="+freeAddr(t),
		"VOICEMAIL_OPERATOR_TOKEN="+token, "VOICEMAIL_SIP_ADDR="+freeUDPAddr(t), "VOICEMAIL_SIP_RTP_PORTS=many")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Equal(t, 2, cmd.ProcessState.ExitCode())
	assert.Contains(t, string(out), "VOICEMAIL_SIP_RTP_PORTS")
}

// TestProtocolListenFailureStopsProcess: a stamp must not keep serving HTTP with IMAP missing.
func TestProtocolListenFailureStopsProcess(t *testing.T) {
	t.Parallel() // own binary run, data dir and ports
	bin := build(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(cmd.Environ(), "VOICEMAIL_DATA_DIR="+t.TempDir(), "VOICEMAIL_HTTP_ADDR="+freeAddr(t),
		"VOICEMAIL_OPERATOR_TOKEN="+token, "VOICEMAIL_IMAP_ADDR="+taken.Addr().String())
	out, err := cmd.CombinedOutput()
	require.Error(t, err, string(out))
	assert.Equal(t, 1, cmd.ProcessState.ExitCode())
	assert.Contains(t, string(out), "address already in use")
}

// sipOptions sends one OPTIONS over UDP to addr and returns the status line of the answer.
func sipOptions(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer c.Close()
	local := c.LocalAddr().String()
	id := fmt.Sprint(time.Now().UnixNano())
	_, err = fmt.Fprintf(c, "OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@%s>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: %s@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		addr, local, id, local, addr, id)
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return err.Error()
	}
	line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
	return line
}

// TestOptionsFollowStampStores: the dispatcher's OPTIONS probes get 503 while the replica cannot
// reach its stamp's stores (here Azurite's Table service stopped), so the replica leaves SIP
// rotation as the stamp leaves Traffic Manager's, and 200 again once the store is back.
func TestOptionsFollowStampStores(t *testing.T) {
	t.Parallel()
	az := azurite.StartT(t, azurite.Options{Dir: t.TempDir()})
	bin := build(t)
	sipAddr := freeUDPAddr(t)
	p := start(t, bin, t.TempDir(), "VOICEMAIL_SIP_ADDR="+sipAddr, "VOICEMAIL_SIP_RTP_PORTS=31200-31300",
		"VOICEMAIL_STORAGE_CONNECTION_STRING="+az.ConnectionString(), "VOICEMAIL_REGION=westeurope",
		"VOICEMAIL_STAMP=opt-1", "VOICEMAIL_HEALTH_CACHE_TTL=100ms", "VOICEMAIL_HEALTH_TIMEOUT=1s")
	ok := func() bool { return strings.HasPrefix(sipOptions(t, sipAddr), "SIP/2.0 200") }
	require.Eventually(t, ok, 15*time.Second, 100*time.Millisecond, p.out)

	require.NoError(t, az.Stop(azurite.Table))
	var line string
	require.Eventually(t, func() bool {
		line = sipOptions(t, sipAddr)
		return strings.HasPrefix(line, "SIP/2.0 503")
	}, 15*time.Second, 100*time.Millisecond, "OPTIONS while the metadata store is down: %s", line)
	code, _ := do(t, http.MethodGet, "http://"+p.addr+"/health/stamp", nil)
	assert.Equal(t, http.StatusServiceUnavailable, code, "the stamp health agrees")

	require.NoError(t, az.Restart(context.Background(), azurite.Table))
	require.Eventually(t, ok, 15*time.Second, 100*time.Millisecond, "OPTIONS once the store is back")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, p.wait(t), p.out.String())
}

// A stamp the management service drains (its state marker removed) leaves SIP rotation too:
// OPTIONS answers 503 until the marker is back. SRV records follow only the stack's drain, so
// without this a drained stamp kept taking calls.
func TestOptionsFollowStampDrain(t *testing.T) {
	t.Parallel()
	bin := build(t)
	dir := t.TempDir()
	sipAddr := freeUDPAddr(t)
	p := start(t, bin, dir, "VOICEMAIL_SIP_ADDR="+sipAddr, "VOICEMAIL_SIP_RTP_PORTS=31400-31500",
		"VOICEMAIL_HEALTH_CACHE_TTL=100ms", "VOICEMAIL_STATE_BLOB=drain-marker")
	ok := func() bool { return strings.HasPrefix(sipOptions(t, sipAddr), "SIP/2.0 200") }
	require.Eventually(t, ok, 15*time.Second, 100*time.Millisecond, p.out)

	marker := filepath.Join(dir, "drain-marker") // embedded: the state blob is a file
	require.FileExists(t, marker)
	require.NoError(t, os.Remove(marker))
	var line string
	require.Eventually(t, func() bool {
		line = sipOptions(t, sipAddr)
		return strings.HasPrefix(line, "SIP/2.0 503")
	}, 15*time.Second, 100*time.Millisecond, "OPTIONS while the stamp is drained: %s", line)

	require.NoError(t, os.WriteFile(marker, []byte("in-service\n"), 0o644))
	require.Eventually(t, ok, 15*time.Second, 100*time.Millisecond, "OPTIONS once the stamp is restored")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, p.wait(t), p.out.String())
}
