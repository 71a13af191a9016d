package imap

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// keyValues reads OMTP's KEY=value arguments.
func keyValues(args []value) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range args {
		s, ok := a.astring()
		if !ok {
			return nil, errors.New("expected KEY=value")
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("expected KEY=value, got %q", s)
		}
		out[strings.ToUpper(k)] = v
	}
	return out, nil
}

// cmdChangePIN is OMTP's XCHANGE_TUI_PWD PWD=<new> OLD_PWD=<old>. The NO texts are the ones
// OMTP clients match literally, so they carry no response code.
func (s *session) cmdChangePIN(ctx context.Context, cmd command) error {
	kv, err := keyValues(cmd.args)
	if err != nil {
		return bad("%v", err)
	}
	newPIN, ok1 := kv["PWD"]
	oldPIN, ok2 := kv["OLD_PWD"]
	if !ok1 || !ok2 {
		return bad("XCHANGE_TUI_PWD needs PWD= and OLD_PWD=")
	}
	for _, c := range newPIN {
		if c < '0' || c > '9' {
			return no("password contains invalid characters")
		}
	}
	switch {
	case len(newPIN) < 4:
		return no("password too short")
	case len(newPIN) > 10:
		return no("password too long")
	}
	if err := s.srv.svc.Login(voicemail.WithSource(ctx, "ip:"+s.remoteIP()), s.number, oldPIN); err != nil {
		switch {
		case errors.Is(err, voicemail.ErrThrottled):
			return no("too many wrong passwords, try later")
		case errors.Is(err, voicemail.ErrBadPIN):
			return no("old password mismatch")
		case errors.Is(err, voicemail.ErrLocked):
			return no("mailbox locked by the operator")
		}
		return err
	}
	if err := s.srv.svc.ChangePIN(ctx, s.number, newPIN); err != nil {
		if errors.Is(err, voicemail.ErrInvalid) {
			return no("password too weak")
		}
		return err
	}
	s.log.Info("imap PIN changed")
	return nil
}

// cmdChangeLanguage is OMTP's XCHANGE_VM_LANG LANG=<language>.
func (s *session) cmdChangeLanguage(ctx context.Context, cmd command) error {
	kv, err := keyValues(cmd.args)
	if err != nil {
		return bad("%v", err)
	}
	lang, ok := kv["LANG"]
	if !ok || len(cmd.args) != 1 {
		return bad("XCHANGE_VM_LANG needs LANG=")
	}
	if n, err := strconv.Atoi(lang); err == nil {
		if n < 1 || n > len(s.srv.cfg.Languages) {
			return no("invalid language")
		}
		lang = s.srv.cfg.Languages[n-1]
	}
	if lang == "" || len(lang) > 16 || strings.IndexFunc(lang, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return no("invalid language")
	}
	if _, err := s.srv.svc.Configure(ctx, s.number, voicemail.MailboxPatch{Language: &lang}); err != nil {
		if errors.Is(err, voicemail.ErrInvalid) {
			return no("invalid language")
		}
		return err
	}
	return nil
}
