package imap

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

const (
	inboxName     = "INBOX"
	greetingsName = "Greetings"
	flagSeen      = `\Seen`
	flagDeleted   = `\Deleted`
	flagGreetOn   = "$CNS-Greeting-On" // OMTP: the greeting the caller hears
)

// item is one message of the selected mailbox as this session sees it.
type item struct {
	uid      uint32
	key      string // message id; for greetings kind+content hash, so a re-recording is a new message
	msgID    string // message id (INBOX) or "" (Greetings)
	kind     voicemail.GreetingKind
	seen     bool
	deleted  bool // session \Deleted, applied by EXPUNGE/CLOSE
	active   bool // greeting is the active one ($CNS-Greeting-On)
	internal time.Time
	mime     *mimeMessage
}

func (it *item) flags() string {
	var f []string
	if it.seen {
		f = append(f, flagSeen)
	}
	if it.deleted {
		f = append(f, flagDeleted)
	}
	if it.active {
		f = append(f, flagGreetOn)
	}
	return "(" + strings.Join(f, " ") + ")"
}

// selection is the selected mailbox: items in UID order (sequence number = index+1).
type selection struct {
	name     string
	readOnly bool
	validity uint32
	uidNext  uint32
	items    []*item
}

func (sel *selection) maxUID() uint32 { return maxUIDOf(sel.items) }

// mailboxName resolves a client's name to ours (INBOX is case-insensitive by RFC; we accept
// Greetings in any case too, as clients differ).
func mailboxName(v value) (string, error) {
	name, ok := v.astring()
	if !ok {
		return "", bad("mailbox name must be a string")
	}
	switch {
	case strings.EqualFold(name, inboxName):
		return inboxName, nil
	case strings.EqualFold(name, greetingsName):
		return greetingsName, nil
	}
	return "", no("[NONEXISTENT] no mailbox %q (there are INBOX and Greetings)", name)
}

// loadInbox reads the mailbox's messages and derives their UIDs.
func (s *session) loadInbox(ctx context.Context) (uint32, []*item, uint32, error) {
	mb, err := s.srv.svc.Mailbox(ctx, s.number)
	if err != nil {
		return 0, nil, 0, err
	}
	msgs, err := s.srv.svc.Messages(ctx, s.number, "")
	if err != nil {
		return 0, nil, 0, err
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].ID < msgs[j].ID })
	times := make([]time.Time, len(msgs))
	for i, m := range msgs {
		times[i] = depositTime(m)
	}
	uids := assignUIDs(mb.Created, times)
	items := make([]*item, len(msgs))
	for i, m := range msgs {
		items[i] = s.messageItem(m, uids[i])
	}
	next := uidBase(mb.Created, time.Now())
	if len(uids) > 0 && uids[len(uids)-1] >= next {
		next = uids[len(uids)-1] + 1
	}
	return inboxUIDValidity(mb.Created), items, next, nil
}

// depositTime is the time a message's UID is derived from: the deposit time the id carries,
// falling back to the received time.
func depositTime(m voicemail.Message) time.Time {
	if t, ok := idTime(m.ID); ok {
		return t
	}
	return m.Received
}

func (s *session) messageItem(m voicemail.Message, uid uint32) *item {
	number, id := s.number, m.ID
	svc := s.srv.svc
	return &item{
		uid:      uid,
		key:      m.ID,
		msgID:    m.ID,
		seen:     m.Heard,
		internal: m.Received,
		mime: newMIMEMessage(voiceParams{
			ID: m.ID, Caller: m.Caller, Mailbox: s.number, Domain: s.srv.cfg.Domain,
			Received: m.Received, Seconds: m.Seconds, Size: m.Size,
		}, func(ctx context.Context) ([]byte, error) { return svc.Audio(ctx, number, id) }),
	}
}

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
	sel := &selection{name: name, readOnly: cmd.name == "EXAMINE"}
	if name == inboxName {
		sel.validity, sel.items, sel.uidNext, err = s.loadInbox(ctx)
	} else {
		var items []*item
		items, err = s.loadGreetings(ctx)
		// Greetings carry no deposit time to derive UIDs from, so each SELECT starts a new
		// UIDVALIDITY epoch (always greater, as RFC 3501 requires) with UIDs 1..n.
		sel.validity = uint32(time.Now().Unix())
		for i, it := range items {
			it.uid = uint32(i + 1)
		}
		sel.items = items
		sel.uidNext = uint32(len(items) + 1)
	}
	if err != nil {
		return "", err
	}
	s.sel = sel
	s.state = stateSelected
	if name == greetingsName {
		s.writef("* FLAGS (%s %s %s)\r\n", flagSeen, flagDeleted, flagGreetOn)
	} else {
		s.writef("* FLAGS (%s %s)\r\n", flagSeen, flagDeleted)
	}
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
	if name == greetingsName {
		s.writef("* OK [PERMANENTFLAGS (%s %s %s)] limited\r\n", flagSeen, flagDeleted, flagGreetOn)
	} else {
		s.writef("* OK [PERMANENTFLAGS (%s %s)] limited\r\n", flagSeen, flagDeleted)
	}
	return "[READ-WRITE] SELECT completed", nil
}

