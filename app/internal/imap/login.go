package imap

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"strings"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

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

// maxLoggedName bounds a client-chosen name in the logs (E.164 numbers have 15 digits).
const maxLoggedName = 32

// logBounded is a client-chosen value as it may be logged: at most maxLoggedName bytes,
// control characters replaced, and marked when cut.
func logBounded(v string) string {
	cut := len(v) > maxLoggedName
	if cut {
		v = v[:maxLoggedName]
	}
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(v, "?"))
	if cut {
		v += "...(cut)"
	}
	return v
}

// failureReason names why a login failed without repeating what the client sent.
func failureReason(err error) string {
	switch {
	case errors.Is(err, voicemail.ErrThrottled):
		return "throttled"
	case errors.Is(err, voicemail.ErrLocked):
		return "locked"
	case errors.Is(err, voicemail.ErrBadPIN), errors.Is(err, voicemail.ErrNotFound):
		return "bad-credentials" // one reason for both: logs do not enumerate mailboxes either
	case errors.Is(err, voicemail.ErrInvalid):
		return "malformed"
	}
	return "other"
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
		// The user name is the client's, of any length and content: it is logged bounded, and
		// the error only by its kind (the service's message repeats the name).
		s.log.Info("imap login failed", "mailbox", logBounded(number), "result", result, "reason", failureReason(err))
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

// remoteIP is the client's address, whose wrong PINs the service slows down.
func (s *session) remoteIP() string {
	host, _, err := net.SplitHostPort(s.raw.RemoteAddr().String())
	if err != nil {
		return s.raw.RemoteAddr().String()
	}
	return host
}
