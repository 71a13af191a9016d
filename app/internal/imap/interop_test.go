package imap

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

// The interop matrix: real mail clients sync the mailbox, flag one message, delete another,
// then sync twice more and must report neither an error nor a change. Each client gets its own
// server and mailbox, so they run in parallel.

// syncFixture is a mailbox with three messages and a recorded greeting.
type syncFixture struct {
	*env
	msgs  []voicemail.Message // oldest first: [0] gets flagged, [1] deleted, [2] left alone
	dir   string
	clock *testClock // the server's and the service's clock, past the visibility delay of the messages above
}

// interopVisibilityDelay is the visibility delay the clients run behind, on a clock the test
// moves (syncFixture.clock).
const interopVisibilityDelay = 5 * time.Second

func newSyncFixture(t *testing.T) *syncFixture {
	t.Helper()
	// The service runs on the same clock as the server, so the times deposits are stored at
	// (which order a message stored late) do not depend on how long the clients take.
	clock := &testClock{t: time.Now()}
	svc, _ := voicemailtest.NewWithOptions(t, voicemail.Options{Now: clock.Now})
	e := startEnvWith(t, svc, Config{VisibilityDelay: interopVisibilityDelay, Now: clock.Now})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	f := &syncFixture{env: e, dir: t.TempDir(), clock: clock}
	for i := range 3 {
		f.msgs = append(f.msgs, voicemailtest.Deposit(t, e.svc, testNumber, fmt.Sprint("+1555111000", i), time.Second))
		clock.set(clock.Now().Add(2 * time.Millisecond))
	}
	require.NoError(t, e.svc.PutGreeting(context.Background(), testNumber, voicemail.GreetingBusy,
		voicemailtest.WAV(audio.PCM16, time.Second)))
	clock.set(clock.Now().Add(interopVisibilityDelay))
	waitShown(t, e.addr, 3)
	return f
}

// waitShown waits until INBOX shows n messages (the visibility delay has passed for them).
func waitShown(t *testing.T, addr string, n int) {
	t.Helper()
	rc := dialRaw(t, addr)
	rc.login()
	want := fmt.Sprintf(`* STATUS "INBOX" (MESSAGES %d)`, n)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := rc.cmd("st", "STATUS INBOX (MESSAGES)")[0]
		if got == want {
			return
		}
		require.True(t, time.Now().Before(deadline), "INBOX shows %q, want %q", got, want)
	}
}

// client runs a client binary (which must be installed) and returns its combined output.
func (f *syncFixture) client(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath(name)
	require.NoError(t, err, "%s is required for the interop matrix (Debian: see .ci/run)", name)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "HOME="+f.dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// maildirFile finds the file holding the message with id under a maildir folder.
func maildirFile(t *testing.T, folder, id string) string {
	t.Helper()
	for _, sub := range []string{"cur", "new"} {
		entries, _ := os.ReadDir(filepath.Join(folder, sub))
		for _, de := range entries {
			p := filepath.Join(folder, sub, de.Name())
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			if bytes.Contains(b, []byte("Message-ID: <"+id+"@")) {
				return p
			}
		}
	}
	t.Fatalf("message %s not in maildir %s", id, folder)
	return ""
}

// flagLocally adds the maildir flag F (flagged) to a message file.
func flagLocally(t *testing.T, path string) {
	t.Helper()
	base, info, ok := strings.Cut(path, ":2,")
	require.True(t, ok, path)
	require.NoError(t, os.Rename(path, base+":2,F"+info))
}

// checkServer asserts what the service holds after the client's flag and delete.
func (f *syncFixture) checkServer(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	flagged, err := f.svc.Message(ctx, testNumber, f.msgs[0].ID)
	require.NoError(t, err)
	assert.Contains(t, flagged.Flags, `\Flagged`, "the client's flag is kept")
	_, err = f.svc.Message(ctx, testNumber, f.msgs[1].ID)
	assert.ErrorIs(t, err, voicemail.ErrNotFound, "the client's deletion reached the mailbox")
	left, err := f.svc.Message(ctx, testNumber, f.msgs[2].ID)
	require.NoError(t, err)
	assert.Empty(t, left.Flags)
	_, err = f.svc.Greeting(ctx, testNumber, voicemail.GreetingBusy)
	assert.NoError(t, err, "the greeting is still there")
}

// writes counts the commands that change the mailbox which the server has answered: a sync
// that reports no change sends none of them.
func (f *syncFixture) writes() float64 {
	var n float64
	for _, c := range []string{"STORE", "UID STORE", "EXPUNGE", "UID EXPUNGE", "APPEND", "COPY", "UID COPY"} {
		for _, st := range []string{"OK", "NO", "BAD"} {
			n += testutil.ToFloat64(f.srv.metrics.commands.WithLabelValues(c, st))
		}
	}
	return n
}

// maildirState lists a maildir tree's message files (name = UID and flags); sync state
// files (dot files) are left out.
func maildirState(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel)
		return nil
	}))
	return out
}