// refresh brings the selection up to date with the service and announces the differences:
// EXPUNGE for messages gone (deleted over HTTP or the phone), FETCH FLAGS for changed flags,
// EXISTS for new deposits.
func (s *session) refresh(ctx context.Context) error {
	sel := s.sel
	var fresh []*item
	var err error
	if sel.name == inboxName {
		var validity uint32
		validity, fresh, _, err = s.loadInbox(ctx)
		if err == nil && validity != sel.validity {
			// The mailbox was removed and provisioned again under us.
			s.writef("* BYE mailbox was re-created, select it again\r\n")
			s.state = stateLogout
			return nil
		}
	} else {
		fresh, err = s.loadGreetings(ctx)
	}
	if err != nil {
		return err
	}
	byKey := make(map[string]*item, len(fresh))
	for _, it := range fresh {
		byKey[it.key] = it
	}
	kept := sel.items[:0:0]
	for i := len(sel.items) - 1; i >= 0; i-- {
		if _, ok := byKey[sel.items[i].key]; !ok {
			s.writef("* %d EXPUNGE\r\n", i+1)
		}
	}
	for _, it := range sel.items {
		f, ok := byKey[it.key]
		if !ok {
			continue
		}
		if f.seen != it.seen || f.active != it.active {
			it.seen, it.active = f.seen, f.active
			s.writef("* %d FETCH (UID %d FLAGS %s)\r\n", len(kept)+1, it.uid, it.flags())
		}
		kept = append(kept, it)
		delete(byKey, it.key)
	}
	added := false
	for _, it := range fresh {
		if _, isNew := byKey[it.key]; !isNew {
			continue
		}
		if sel.name == greetingsName {
			it.uid = sel.uidNext
		} else if it.uid <= maxUIDOf(kept) {
			continue // arrived late with a lower UID: shown from the next SELECT on
		}
		kept = append(kept, it)
		if it.uid >= sel.uidNext {
			sel.uidNext = it.uid + 1
		}
		added = true
	}
	sel.items = kept
	if added {
		s.writef("* %d EXISTS\r\n", len(kept))
	}
	return nil
}

func maxUIDOf(items []*item) uint32 {
	if len(items) == 0 {
		return 0
	}
	return items[len(items)-1].uid
}

func (s *session) cmdStatus(ctx context.Context, cmd command) error {
	if len(cmd.args) != 2 || cmd.args[1].kind != kindList {
		return bad("STATUS needs a mailbox and a list of items")
	}
	name, err := mailboxName(cmd.args[0])
	if err != nil {
		return err
	}
	var (
		validity, next uint32
		items          []*item
	)
	if name == inboxName {
		validity, items, next, err = s.loadInbox(ctx)
	} else {
		items, err = s.loadGreetings(ctx)
		validity, next = uint32(time.Now().Unix()), uint32(len(items)+1)
	}
	if err != nil {
		return err
	}
	var out []string
	for _, v := range cmd.args[1].list {
		switch key := strings.ToUpper(v.s); key {
		case "MESSAGES":
			out = append(out, fmt.Sprintf("MESSAGES %d", len(items)))
		case "RECENT":
			out = append(out, "RECENT 0")
		case "UIDNEXT":
			out = append(out, fmt.Sprintf("UIDNEXT %d", next))
		case "UIDVALIDITY":
			out = append(out, fmt.Sprintf("UIDVALIDITY %d", validity))
		case "UNSEEN":
			n := 0
			for _, it := range items {
				if !it.seen {
					n++
				}
			}
			out = append(out, fmt.Sprintf("UNSEEN %d", n))
		default:
			return bad("unknown STATUS item %q", v.s)
		}
	}
	s.writef("* STATUS %s (%s)\r\n", quote(name), strings.Join(out, " "))
	return nil
}

func (s *session) cmdList(cmd command) error {
	if len(cmd.args) != 2 {
		return bad("%s needs a reference and a pattern", cmd.name)
	}
	ref, ok1 := cmd.args[0].astring()
	pattern, ok2 := cmd.args[1].astring()
	if !ok1 || !ok2 {
		return bad("%s needs a reference and a pattern", cmd.name)
	}
	if pattern == "" {
		s.writef("* %s (\\Noselect) \"/\" \"\"\r\n", cmd.name)
		return nil
	}
	pattern = ref + pattern
	for _, name := range []string{inboxName, greetingsName} {
		if listMatch(pattern, name) {
			s.writef("* %s (\\HasNoChildren) \"/\" %s\r\n", cmd.name, quote(name))
		}
	}
	return nil
}

// listMatch matches LIST wildcards (* anything, % anything but the "/" delimiter); INBOX is
// matched case-insensitively.
func listMatch(pattern, name string) bool {
	if strings.EqualFold(name, inboxName) {
		pattern, name = strings.ToUpper(pattern), strings.ToUpper(name)
	}
	if pattern == "" {
		return name == ""
	}
	switch pattern[0] {
	case '*', '%':
		for i := 0; i <= len(name); i++ {
			if pattern[0] == '%' && i > 0 && name[i-1] == '/' {
				break
			}
			if listMatch(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	return name != "" && pattern[0] == name[0] && listMatch(pattern[1:], name[1:])
}

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

// cmdIdle waits for DONE while announcing mailbox changes (a new deposit becomes EXISTS).
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
		select {
		case <-s.changed:
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
