package imap

import (
	"context"
	"errors"
	"strings"
	"time"
)

// cmdNoop answers NOOP and CHECK; in a selected mailbox it reports what changed meanwhile.
func (s *session) cmdNoop(ctx context.Context, cmd command) error {
	if len(cmd.args) != 0 {
		return bad("%s takes no arguments", cmd.name)
	}
	if s.state == stateSelected {
		return s.refresh(ctx)
	}
	return nil
}

// cmdIdle waits for DONE while announcing mailbox changes (a new deposit becomes EXISTS, when
// the visibility delay lets INBOX show it).
func (s *session) cmdIdle(ctx context.Context, cmd command) error {
	if len(cmd.args) != 0 {
		return bad("IDLE takes no arguments")
	}
	s.writef("+ idling\r\n")
	if err := s.flush(); err != nil {
		return errDone
	}
	type lineResult struct {
		line []byte
		err  error
	}
	done := make(chan lineResult, 1)
	s.raw.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
	if s.ctx.Err() != nil {
		s.raw.SetReadDeadline(time.Now())
	}
	go func() {
		line, err := readLine(s.br, maxLineLength)
		done <- lineResult{line, err}
	}()
	// IDLE outlives the per-command timeout; service calls get their own.
	for {
		if s.state == stateSelected {
			rctx, cancel := context.WithTimeout(s.ctx, s.srv.cfg.CommandTimeout)
			err := s.refresh(rctx)
			cancel()
			if err != nil {
				s.log.Warn("imap idle refresh failed", "err", err)
			}
			if s.state == stateLogout || s.flush() != nil {
				s.flush()
				s.raw.SetReadDeadline(time.Now()) // unblock the reader
				<-done
				s.state = stateLogout
				return errDone
			}
		}
		// A message held back by the visibility delay is announced when it shows. (An
		// unstopped timer is collected once unreachable.)
		var shows <-chan time.Time
		if s.state == stateSelected && !s.sel.pending.IsZero() {
			shows = time.NewTimer(max(s.sel.pending.Sub(s.srv.cfg.Now()), time.Millisecond)).C
		}
		select {
		case <-s.changed:
		case <-shows:
		case r := <-done:
			if r.err != nil {
				if errors.Is(r.err, errLineTooLong) {
					return bad("expected DONE")
				}
				if s.ctx.Err() != nil {
					s.bye("server shutting down")
				}
				s.state = stateLogout
				return errDone
			}
			if !strings.EqualFold(string(r.line), "DONE") {
				return bad("expected DONE")
			}
			return nil
		}
	}
}
