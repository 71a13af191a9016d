package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

type connState int

const (
	stateNotAuth connState = iota
	stateAuth
	stateSelected
	stateLogout
)

// session is one client connection. Only its own goroutine writes to the connection.
type session struct {
	ctx    context.Context
	srv    *Server
	raw    net.Conn // the accepted connection; deadlines set on it reach a TLS layer too
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	tls    bool
	log    *slog.Logger
	state  connState
	number string
	// changed is signalled (buffer 1) when the service reports a change to the mailbox.
	changed chan struct{}
	unsub   func()
	sel     *selection
	// appended holds the greeting kinds this session stored (APPEND); it shows their
	// current write without the visibility delay.
	appended map[voicemail.GreetingKind]bool
	fails    int
	bads     int // consecutive BAD responses
}

// maxBadCommands consecutive BADs end a session: whatever is talking is not an IMAP client
// (an HTTP request sent to the IMAP port, say), and answering it forever helps nobody.
const maxBadCommands = 20

// statusErr is a command's failure: NO or BAD with a text (which may start with [CODE]).
type statusErr struct {
	status string
	text   string
}

func (e *statusErr) Error() string { return e.status + " " + e.text }

func no(format string, a ...any) error  { return &statusErr{"NO", fmt.Sprintf(format, a...)} }
func bad(format string, a ...any) error { return &statusErr{"BAD", fmt.Sprintf(format, a...)} }

// errDone ends the session after the tagged response is sent (LOGOUT, too many failures).
var errDone = errors.New("session done")

func newSession(ctx context.Context, srv *Server, conn net.Conn, implicitTLS bool) *session {
	s := &session{
		ctx:     ctx,
		srv:     srv,
		raw:     conn,
		tls:     implicitTLS,
		log:     srv.log.With("remote", conn.RemoteAddr().String()),
		changed: make(chan struct{}, 1),
	}
	s.setConn(conn)
	return s
}

func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.br = bufio.NewReaderSize(c, 8192)
	s.bw = bufio.NewWriterSize(c, 32*1024)
}

func (s *session) run() {
	// Closing the outermost layer ends a TLS session (implicit or after STARTTLS) with
	// close_notify, so the client can tell the end from a truncation (RFC 8446 6.1).
	defer func() { s.conn.Close() }()
	defer func() {
		if s.unsub != nil {
			s.unsub()
		}
	}()
	// Shutdown wakes a session blocked in a read; it then says BYE.
	stop := context.AfterFunc(s.ctx, func() { s.raw.SetReadDeadline(time.Now()) })
	defer stop()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("imap session panic", "panic", fmt.Sprint(r))
		}
	}()

	if s.tls {
		s.raw.SetDeadline(time.Now().Add(30 * time.Second))
		if err := s.conn.(*tls.Conn).HandshakeContext(s.ctx); err != nil {
			s.log.Debug("imap tls handshake failed", "err", err)
			return
		}
		s.raw.SetDeadline(time.Time{})
	}
	s.writef("* OK [CAPABILITY %s] Voicemail IMAP4rev1 ready\r\n", s.capabilities())
	if s.flush() != nil {
		return
	}
	started := time.Now()
	for s.state != stateLogout {
		deadline := time.Now().Add(s.srv.cfg.IdleTimeout)
		if s.state == stateNotAuth {
			// A stranger gets a short leash: idle or not, it logs in within PreAuthTimeout
			// of connecting or is disconnected (Dovecot does the same to pre-login clients).
			deadline = started.Add(s.srv.cfg.PreAuthTimeout)
		}
		s.raw.SetReadDeadline(deadline)
		if s.ctx.Err() != nil {
			s.bye("server shutting down")
			return
		}
		// Only a logged-in subscriber may send big literals (a greeting), so strangers cannot
		// make us buffer megabytes.
		maxLiteral, maxTotal := s.srv.cfg.MaxLiteral, maxLineLength+s.srv.cfg.MaxLiteral
		if s.state == stateNotAuth {
			maxLiteral, maxTotal = preAuthMaxLiteral, preAuthMaxCommand
		}
		raw, err := readCommand(s.br, maxLineLength, maxLiteral, maxTotal, func() error {
			s.writef("+ Ready for literal data\r\n")
			return s.flush()
		})
		if err != nil {
			if !s.readFailed(raw, err) {
				return
			}
			continue
		}
		cmd, err := parseCommand(raw)
		if err != nil {
			var pe *parseError
			errors.As(err, &pe)
			tag := "*"
			if pe != nil && pe.tag != "" {
				tag = pe.tag
			}
			s.writef("%s BAD %s\r\n", tag, err.Error())
			if s.flush() != nil || s.tooManyBad() {
				return
			}
			continue
		}
		if err := s.dispatch(cmd); err != nil {
			return
		}
	}
}

