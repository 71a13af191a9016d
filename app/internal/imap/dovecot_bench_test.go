package imap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/store/embedded"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// BenchmarkVersusDovecot runs one client workload against this server and against Dovecot
// (started by the benchmark in a temporary directory: plaintext, loopback, its
// high-performance process settings) holding the same messages, in the same run, and reports the ratios:
//
//	go test -run '^$' -bench VersusDovecot -benchtime 5x ./app/internal/imap/
//
// Each server runs in its own process, so "server-cpu" is only the server's CPU time (for
// Dovecot: the master and every process it started, reaped ones included). The client is the
// same Go code for both. Workloads:
//
//   - short: 200 sessions (2 at a time) of LOGIN, SELECT INBOX, UID FETCH 1:* (UID FLAGS
//     RFC822.SIZE BODY.PEEK[HEADER] BODYSTRUCTURE), LOGOUT;
//   - attachments: 10 sessions (2 at a time) each fetching the audio part of all 50 messages
//     with one UID FETCH <uid> (BODY.PEEK[2]) per message; every attachment is decoded and
//     compared with the WAV that was deposited.
//
// VOICEMAIL_IMAP_BENCH_CPUPROFILE=<file> writes the server process's CPU profile;
// VOICEMAIL_IMAP_BENCH_NOCACHE=1 turns the part cache off (every fetch reads and encodes).
//
// Metrics: <workload>-time-ratio and <workload>-cpu-ratio are this server / Dovecot (below 1
// means ahead), and the per-iteration times and CPU of each.
func BenchmarkVersusDovecot(b *testing.B) {
	ours := startBenchServer(b)
	dove := startDovecot(b, ours)
	for _, w := range []benchWorkload{
		{name: "short", sessions: 200, parallel: 2, run: shortSession},
		{name: "attachments", sessions: 10, parallel: 2, run: attachmentSession},
	} {
		b.Run(w.name, func(b *testing.B) {
			// Warm both (Dovecot builds its index on first access).
			for _, s := range []*benchTarget{ours, dove} {
				if err := w.runAll(s); err != nil {
					b.Fatalf("%s warm-up: %v", s.name, err)
				}
			}
			var wall, cpu [2]time.Duration
			b.ResetTimer()
			for range b.N {
				for i, s := range []*benchTarget{ours, dove} {
					cpu0 := s.cpu()
					t0 := time.Now()
					if err := w.runAll(s); err != nil {
						b.Fatalf("%s: %v", s.name, err)
					}
					wall[i] += time.Since(t0)
					cpu[i] += s.cpu() - cpu0
				}
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(wall[0])/float64(wall[1]), w.name+"-time-ratio")
			b.ReportMetric(float64(cpu[0])/float64(max(cpu[1], time.Millisecond)), w.name+"-cpu-ratio")
			b.ReportMetric(wall[0].Seconds()/n, "ours-s/op")
			b.ReportMetric(wall[1].Seconds()/n, "dovecot-s/op")
			b.ReportMetric(cpu[0].Seconds()/n, "ours-cpu-s/op")
			b.ReportMetric(cpu[1].Seconds()/n, "dovecot-cpu-s/op")
		})
	}
}

const (
	benchNumber   = "5550199"
	benchPIN      = "4711"
	benchMessages = 50
	benchAudio    = 10 * time.Second
	benchServeEnv = "VOICEMAIL_IMAP_BENCH_SERVE" // set: the test binary serves a benchmark mailbox
	// benchProfileEnv names a file for the server process's CPU profile (go tool pprof).
	benchProfileEnv = "VOICEMAIL_IMAP_BENCH_CPUPROFILE"
	// benchNoCacheEnv set turns the server's part cache off, to measure every fetch reading
	// and encoding the audio.
	benchNoCacheEnv = "VOICEMAIL_IMAP_BENCH_NOCACHE"
)

// benchWAV is the audio of message i, the same in the server process and the client.
func benchWAV(i int) []byte {
	return audio.Encode(audio.ALaw, audio.FromPCM16(audio.ALaw, audio.Tone(float64(300+10*i), int(benchAudio/time.Millisecond), 8000)))
}

func benchCaller(i int) string { return fmt.Sprintf("+4930555%04d", i) }