// count counts the message files of one maildir folder.
func count(state []string, folder string) int {
	n := 0
	for _, p := range state {
		if strings.HasPrefix(p, folder+string(filepath.Separator)) {
			n++
		}
	}
	return n
}

func TestInteropMbsync(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	mail := filepath.Join(f.dir, "mail")
	require.NoError(t, os.Mkdir(mail, 0o700))
	cfg := filepath.Join(f.dir, "mbsyncrc")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`IMAPAccount vm
Host %s
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account vm

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel vm
Far :remote:
Near :local:
Patterns INBOX Greetings
Create Near
Sync All
Expunge Both
SyncState *
`, f.host, f.port, testNumber, testPIN, mail, mail)), 0o600))
	sync := func(step string) {
		t.Helper()
		out, err := f.client(t, "mbsync", "-V", "-c", cfg, "vm")
		require.NoError(t, err, "%s: %s", step, out)
		assert.NotContains(t, out, "change of UIDVALIDITY", step)
		assert.NotContains(t, strings.ToLower(out), "error", "%s: %s", step, out)
	}
	sync("first sync")
	state := maildirState(t, mail)
	assert.Equal(t, 3, count(state, "INBOX"), "%q", state)
	assert.Equal(t, 1, count(state, "Greetings"), "%q", state)

	flagLocally(t, maildirFile(t, filepath.Join(mail, "INBOX"), f.msgs[0].ID))
	require.NoError(t, os.Remove(maildirFile(t, filepath.Join(mail, "INBOX"), f.msgs[1].ID)))
	sync("flag and delete")
	f.checkServer(t)

	state, writes := maildirState(t, mail), f.writes()
	for _, step := range []string{"second re-sync", "third re-sync"} {
		sync(step)
		assert.Equal(t, state, maildirState(t, mail), "%s: no local change", step)
		assert.Equal(t, writes, f.writes(), "%s: no change sent to the server", step)
	}
	f.checkServer(t)

	inbox := filepath.Join(mail, "INBOX")
	for _, m := range f.crossRegionDeposits(t, sync) {
		maildirFile(t, inbox, m.ID)
	}
	assert.Equal(t, 6, count(maildirState(t, mail), "INBOX"), "mbsync fetched the four new messages")
}

// crossRegionDeposits has another region deposit twice, each time just before this region's
// next deposit, and runs sync after each step:
//
//   - The first arrives after this region's (replication lag within the visibility delay):
//     the delay holds the later one back until the earlier is there, so a sync in between
//     sees neither and the next gets both, with UIDs above those synced before.
//   - The second arrives only after this region's has shown (a partition longer than the
//     delay): it is placed above UIDNEXT and shows the delay later, so the client gets it
//     with no UIDVALIDITY change.
//
// It returns the four messages, which the client must hold after the last sync.
func (f *syncFixture) crossRegionDeposits(t *testing.T, sync func(step string)) []voicemail.Message {
	t.Helper()
	east := newPeerRegion(t, f.svc, "east")
	t1 := f.clock.Now()
	early := east.depositAt(t, t1.Add(-time.Second))
	here := depositAt(t, f.svc, t1)
	sync("a deposit within the visibility delay")
	east.replicate(t)
	f.clock.set(t1.Add(interopVisibilityDelay + time.Second))
	sync("both deposits shown")

	t2 := f.clock.Now()
	late := east.depositAt(t, t2.Add(-time.Second))
	shown := depositAt(t, f.svc, t2)
	f.clock.set(t2.Add(interopVisibilityDelay + time.Second))
	sync("this region's deposit shown while the other region's is partitioned away")
	east.replicate(t)
	sync("the other region's deposit arrived late and is held back above UIDNEXT")
	f.clock.set(t2.Add(2*interopVisibilityDelay + 2*time.Second))
	sync("the late deposit shown")
	return []voicemail.Message{early, here, late, shown}
}

