package imap

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// cmdAppend accepts a greeting into the Greetings folder (OMTP greeting upload). INBOX only
// receives messages left by callers.
func (s *session) cmdAppend(ctx context.Context, cmd command) error {
	if len(cmd.args) < 2 {
		return bad("APPEND needs a mailbox and a message")
	}
	msg := cmd.args[len(cmd.args)-1]
	if msg.kind != kindString {
		return bad("APPEND message must be a literal")
	}
	var flags []string
	for _, a := range cmd.args[1 : len(cmd.args)-1] {
		switch a.kind {
		case kindList:
			f, err := flagArgs([]value{a})
			if err != nil {
				return bad("%v", err)
			}
			flags = append(flags, f...)
		case kindString:
			if _, err := time.Parse("_2-Jan-2006 15:04:05 -0700", a.s); err != nil {
				return bad("invalid APPEND date-time %q", a.s)
			}
		default:
			return bad("unexpected APPEND argument %q", a.s)
		}
	}
	name, err := mailboxName(cmd.args[0])
	if err != nil {
		var se *statusErr
		if errors.As(err, &se) && se.status == "NO" {
			return no("[TRYCREATE] no such mailbox")
		}
		return err
	}
	if name != greetingsName {
		return no("[CANNOT] only greetings can be appended, to the %s folder", greetingsName)
	}
	kind, wav, err := parseGreetingMessage([]byte(msg.s))
	if err != nil {
		return no("[CANNOT] %v", err)
	}
	if err := s.srv.svc.PutGreeting(ctx, s.number, kind, wav); err != nil {
		return err
	}
	if s.appended == nil {
		s.appended = map[voicemail.GreetingKind]bool{}
	}
	s.appended[kind] = true
	for _, f := range flags {
		if strings.EqualFold(f, flagGreetOn) {
			if _, err := s.srv.svc.Configure(ctx, s.number, voicemail.MailboxPatch{ActiveGreeting: &kind}); err != nil {
				return err
			}
		}
	}
	s.log.Info("imap greeting stored", "kind", kind, "bytes", len(wav))
	if s.state == stateSelected && s.sel.name == greetingsName {
		return s.refresh(ctx)
	}
	return nil
}
