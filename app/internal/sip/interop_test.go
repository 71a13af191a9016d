package sip

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// The SIP side of the interop matrix: real user agents and proxies against the server.

// need returns the path of an installed binary; a missing one fails the test.
func need(t *testing.T, name string, alt ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, a := range alt {
		if _, err := os.Stat(a); err == nil {
			return a
		}
	}
	t.Fatalf("%s is required for the interop matrix (Debian: see .ci/run)", name)
	return ""
}

// logFile sends a process's output to a file (not a pipe its children could hold open) and
// returns a function reading it back.
func logFile(t *testing.T, cmd *exec.Cmd, path string) func() string {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	cmd.Stdout, cmd.Stderr = f, f
	return func() string {
		b, _ := os.ReadFile(path)
		return string(b)
	}
}

// stopProcess asks a process to terminate (Kamailio stops its children on SIGTERM), and
// kills it if it has not within 5 s.
func stopProcess(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// sipsak's OPTIONS probe (what monitoring and dispatchers send) gets 200 with Allow.
func TestInteropSipsakOptions(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, need(t, "sipsak"), "-vv", "-s", "sip:voicemail@"+f.addr).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "SIP/2.0 200 OK")
	assert.Contains(t, string(out), "Allow: "+allow)
}

// kamailioCfg forwards every new request to the voicemail server, record-routing, and adds
// a Diversion header naming the mailbox to INVITEs, as an operator's switch does for a call
// forwarded on no answer.
const kamailioCfg = `#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:%[1]d
mpath="%[2]s"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK")) {
			if (t_check_trans()) {
				t_relay();
			}
			exit;
		}
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	if (is_method("INVITE")) {
		record_route();
		append_hf("Diversion: <sip:%[3]s@voicemail.test>;reason=no-answer\r\n");
	}
	$ru = "sip:voicemail@%[4]s";
	t_relay();
}
`

// baresip calls a number that forwards to voicemail; Kamailio in between adds the Diversion
// header (baresip cannot) and the caller leaves a message in the diverting party's mailbox.
func TestInteropBaresipThroughKamailio(t *testing.T) {
	t.Parallel()
	const mailbox, caller = "5550123", "4930111"
	f := start(t, Config{SilenceTimeout: 2 * time.Second})
	voicemailtest.Provision(t, f.svc, mailbox, "2468")
	dir := t.TempDir()

	kport := freePort(t)
	mpath := "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
	cfg := filepath.Join(dir, "kamailio.cfg")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(kamailioCfg, kport, mpath, mailbox, f.addr)), 0o600))
	run := filepath.Join(dir, "run")
	require.NoError(t, os.Mkdir(run, 0o700))
	kam := exec.Command(need(t, "kamailio", "/usr/sbin/kamailio"), "-f", cfg, "-DD", "-E", "-Y", run, "-m", "32", "-M", "8")
	klog := logFile(t, kam, filepath.Join(dir, "kamailio.log"))
	require.NoError(t, kam.Start())
	t.Cleanup(func() { stopProcess(kam) })
	kaddr := fmt.Sprintf("127.0.0.1:%d", kport)
	// Probe until Kamailio relays an OPTIONS, each probe a new transaction of constant size
	// (a branch that grew per probe once made the 200 exceed the UDP size limit).
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		probe := strings.NewReplacer("opt-1", "kam-ready", "z9hG4bK-opt1", fmt.Sprintf("z9hG4bK-kamready%06d", i)).Replace(okOptions)
		if statusOf(exchange(t, kaddr, probe, time.Second)) == "SIP/2.0 200 OK" {
			break
		}
		require.True(t, time.Now().Before(deadline), "kamailio did not relay OPTIONS: %s", klog())
		time.Sleep(50 * time.Millisecond)
	}

	// The caller speaks for 8 s (a tone, 8 kHz mono PCM), then stays silent until the server
	// hangs up after its silence timeout.
	speech := filepath.Join(dir, "speech.wav")
	require.NoError(t, os.WriteFile(speech, voicemailtest.WAV(audio.PCM16, 8*time.Second), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var ualog func() string
	// baresip also binds TCP and TLS next to its UDP port; another test may hold one of
	// them, so a start that fails to bind is retried on other ports.
	for attempt := 0; ; attempt++ {
		conf := filepath.Join(dir, fmt.Sprintf("baresip%d", attempt))
		require.NoError(t, os.Mkdir(conf, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(conf, "config"), []byte(fmt.Sprintf(`sip_listen 127.0.0.1:%d
audio_player aufile,%s/heard.wav
audio_source aufile,%s
audio_alert aufile,%s/alert.wav
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module_app account.so
module_app menu.so
`, freePort(t), dir, speech, dir)), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(conf, "accounts"),
			[]byte(fmt.Sprintf("<sip:%s@127.0.0.1>;regint=0;audio_codecs=PCMA,PCMU\n", caller)), 0o600))
		ua := exec.CommandContext(ctx, need(t, "baresip"), "-f", conf, "-e", fmt.Sprintf("/dial sip:+4930999@%s", kaddr), "-t", "100")
		ualog = logFile(t, ua, filepath.Join(conf, "baresip.log"))
		require.NoError(t, ua.Start())
		t.Cleanup(func() { stopProcess(ua) })
		// Start-up ends in one of the two lines; a loaded machine takes seconds to get there.
		ready := time.Now().Add(30 * time.Second)
		for !strings.Contains(ualog(), "baresip is ready") && !strings.Contains(ualog(), "init failed") {
			require.True(t, time.Now().Before(ready), "baresip did not start: %s", ualog())
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(ualog(), "init failed") {
			break
		}
		require.Less(t, attempt, 4, "baresip could not bind: %s", ualog())
	}

	// The call takes about 15 s (greeting, 8 s of speech, the silence timeout); the deadline
	// only bounds a call that never ends.
	deadline = time.Now().Add(90 * time.Second)
	for len(f.log.find("message stored", map[string]string{"mailbox": mailbox})) == 0 {
		require.True(t, time.Now().Before(deadline), "no message stored\nbaresip: %s\nkamailio: %s", ualog(), klog())
		time.Sleep(100 * time.Millisecond)
	}
	msgs, err := f.svc.Messages(context.Background(), mailbox, voicemail.FolderNew)
	require.NoError(t, err, "baresip: %s\nkamailio: %s", ualog(), klog())
	require.Len(t, msgs, 1, "baresip: %s", ualog())
	assert.Equal(t, caller, msgs[0].Caller)
	assert.Greater(t, msgs[0].Duration, 3*time.Second, "the caller's speech is recorded")
	wav, err := f.svc.Audio(context.Background(), mailbox, msgs[0].ID)
	require.NoError(t, err)
	_, err = audio.Parse(wav)
	assert.NoError(t, err)
}
