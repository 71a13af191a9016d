package imap

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail/voicemailtest"
)

func (rc *rawConn) login() {
	rc.t.Helper()
	rc.send("l1 LOGIN " + testNumber + " " + testPIN + "\r\n")
	require.Contains(rc.t, rc.line(), "l1 OK ")
}

// cmd sends one command tagged t and returns all lines up to its tagged response.
func (rc *rawConn) cmd(tag, command string) []string {
	rc.t.Helper()
	rc.send(tag + " " + command + "\r\n")
	return rc.until(tag + " ")
}

func TestUIDsStableAcrossSessionsAndStamps(t *testing.T) {
	svc1 := voicemailtest.New(t)
	// A second stamp of the same region: its own service instance on the same store.
	svc2, _ := voicemailtest.NewWithOptions(t, voicemail.Options{Backend: svc1.Backend(), Node: "local/stamp2"})
	voicemailtest.Provision(t, svc1, testNumber, testPIN)
	for i := 0; i < 3; i++ {
		voicemailtest.Deposit(t, svc1, testNumber, fmt.Sprintf("+1555111000%d", i), time.Second)
	}
	e1, e2 := startEnvWith(t, svc1, Config{}), startEnvWith(t, svc2, Config{})
	view := func(addr string) []string {
		rc := dialRaw(t, addr)
		rc.login()
		sel := rc.cmd("s", "EXAMINE INBOX")
		out := rc.cmd("u", "UID SEARCH ALL")
		var validity string
		for _, l := range sel {
			if strings.HasPrefix(l, "* OK [UIDVALIDITY") {
				validity = l
			}
		}
		return append([]string{validity}, out...)
	}
	first := view(e1.addr)
	require.Len(t, first, 3)
	assert.Regexp(t, `^\* SEARCH \d+ \d+ \d+$`, first[1])
	assert.Equal(t, first, view(e1.addr), "same UIDs in a new session")
	assert.Equal(t, first, view(e2.addr), "same UIDs on another stamp")
}