// tooManyBad counts a BAD and says BYE when the limit is reached.
func (s *session) tooManyBad() bool {
	s.bads++
	if s.bads < maxBadCommands {
		return false
	}
	s.bye("too many invalid commands")
	return true
}

// readFailed answers a command that could not be read; false ends the session.
func (s *session) readFailed(raw rawCommand, err error) bool {
	tag := "*"
	if cmd, perr := parseCommand(raw); perr == nil || cmd.tag != "" {
		tag = cmd.tag
	}
	switch {
	case errors.Is(err, errLineTooLong):
		s.writef("%s BAD command line too long\r\n", tag)
		return s.flush() == nil && !s.tooManyBad()
	case errors.Is(err, errLiteralRejected):
		s.writef("%s BAD [TOOBIG] literal too large\r\n", tag)
		return s.flush() == nil && !s.tooManyBad()
	case errors.Is(err, errLiteralTooLarge):
		s.bye("literal too large")
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if s.ctx.Err() != nil {
			s.bye("server shutting down")
		} else {
			s.bye("autologout, idle too long")
		}
		return false
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("imap read failed", "err", err)
	}
	return false
}

// bye is the last thing a session says; a client that does not read it gets 5 s.
func (s *session) bye(text string) {
	s.writef("* BYE %s\r\n", text)
	s.flushWithin(5 * time.Second)
}

func (s *session) writef(format string, a ...any) { fmt.Fprintf(s.bw, format, a...) }

// writeTimeout drops a client that stops reading what it asked for.
const writeTimeout = time.Minute

func (s *session) flush() error { return s.flushWithin(writeTimeout) }

func (s *session) flushWithin(d time.Duration) error {
	s.raw.SetWriteDeadline(time.Now().Add(d))
	return s.bw.Flush()
}

// dispatch runs one command and writes its tagged response. An error return ends the session.
// The handlers live in files named for their command family: capability, starttls, login
// (LOGIN, AUTHENTICATE), select (SELECT, EXAMINE, CLOSE, UNSELECT), status, list, append,
// quota, xchange (the OMTP XCHANGE_* commands), idle (IDLE, NOOP, CHECK), fetch, store,
// search and expunge.
func (s *session) dispatch(cmd command) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.cfg.CommandTimeout)
	defer cancel()
	var (
		err    error
		okText = cmd.name + " completed"
	)
	switch cmd.name {
	case "CAPABILITY":
		err = s.cmdCapability(cmd)
	case "NOOP", "CHECK":
		err = s.cmdNoop(ctx, cmd)
	case "LOGOUT":
		s.writef("* BYE logging out\r\n")
		s.state = stateLogout
	case "STARTTLS":
		return s.cmdStartTLS(cmd)
	case "LOGIN":
		okText, err = s.cmdLogin(ctx, cmd)
	case "AUTHENTICATE":
		okText, err = s.cmdAuthenticate(ctx, cmd)
	case "ID":
		s.writef("* ID (\"name\" \"voicemail-vvm\")\r\n")
	case "ENABLE":
		err = s.needAuth()
		if err == nil {
			s.writef("* ENABLED\r\n")
		}
	default:
		if err = s.needAuth(); err == nil {
			okText, err = s.dispatchAuthed(ctx, cmd, okText)
		}
	}
	if errors.Is(err, errDone) {
		s.srv.metrics.command(cmd.name, "BYE")
		s.flush()
		return err
	}
	var se *statusErr
	status, text := "OK", okText
	switch {
	case err == nil:
	case errors.As(err, &se):
		status, text = se.status, se.text
	default:
		status, text = s.serviceError(err)
	}
	s.srv.metrics.command(cmd.name, status)
	s.writef("%s %s %s\r\n", cmd.tag, status, text)
	if err := s.flush(); err != nil {
		return err
	}
	if status != "BAD" {
		s.bads = 0
	} else if s.tooManyBad() {
		return errDone
	}
	return nil
}

