// Package sipptest runs sipp, the SIP test peer, for the tests of the SIP server and of the
// local system: free loopback ports for it, one scenario run with its error log, and tone
// streams that tell calls apart.
package sipptest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Bin is where Debian's sip-tester installs sipp; Share holds its pcap files.
const (
	Bin   = "/usr/bin/sipp"
	Share = "/usr/share/sip-tester"
)

// FreeUDPPort returns a loopback UDP port that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// FreeSIPPort returns a loopback port that was free for both UDP and TCP a moment ago (sipp's
// -p serves both transports).
func FreeSIPPort(t testing.TB) int {
	t.Helper()
	for range 50 {
		p := FreeUDPPort(t)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no loopback port free for UDP and TCP")
	return 0
}

// FreeMediaPorts returns an even UDP port p with p..p+3 free a moment ago (sipp uses p for RTP
// and its neighbours for echo and RTCP).
func FreeMediaPorts(t testing.TB) int {
	t.Helper()
next:
	for range 50 {
		p := FreeUDPPort(t) &^ 1
		for j := range 4 {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + j})
			if err != nil {
				continue next
			}
			c.Close()
		}
		return p
	}
	t.Fatal("no free media ports")
	return 0
}

// Run runs the scenario file against target (empty for a server scenario) and returns an
// error carrying sipp's output and error log unless every call succeeded. -p, -timeout (60 s)
// and -m (1) are chosen unless extra sets them. Ports are picked free but a test running
// alongside can take one before sipp binds it; sipp then fails at start-up, before any call,
// and is run again with new ports. A retry after a call had started would leave a second
// message and fail the caller's checks rather than hide anything. sipp is a required peer:
// the test fails, never skips, without it.
func Run(t testing.TB, scenarioFile, target string, keys map[string]string, extra ...string) error {
	t.Helper()
	if _, err := os.Stat(Bin); err != nil {
		t.Fatalf("sipp is required (Debian package sip-tester): %v", err)
	}
	var err error
	for range 3 {
		if err = runOnce(t, scenarioFile, target, keys, extra); err == nil || !strings.Contains(err.Error(), "Address already in use") {
			return err
		}
		t.Logf("sipp %s could not bind a port, retrying", filepath.Base(scenarioFile))
	}
	return err
}

func runOnce(t testing.TB, scenarioFile, target string, keys map[string]string, extra []string) error {
	t.Helper()
	args := []string{"-sf", scenarioFile, "-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-cp", strconv.Itoa(FreeUDPPort(t)), "-mp", strconv.Itoa(FreeMediaPorts(t)),
		"-nostdin", "-trace_err", "-timeout_error", "-max_recv_loops", "1000"}
	if !slices.Contains(extra, "-p") {
		args = append(args, "-p", strconv.Itoa(FreeSIPPort(t)))
	}
	if !slices.Contains(extra, "-timeout") {
		args = append(args, "-timeout", "60s")
	}
	for k, v := range keys {
		args = append(args, "-key", k, v)
	}
	args = append(args, extra...)
	if !slices.Contains(extra, "-m") {
		args = append(args, "-m", "1")
	}
	if target != "" {
		args = append(args, target)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, Bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log"))
	var detail strings.Builder
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		detail.Write(b)
	}
	return fmt.Errorf("sipp %s: %w\nargs: %v\noutput tail: %s\nerrors: %s",
		filepath.Base(scenarioFile), err, args, tail(string(out), 3000), tail(detail.String(), 4000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