func TestProtocolDetails(t *testing.T) {
	e := startEnv(t, Config{Domain: "vvm.test"})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	m1 := voicemailtest.Deposit(t, e.svc, testNumber, "+15551110001", time.Second)
	time.Sleep(2 * time.Millisecond)
	m2 := voicemailtest.Deposit(t, e.svc, testNumber, "+15551110002", time.Second)
	ctx := context.Background()
	rc := dialRaw(t, e.addr)
	rc.login()

	// EXAMINE is read-only: no STORE, and a body fetch does not mark heard.
	assert.Contains(t, rc.cmd("a1", "EXAMINE INBOX"), "a1 OK [READ-ONLY] EXAMINE completed")
	assert.Contains(t, rc.cmd("a2", "STORE 1 +FLAGS (\\Seen)"), "a2 NO [READ-ONLY] mailbox is read-only")
	lines := rc.cmd("a3", "FETCH 1 (BODY[1])")
	assert.Contains(t, strings.Join(lines, "\n"), "Voice message from +15551110001")
	got, err := e.svc.Message(ctx, testNumber, m1.ID)
	require.NoError(t, err)
	assert.False(t, got.Heard)

	assert.Contains(t, rc.cmd("b1", "SELECT INBOX"), "b1 OK [READ-WRITE] SELECT completed")
	// FETCH macros and structures.
	all := strings.Join(rc.cmd("b2", "FETCH 1:* ALL"), "\n")
	assert.Contains(t, all, `ENVELOPE ("`+m1.Received.UTC().Format(time.RFC1123Z)+`" "Voice message from +15551110001" ((NIL NIL "+15551110001" "vvm.test"))`)
	assert.Contains(t, all, "* 2 FETCH (FLAGS () INTERNALDATE")
	body := strings.Join(rc.cmd("b3", "FETCH 2 (BODY BODYSTRUCTURE)"), "\n")
	assert.Contains(t, body, `BODY (("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" `)
	assert.Contains(t, body, `BODYSTRUCTURE (("TEXT"`)
	assert.Contains(t, body, `"MIXED" ("BOUNDARY" "=_vvm_`+m2.ID+`") NIL NIL NIL)`)
	// HEADER.FIELDS.NOT and a partial fetch.
	hdr := strings.Join(rc.cmd("b4", "FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (Content-Type MIME-Version)])"), "\n")
	assert.Contains(t, hdr, "Content-Duration: 1")
	assert.NotContains(t, hdr, "Content-Type:")
	part := rc.cmd("b5", "UID FETCH 1:* (BODY.PEEK[2]<0.10>)")
	require.GreaterOrEqual(t, len(part), 3)
	assert.Regexp(t, `^\* 1 FETCH \(UID \d+ BODY\[2\]<0> \{10\}$`, part[0])
	assert.Equal(t, "UklGR", part[1][:5], "base64 of RIFF")

	// Non-UID SEARCH and STORE as generic clients send them.
	assert.Equal(t, []string{"* SEARCH 1 2", "c1 OK SEARCH completed"}, rc.cmd("c1", "SEARCH UNSEEN"))
	assert.Equal(t, []string{"* 2 FETCH (FLAGS (\\Seen))", "c2 OK STORE completed"}, rc.cmd("c2", "STORE 2 FLAGS (\\Seen)"))
	assert.Equal(t, []string{"* SEARCH 1", "c3 OK SEARCH completed"}, rc.cmd("c3", "SEARCH NOT SEEN"))
	assert.Equal(t, []string{"* SEARCH 2", "c4 OK SEARCH completed"}, rc.cmd("c4", "SEARCH OR SEEN DELETED FROM 110002"))
	uids := rc.cmd("c6", "UID SEARCH 1:* NOT DELETED") // what Android's VVM client sends
	assert.Regexp(t, `^\* SEARCH \d+ \d+$`, uids[0])
	assert.Equal(t, []string{"* 2 FETCH (FLAGS ())", "c5 OK STORE completed"}, rc.cmd("c5", "STORE 2 -FLAGS (\\Seen)"))
	got, err = e.svc.Message(ctx, testNumber, m2.ID)
	require.NoError(t, err)
	assert.False(t, got.Heard, "-FLAGS \\Seen marks it unheard again")

	// A change made elsewhere (HTTP, phone) shows up on NOOP.
	heard := true
	_, err = e.svc.UpdateMessage(ctx, testNumber, m1.ID, voicemail.MessageUpdate{Heard: &heard})
	require.NoError(t, err)
	assert.Equal(t, []string{`* 1 FETCH (UID ` + uidOf(t, rc, 1) + ` FLAGS (\Seen))`, "d2 OK NOOP completed"}, rc.cmd("d2", "NOOP"))

	// CLOSE expunges silently.
	rc.cmd("e1", "STORE 1 +FLAGS.SILENT (\\Deleted)")
	assert.Equal(t, []string{"e2 OK CLOSE completed"}, rc.cmd("e2", "CLOSE"))
	_, err = e.svc.Message(ctx, testNumber, m1.ID)
	assert.ErrorIs(t, err, voicemail.ErrNotFound)
	assert.Contains(t, rc.cmd("e3", "FETCH 1 FLAGS"), "e3 BAD no mailbox selected")

	// Folders are fixed; unknown mailboxes are refused.
	assert.Contains(t, rc.cmd("f1", "SELECT Archive"), `f1 NO [NONEXISTENT] no mailbox "Archive" (there are INBOX and Greetings)`)
	assert.Contains(t, rc.cmd("f2", "CREATE Archive"), "f2 NO [CANNOT] the voicemail folders are fixed")
	assert.Equal(t, []string{`* STATUS "Greetings" (MESSAGES 0)`, "f3 OK STATUS completed"}, rc.cmd("f3", "STATUS greetings (MESSAGES)"))
	assert.Equal(t, []string{`* QUOTA "" (voice 1 100)`, "f4 OK GETQUOTA completed"}, rc.cmd("f4", `GETQUOTA ""`))
	assert.Equal(t, []string{`* LSUB (\HasNoChildren) "/" "INBOX"`, "f5 OK LSUB completed"}, rc.cmd("f5", `LSUB "" inbox`))
	assert.Equal(t, []string{`* LIST (\Noselect) "/" ""`, "f6 OK LIST completed"}, rc.cmd("f6", `LIST "" ""`))
}

// uidOf asks the server for the UID of sequence number seq.
func uidOf(t *testing.T, rc *rawConn, seq int) string {
	t.Helper()
	lines := rc.cmd("u", fmt.Sprintf("FETCH %d UID", seq))
	var uid string
	_, err := fmt.Sscanf(lines[0], fmt.Sprintf("* %d FETCH (UID %%s", seq), &uid)
	require.NoError(t, err, lines[0])
	return strings.TrimSuffix(uid, ")")
}

func TestConnectionLimit(t *testing.T) {
	e := startEnv(t, Config{MaxConnections: 1})
	voicemailtest.Provision(t, e.svc, testNumber, testPIN)
	dialRaw(t, e.addr).login() // a subscriber's session is never evicted
	c, err := net.Dial("tcp", e.addr)
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "* BYE too many connections, try again later\r\n", line)
}