func TestMain(m *testing.M) {
	if dir := os.Getenv(benchServeEnv); dir != "" {
		if err := serveBench(dir); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveBench is the server process: a mailbox with benchMessages messages on the embedded
// store, served on a loopback port (printed on stdout) until stdin closes.
func serveBench(dir string) error {
	st, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := voicemail.New(voicemail.Options{Backend: st, Region: "local"})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, _, err := svc.Provision(ctx, benchNumber, voicemail.ProvisionRequest{PIN: benchPIN}); err != nil {
		return err
	}
	for i := range benchMessages {
		if _, err := svc.Deposit(ctx, benchNumber, voicemail.Deposit{Caller: benchCaller(i), Audio: benchWAV(i)}); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if p := os.Getenv(benchProfileEnv); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	cfg := Config{}
	if os.Getenv(benchNoCacheEnv) != "" {
		cfg.PartCacheBytes = -1
	}
	return New(svc, cfg, nil).ServeListener(ctx, ln, false)
}

// benchTarget is one server under test.
type benchTarget struct {
	name string
	addr string
	cpu  func() time.Duration
	// want maps a UID to the SHA-256 of the WAV its audio part must decode to.
	want map[string][32]byte
}

func startBenchServer(b *testing.B) *benchTarget {
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), benchServeEnv+"="+b.TempDir())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("bench server did not start: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if !ok {
		b.Fatalf("bench server said %q", line)
	}
	t := &benchTarget{name: "voicemail", addr: addr, cpu: func() time.Duration { return procCPU(b, cmd.Process.Pid, false) }}
	t.want = mapUIDs(b, t)
	return t
}

// startDovecot writes a Dovecot configuration and a maildir holding the messages of ours,
// byte for byte, and starts Dovecot on a free loopback port.
func startDovecot(b *testing.B, ours *benchTarget) *benchTarget {
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot"
		if _, err := os.Stat(bin); err != nil {
			b.Fatal("dovecot (Debian dovecot-imapd) is required for the comparison")
		}
	}
	dir, err := os.MkdirTemp("", "dovecot-bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	// As root, mail is owned by nobody and the internal users are Debian's; otherwise the
	// current user is all of them.
	internal, login, mailUser := "dovecot", "dovenull", "nobody"
	if os.Getuid() != 0 {
		u, err := user.Current()
		if err != nil {
			b.Fatal(err)
		}
		internal, login, mailUser = u.Username, u.Username, u.Username
	}
	mu, err := user.Lookup(mailUser)
	if err != nil {
		b.Fatal(err)
	}
	uid, _ := strconv.Atoi(mu.Uid)
	gid, _ := strconv.Atoi(mu.Gid)

	maildir := filepath.Join(dir, "mail", benchNumber)
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(maildir, sub), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	c, err := dialBench(ours.addr)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.cmd("LOGIN " + benchNumber + " " + benchPIN); err != nil {
		b.Fatal(err)
	}
	if _, err := c.cmd("SELECT INBOX"); err != nil {
		b.Fatal(err)
	}
	msgs, err := c.cmd("UID FETCH 1:* (BODY.PEEK[])")
	if err != nil {
		b.Fatal(err)
	}
	c.close()
	for i, m := range msgs {
		if len(m.literals) != 1 {
			b.Fatalf("fetch of the whole message gave %d literals", len(m.literals))
		}
		name := filepath.Join(maildir, "cur", fmt.Sprintf("%d.M%dP1.bench,S=%d:2,", 1700000000+i, i, len(m.literals[0])))
		if err := os.WriteFile(name, m.literals[0], 0o600); err != nil {
			b.Fatal(err)
		}
	}
	if err := filepath.WalkDir(filepath.Join(dir, "mail"), func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}); err != nil {
		b.Fatal(err)
	}
	port := freeBenchPort(b)
	conf := filepath.Join(dir, "dovecot.conf")
	// The PIN is stored as PBKDF2 with 4096 rounds, as the voicemail service stores it, so a
	// login costs both servers a comparable hash.
	doveadm, err := exec.Command(filepath.Join(filepath.Dir(bin), "..", "bin", "doveadm"), "-c", "/dev/null",
		"pw", "-s", "PBKDF2", "-r", "4096", "-p", benchPIN).Output()
	if err != nil {
		if doveadm, err = exec.Command("doveadm", "-c", "/dev/null", "pw", "-s", "PBKDF2", "-r", "4096", "-p", benchPIN).Output(); err != nil {
			b.Fatalf("doveadm pw: %v", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(benchNumber+":"+strings.TrimSpace(string(doveadm))+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`protocols = imap
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = vmbench-%[2]d
log_path = %[1]s/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = %[3]s
default_internal_group = %[3]s
default_login_user = %[4]s
first_valid_uid = 1
mail_location = maildir:%[1]s/mail/%%u
passdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = uid=%[5]d gid=%[6]d home=%[1]s/mail/%%u
}
# Dovecot's high-performance settings: login and imap processes are started ahead and
# serve many connections, rather than one process per connection.
service imap-login {
  service_count = 0
  process_min_avail = 2
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
service imap {
  service_count = 0
  process_min_avail = 2
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
}
`, dir, port, internal, login, uid, gid)), 0o644); err != nil {
		b.Fatal(err)
	}
	if os.Getuid() != 0 {
		// Without root there is no chroot for the login and anvil processes.
		f, _ := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
		fmt.Fprint(f, "service imap-login {\n  chroot =\n}\nservice anvil {\n  chroot =\n}\n")
		f.Close()
	}
	cmd := exec.Command(bin, "-F", "-c", conf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			b.Fatalf("dovecot did not listen on %s: %s %s", addr, stderr.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t := &benchTarget{name: "dovecot", addr: addr, cpu: func() time.Duration { return procCPU(b, cmd.Process.Pid, true) }}
	t.want = mapUIDs(b, t)
	if len(t.want) != benchMessages {
		b.Fatalf("dovecot lists %d messages, not %d", len(t.want), benchMessages)
	}
	return t
}

func freeBenchPort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

var fromRe = regexp.MustCompile(`From: <([^@>]+)@`)

// mapUIDs learns which UID holds which caller's message on a server.
func mapUIDs(b *testing.B, t *benchTarget) map[string][32]byte {
	byCaller := map[string][32]byte{}
	for i := range benchMessages {
		byCaller[benchCaller(i)] = sha256.Sum256(benchWAV(i))
	}
	c, err := dialBench(t.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.close()
	for _, cmd := range []string{"LOGIN " + benchNumber + " " + benchPIN, "SELECT INBOX"} {
		if _, err := c.cmd(cmd); err != nil {
			b.Fatalf("%s: %s: %v", t.name, cmd, err)
		}
	}
	msgs, err := c.cmd("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (FROM)])")
	if err != nil {
		b.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, m := range msgs {
		uid := m.uid()
		from := fromRe.FindSubmatch(bytes.Join(m.literals, nil))
		if uid == "" || from == nil {
			b.Fatalf("%s: no UID or From in %q", t.name, m.line)
		}
		out[uid] = byCaller[string(from[1])]
	}
	return out
}

// procCPU is the user+system CPU time of pid; tree adds every descendant's, and the time of
// descendants already reaped (cutime, cstime).
func procCPU(b *testing.B, pid int, tree bool) time.Duration {
	type proc struct{ ppid, ticks int64 }
	read := func(p string) (proc, bool) {
		raw, err := os.ReadFile(filepath.Join("/proc", p, "stat"))
		if err != nil {
			return proc{}, false
		}
		// Fields after the command name (which may hold spaces) start at state.
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
		ppid, _ := strconv.ParseInt(f[1], 10, 64)
		var ticks int64
		for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			v, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += v
		}
		return proc{ppid, ticks}, true
	}
	const hz = 100 // USER_HZ on Linux
	root, ok := read(strconv.Itoa(pid))
	if !ok {
		b.Fatalf("process %d is gone", pid)
	}
	total := root.ticks
	if tree {
		entries, _ := os.ReadDir("/proc")
		procs := map[int64]proc{}
		for _, e := range entries {
			if n, err := strconv.ParseInt(e.Name(), 10, 64); err == nil {
				if p, ok := read(e.Name()); ok {
					procs[n] = p
				}
			}
		}
		for n, p := range procs {
			for a := p.ppid; a > 1; a = procs[a].ppid {
				if a == int64(pid) {
					total += p.ticks
					break
				}
				if _, ok := procs[a]; !ok {
					break
				}
			}
			_ = n
		}
	}
	return time.Duration(total) * time.Second / hz
}

type benchWorkload struct {
	name     string
	sessions int
	parallel int
	run      func(t *benchTarget) error
}

func (w benchWorkload) runAll(t *benchTarget) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan struct{}, w.sessions)
	for range w.sessions {
		next <- struct{}{}
	}
	close(next)
	for range w.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if err := w.run(t); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func shortSession(t *benchTarget) error {
	c, err := openInbox(t.addr)
	if err != nil {
		return err
	}
	defer c.close()
	msgs, err := c.cmd("UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER] BODYSTRUCTURE)")
	if err != nil {
		return err
	}
	if len(msgs) != benchMessages {
		return fmt.Errorf("%s: %d messages fetched", t.name, len(msgs))
	}
	_, err = c.cmd("LOGOUT")
	return err
}

func attachmentSession(t *benchTarget) error {
	c, err := openInbox(t.addr)
	if err != nil {
		return err
	}
	defer c.close()
	for uid, want := range t.want {
		msgs, err := c.cmd("UID FETCH " + uid + " (BODY.PEEK[2])")
		if err != nil {
			return err
		}
		if len(msgs) != 1 || len(msgs[0].literals) != 1 {
			return fmt.Errorf("%s: UID %s: unexpected answer", t.name, uid)
		}
		wav, err := base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(msgs[0].literals[0], []byte("\r\n"), nil)))
		if err != nil {
			return fmt.Errorf("%s: UID %s: %w", t.name, uid, err)
		}
		if sha256.Sum256(wav) != want {
			return fmt.Errorf("%s: UID %s: the audio part is not the deposited WAV", t.name, uid)
		}
	}
	_, err = c.cmd("LOGOUT")
	return err
}

// openInbox connects, logs in as the benchmark mailbox and selects its INBOX.
func openInbox(addr string) (*benchConn, error) {
	c, err := dialBench(addr)
	if err != nil {
		return nil, err
	}
	for _, cmd := range []string{"LOGIN " + benchNumber + " " + benchPIN, "SELECT INBOX"} {
		if _, err := c.cmd(cmd); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// benchConn is a minimal IMAP client: tagged commands, untagged responses with literals.
type benchConn struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

// benchResp is one untagged response: its text (literals replaced by {n}) and the literals.
type benchResp struct {
	line     string
	literals [][]byte
}

var uidRe = regexp.MustCompile(`UID (\d+)`)

func (r benchResp) uid() string {
	if m := uidRe.FindStringSubmatch(r.line); m != nil {
		return m[1]
	}
	return ""
}

func dialBench(addr string) (*benchConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	bc := &benchConn{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	if l, err := bc.r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
		c.Close()
		return nil, fmt.Errorf("greeting %q: %v", l, err)
	}
	return bc, nil
}

func (c *benchConn) close() { c.c.Close() }

var literalRe = regexp.MustCompile(`\{(\d+)\}\r\n$`)

// cmd sends one command and returns its untagged FETCH responses; a tagged NO or BAD is an error.
func (c *benchConn) cmd(command string) ([]benchResp, error) {
	c.tag++
	tag := "b" + strconv.Itoa(c.tag)
	if _, err := io.WriteString(c.c, tag+" "+command+"\r\n"); err != nil {
		return nil, err
	}
	var out []benchResp
	for {
		var resp benchResp
		for {
			l, err := c.r.ReadString('\n')
			if err != nil {
				return nil, fmt.Errorf("%s: %w", command, err)
			}
			resp.line += l
			m := literalRe.FindStringSubmatch(l)
			if m == nil {
				break
			}
			n, _ := strconv.Atoi(m[1])
			lit := make([]byte, n)
			if _, err := io.ReadFull(c.r, lit); err != nil {
				return nil, fmt.Errorf("%s: %w", command, err)
			}
			resp.literals = append(resp.literals, lit)
		}
		switch {
		case strings.HasPrefix(resp.line, tag+" OK"):
			return out, nil
		case strings.HasPrefix(resp.line, tag+" "):
			return nil, fmt.Errorf("%s: %s", command, strings.TrimSpace(resp.line))
		case strings.Contains(resp.line, " FETCH ("):
			out = append(out, resp)
		}
	}
}
