package imap

import (
	"context"
	"errors"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

func (s *session) cmdExpunge(ctx context.Context, cmd command) error {
	if err := s.needSelected(); err != nil {
		return err
	}
	if len(cmd.args) != 0 {
		return bad("EXPUNGE takes no arguments")
	}
	if s.sel.readOnly {
		return no("[READ-ONLY] mailbox is read-only")
	}
	if err := s.expunge(ctx, true); err != nil {
		return err
	}
	return s.refresh(ctx)
}

// expunge deletes every \Deleted message through the service. announce sends EXPUNGE
// responses (EXPUNGE does, CLOSE must not).
func (s *session) expunge(ctx context.Context, announce bool) error {
	sel := s.sel
	var firstErr error
	for i := len(sel.items) - 1; i >= 0; i-- {
		it := sel.items[i]
		if !it.deleted {
			continue
		}
		var err error
		if sel.name == inboxName {
			err = s.srv.svc.DeleteMessage(ctx, s.number, it.msgID)
		} else {
			err = s.srv.svc.DeleteGreeting(ctx, s.number, it.kind)
		}
		if err != nil && !errors.Is(err, voicemail.ErrNotFound) {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		sel.items = append(sel.items[:i], sel.items[i+1:]...)
		if announce {
			s.writef("* %d EXPUNGE\r\n", i+1)
		}
	}
	return firstErr
}
