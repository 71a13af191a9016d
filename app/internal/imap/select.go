package imap

import (
	"context"
	"strings"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

func (s *session) cmdSelect(ctx context.Context, cmd command) (string, error) {
	if len(cmd.args) < 1 {
		return "", bad("%s needs a mailbox", cmd.name)
	}
	// A failed SELECT leaves no mailbox selected (RFC 3501 6.3.1).
	s.sel = nil
	s.state = stateAuth
	name, err := mailboxName(cmd.args[0])
	if err != nil {
		return "", err
	}
	f, err := s.load(ctx, name)
	if err != nil {
		return "", err
	}
	sel := &selection{name: name, readOnly: cmd.name == "EXAMINE", validity: f.validity, uidNext: f.uidNext, items: f.items, pending: f.pending}
	s.sel = sel
	s.state = stateSelected
	s.writef("* FLAGS %s\r\n", permanentFlags(name))
	s.writef("* %d EXISTS\r\n* 0 RECENT\r\n", len(sel.items))
	for i, it := range sel.items {
		if !it.seen {
			s.writef("* OK [UNSEEN %d] first unseen\r\n", i+1)
			break
		}
	}
	s.writef("* OK [UIDVALIDITY %d] UIDs valid\r\n", sel.validity)
	s.writef("* OK [UIDNEXT %d] predicted next UID\r\n", sel.uidNext)
	if sel.readOnly {
		s.writef("* OK [PERMANENTFLAGS ()] read-only\r\n")
		return "[READ-ONLY] EXAMINE completed", nil
	}
	s.writef("* OK [PERMANENTFLAGS %s] limited\r\n", permanentFlags(name))
	return "[READ-WRITE] SELECT completed", nil
}

// permanentFlags lists the flags a folder keeps. INBOX keeps \Seen (the heard flag) and the
// client flags every interface merges; Greetings keeps which greeting is active. Other flags
// are not offered, so clients do not expect them back.
func permanentFlags(name string) string {
	if name == greetingsName {
		return "(" + flagSeen + " " + flagDeleted + " " + flagGreetOn + ")"
	}
	return "(" + flagSeen + " " + strings.Join(voicemail.ClientFlags, " ") + " " + flagDeleted + ")"
}

func (s *session) cmdClose(ctx context.Context, cmd command) error {
	if err := s.needSelected(); err != nil {
		return err
	}
	if len(cmd.args) != 0 {
		return bad("%s takes no arguments", cmd.name)
	}
	var err error
	if cmd.name == "CLOSE" && !s.sel.readOnly {
		err = s.expunge(ctx, false)
	}
	s.sel = nil
	s.state = stateAuth
	return err
}