func (s *session) needAuth() error {
	if s.state == stateNotAuth {
		return bad("log in first")
	}
	return nil
}

func (s *session) needSelected() error {
	if s.state != stateSelected || s.sel == nil {
		return bad("no mailbox selected")
	}
	return nil
}

func (s *session) dispatchAuthed(ctx context.Context, cmd command, okText string) (string, error) {
	switch cmd.name {
	case "SELECT", "EXAMINE":
		return s.cmdSelect(ctx, cmd)
	case "STATUS":
		return okText, s.cmdStatus(ctx, cmd)
	case "LIST", "LSUB":
		return okText, s.cmdList(cmd)
	case "NAMESPACE":
		s.writef("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n")
		return okText, nil
	case "SUBSCRIBE", "UNSUBSCRIBE":
		if len(cmd.args) != 1 {
			return "", bad("%s needs a mailbox", cmd.name)
		}
		return okText, nil
	case "CREATE", "DELETE", "RENAME":
		return "", no("[CANNOT] the voicemail folders are fixed")
	case "APPEND":
		return okText, s.cmdAppend(ctx, cmd)
	case "GETQUOTAROOT":
		return okText, s.cmdGetQuotaRoot(ctx, cmd)
	case "GETQUOTA":
		return okText, s.cmdGetQuota(ctx, cmd)
	case "SETQUOTA":
		return "", no("[CANNOT] quota is set by the operator")
	case "XCHANGE_TUI_PWD":
		return okText, s.cmdChangePIN(ctx, cmd)
	case "XCHANGE_VM_LANG":
		return okText, s.cmdChangeLanguage(ctx, cmd)
	case "IDLE":
		return "IDLE terminated", s.cmdIdle(ctx, cmd)
	case "FETCH", "UID FETCH":
		return okText, s.cmdFetch(ctx, cmd)
	case "STORE", "UID STORE":
		return okText, s.cmdStore(ctx, cmd)
	case "SEARCH", "UID SEARCH":
		return okText, s.cmdSearch(cmd)
	case "EXPUNGE":
		return okText, s.cmdExpunge(ctx, cmd)
	case "CLOSE", "UNSELECT":
		return okText, s.cmdClose(ctx, cmd)
	case "COPY", "UID COPY", "MOVE", "UID MOVE":
		return "", no("[CANNOT] messages stay in their folder")
	}
	return "", bad("unknown command %s", cmd.name)
}

// serviceError maps a service error to a tagged status.
func (s *session) serviceError(err error) (string, string) {
	switch {
	case errors.Is(err, voicemail.ErrNotFound):
		return "NO", "[NONEXISTENT] no such message or mailbox"
	case errors.Is(err, voicemail.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return "NO", "[UNAVAILABLE] voicemail storage unavailable, try again"
	case errors.Is(err, voicemail.ErrMailboxFull):
		return "NO", "[OVERQUOTA] mailbox full"
	case errors.Is(err, voicemail.ErrBadAudio), errors.Is(err, voicemail.ErrTooLong),
		errors.Is(err, voicemail.ErrInvalid):
		return "NO", "[CANNOT] " + err.Error()
	}
	s.log.Error("imap command failed", "err", err)
	return "NO", "[SERVERBUG] internal error"
}

// quote renders s as an IMAP quoted string, or a literal when it cannot be quoted.
func quote(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 || c >= 0x80 {
			return fmt.Sprintf("{%d}\r\n%s", len(s), s)
		}
	}
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	b := make([]byte, 0, len(s)+8)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(append(b, '"'))
}

func nstring(s string) string {
	if s == "" {
		return "NIL"
	}
	return quote(s)
}
