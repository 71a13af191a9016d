package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
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
	fails   int
	bads    int // consecutive BAD responses
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

func (s *session) capabilities() string {
	caps := "IMAP4rev1 LITERAL+ SASL-IR ID IDLE NAMESPACE QUOTA UNSELECT ENABLE"
	if s.srv.cfg.TLS != nil && !s.tls {
		caps += " STARTTLS"
	}
	if s.state == stateNotAuth {
		if s.srv.cfg.loginNeedsTLS() && !s.tls {
			caps += " LOGINDISABLED"
		} else {
			caps += " AUTH=PLAIN"
		}
	}
	return caps
}

func (s *session) cmdCapability(cmd command) error {
	if len(cmd.args) != 0 {
		return bad("CAPABILITY takes no arguments")
	}
	s.writef("* CAPABILITY %s\r\n", s.capabilities())
	return nil
}

func (s *session) cmdNoop(ctx context.Context, cmd command) error {
	if len(cmd.args) != 0 {
		return bad("%s takes no arguments", cmd.name)
	}
	if s.state == stateSelected {
		return s.refresh(ctx)
	}
	return nil
}

// cmdStartTLS answers and upgrades the connection itself: the tagged OK must go out in clear.
func (s *session) cmdStartTLS(cmd command) error {
	var err error
	switch {
	case len(cmd.args) != 0:
		err = bad("STARTTLS takes no arguments")
	case s.srv.cfg.TLS == nil:
		err = no("[CANNOT] TLS is not configured")
	case s.tls:
		err = bad("TLS is already active")
	case s.state != stateNotAuth:
		err = bad("STARTTLS only before login")
	}
	if err != nil {
		se := err.(*statusErr)
		s.writef("%s %s %s\r\n", cmd.tag, se.status, se.text)
		return s.flush()
	}
	s.writef("%s OK begin TLS negotiation now\r\n", cmd.tag)
	if err := s.flush(); err != nil {
		return err
	}
	if s.br.Buffered() > 0 {
		// Plaintext sent after STARTTLS would be injected into the TLS session (CVE-2011-0411).
		return errors.New("data pipelined after STARTTLS")
	}
	tc := tls.Server(s.raw, s.srv.cfg.TLS)
	s.raw.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return fmt.Errorf("starttls handshake: %w", err)
	}
	s.raw.SetDeadline(time.Time{})
	s.tls = true
	s.setConn(tc)
	return nil
}

func (s *session) cmdLogin(ctx context.Context, cmd command) (string, error) {
	if s.state != stateNotAuth {
		return "", bad("already logged in")
	}
	if len(cmd.args) != 2 {
		return "", bad("LOGIN needs user and password")
	}
	user, ok1 := cmd.args[0].astring()
	pass, ok2 := cmd.args[1].astring()
	if !ok1 || !ok2 {
		return "", bad("LOGIN needs user and password as strings")
	}
	return s.login(ctx, user, pass)
}

func (s *session) cmdAuthenticate(ctx context.Context, cmd command) (string, error) {
	if s.state != stateNotAuth {
		return "", bad("already logged in")
	}
	if len(cmd.args) < 1 || len(cmd.args) > 2 {
		return "", bad("AUTHENTICATE needs a mechanism")
	}
	mech, _ := cmd.args[0].astring()
	if !strings.EqualFold(mech, "PLAIN") {
		return "", no("[CANNOT] only AUTHENTICATE PLAIN is supported")
	}
	if s.srv.cfg.loginNeedsTLS() && !s.tls {
		return "", no("[PRIVACYREQUIRED] use STARTTLS first")
	}
	var resp string
	if len(cmd.args) == 2 {
		resp, _ = cmd.args[1].astring()
	} else {
		s.writef("+ \r\n")
		if err := s.flush(); err != nil {
			return "", errDone
		}
		line, err := readLine(s.br, maxLineLength)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				return "", bad("response too long")
			}
			return "", errDone
		}
		resp = string(line)
	}
	if resp == "*" {
		return "", bad("authentication cancelled")
	}
	dec, err := base64.StdEncoding.DecodeString(resp)
	if resp == "=" {
		dec, err = nil, nil
	}
	if err != nil {
		return "", bad("invalid base64 in AUTHENTICATE response")
	}
	parts := strings.Split(string(dec), "\x00")
	if len(parts) != 3 {
		return "", bad("invalid PLAIN response")
	}
	if parts[0] != "" && parts[0] != parts[1] {
		return "", no("[AUTHORIZATIONFAILED] cannot act as another mailbox")
	}
	return s.login(ctx, parts[1], parts[2])
}

// login checks number and PIN with the service (whose lockout is shared with HTTP and phone).
func (s *session) login(ctx context.Context, user, pin string) (string, error) {
	if s.srv.cfg.loginNeedsTLS() && !s.tls {
		return "", no("[PRIVACYREQUIRED] use STARTTLS first")
	}
	// OMTP clients may send "number@domain"; the mailbox is the number.
	number, _, _ := strings.Cut(user, "@")
	err := s.srv.svc.Login(voicemail.WithSource(ctx, "ip:"+s.remoteIP()), number, pin)
	if err != nil {
		var out error
		switch {
		case errors.Is(err, voicemail.ErrThrottled):
			out = no("[UNAVAILABLE] too many failed logins from this address, try later")
		case errors.Is(err, voicemail.ErrLocked):
			out = no("[AUTHENTICATIONFAILED] mailbox locked by the operator")
		case errors.Is(err, voicemail.ErrBadPIN), errors.Is(err, voicemail.ErrNotFound),
			errors.Is(err, voicemail.ErrInvalid):
			out = no("[AUTHENTICATIONFAILED] invalid mailbox number or PIN")
		default:
			return "", err
		}
		s.fails++
		result := "failed"
		switch {
		case errors.Is(err, voicemail.ErrLocked):
			result = "locked"
		case errors.Is(err, voicemail.ErrThrottled):
			result = "throttled"
		}
		s.srv.metrics.logins.WithLabelValues(result).Inc()
		s.log.Info("imap login failed", "mailbox", number, "err", err)
		if s.fails >= s.srv.cfg.MaxLoginFailures {
			se := out.(*statusErr)
			s.writef("* BYE too many failed logins\r\n")
			s.state = stateLogout
			return "", &statusErr{se.status, se.text}
		}
		return "", out
	}
	s.srv.metrics.logins.WithLabelValues("ok").Inc()
	s.number = number
	s.state = stateAuth
	s.srv.loggedIn(s)
	s.log = s.log.With("mailbox", number)
	ch, cancel := s.srv.svc.Subscribe(number)
	done := make(chan struct{})
	s.unsub = func() { close(done); cancel() }
	go func() {
		// Drain the subscription so a slow client never holds up the service's fan-out.
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
				select {
				case s.changed <- struct{}{}:
				default:
				}
			case <-done:
				return
			}
		}
	}()
	s.log.Info("imap login")
	return "[CAPABILITY " + s.capabilities() + "] logged in", nil
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

// remoteIP is the client's address, whose wrong PINs the service slows down.
func (s *session) remoteIP() string {
	host, _, err := net.SplitHostPort(s.raw.RemoteAddr().String())
	if err != nil {
		return s.raw.RemoteAddr().String()
	}
	return host
}