func TestInteropOfflineIMAP(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	mail := filepath.Join(f.dir, "mail")
	cfg := filepath.Join(f.dir, "offlineimaprc")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`[general]
accounts = vm
metadata = %s/meta

[Account vm]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %s

[Repository remote]
type = IMAP
remotehost = %s
remoteport = %s
remoteuser = %s
remotepass = %s
ssl = no
starttls = no
`, f.dir, mail, f.host, f.port, testNumber, testPIN)), 0o600))
	// changes are offlineimap's (-u basic) lines for anything it changed on either side.
	changes := regexp.MustCompile(`(?m)^.*(Copy message|Adding flag|Deleting flag|Deleting \d+ messages|Creating folder).*$`)
	sync := func(step string) []string {
		t.Helper()
		out, err := f.client(t, "offlineimap", "-c", cfg, "-o", "-u", "basic")
		require.NoError(t, err, "%s: %s", step, out)
		assert.NotContains(t, out, "ERROR", step)
		assert.NotContains(t, out, "UIDVALIDITY", step)
		return changes.FindAllString(out, -1)
	}
	first := sync("first sync")
	assert.Len(t, regexp.MustCompile(`Copy message`).FindAllString(strings.Join(first, "\n"), -1), 4, "three messages and the greeting: %q", first)

	flagLocally(t, maildirFile(t, filepath.Join(mail, "INBOX"), f.msgs[0].ID))
	require.NoError(t, os.Remove(maildirFile(t, filepath.Join(mail, "INBOX"), f.msgs[1].ID)))
	changed := strings.Join(sync("flag and delete"), "\n")
	assert.Contains(t, changed, "Adding flag F")
	assert.Contains(t, changed, "Deleting 1 messages")
	f.checkServer(t)

	state, writes := maildirState(t, mail), f.writes()
	for _, step := range []string{"second re-sync", "third re-sync"} {
		assert.Empty(t, sync(step), step)
		assert.Equal(t, state, maildirState(t, mail), "%s: no local change", step)
		assert.Equal(t, writes, f.writes(), "%s: no change sent to the server", step)
	}
	f.checkServer(t)

	inbox := filepath.Join(mail, "INBOX")
	for _, m := range f.crossRegionDeposits(t, func(step string) { sync(step) }) {
		maildirFile(t, inbox, m.ID)
	}
	assert.Equal(t, 6, count(maildirState(t, mail), "INBOX"), "offlineimap fetched the four new messages")
}

func TestInteropNeoMutt(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	_, err := exec.LookPath("tmux")
	require.NoError(t, err, "tmux drives neomutt in the interop matrix")
	rc := filepath.Join(f.dir, "neomuttrc")
	require.NoError(t, os.WriteFile(rc, []byte(fmt.Sprintf(`set folder = "imap://%s@%s:%s/"
set spoolfile = "+INBOX"
set imap_pass = "%s"
set ssl_starttls = no
set ssl_force_tls = no
set sort = mailbox-order
set delete = yes
set quit = yes
set move = no
set mark_old = no
set resolve = no
set confirmappend = no
set wait_key = no
set header_cache = "%s/hcache"
set message_cachedir = "%s/bodies"
set imap_check_subscribed = no
set mail_check = 0
`, testNumber, f.host, f.port, testPIN, f.dir, f.dir)), 0o600))
	// run drives one neomutt session in a detached tmux, pushing keys, and returns its debug log.
	run := func(step, keys string) string {
		t.Helper()
		log := filepath.Join(f.dir, "log-"+strings.ReplaceAll(step, " ", "-"))
		status := filepath.Join(f.dir, "status")
		os.Remove(status)
		script := fmt.Sprintf(`neomutt -n -F %s -d 2 -l %s -e 'push "%s<quit>"'; echo $? > %s`, rc, log, keys, status)
		sock := filepath.Join(f.dir, "tmux-"+strings.ReplaceAll(step, " ", "-"))
		out, err := f.client(t, "tmux", "-S", sock, "new-session", "-d", "-x", "160", "-y", "40", script)
		require.NoError(t, err, out)
		deadline := time.Now().Add(60 * time.Second)
		for {
			b, err := os.ReadFile(status)
			if err == nil && strings.HasSuffix(string(b), "\n") {
				require.Equal(t, "0", strings.TrimSpace(string(b)), "%s: neomutt exit status", step)
				break
			}
			require.True(t, time.Now().Before(deadline), "%s: neomutt did not finish", step)
			time.Sleep(100 * time.Millisecond)
		}
		logs, _ := filepath.Glob(log + "*")
		require.NotEmpty(t, logs, "%s: neomutt wrote no debug log", step)
		b, err := os.ReadFile(logs[0])
		require.NoError(t, err)
		return string(b)
	}
	problems := regexp.MustCompile(`(?m)^.*(UIDVALIDITY changed|uidvalidity changed|BAD |NO \[|Error).*$`)
	first := run("open", "")
	assert.Empty(t, problems.FindAllString(first, -1))
	// Flag the first message, delete the second, and sync (expunge) before quitting.
	changed := run("flag and delete", "<flag-message><next-entry><delete-message><sync-mailbox>")
	assert.Empty(t, problems.FindAllString(changed, -1))
	assert.Contains(t, changed, `\Flagged`)
	f.checkServer(t)
	writes := f.writes()
	for _, step := range []string{"second re-sync", "third re-sync"} {
		log := run(step, "<sync-mailbox>")
		assert.Empty(t, problems.FindAllString(log, -1), step)
		assert.Equal(t, writes, f.writes(), "%s: no change sent to the server", step)
	}
	f.checkServer(t)
}
