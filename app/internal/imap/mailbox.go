package imap

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	key      string // message id; for greetings kind and write time, so a re-recording is a new message
	msgID    string // message id (INBOX) or "" (Greetings)
	msg      voicemail.Message
	kind     voicemail.GreetingKind
	seen     bool
	deleted  bool     // session \Deleted, applied by EXPUNGE/CLOSE
	active   bool     // greeting is the active one ($CNS-Greeting-On)
	kept     []string // client flags the service keeps (voicemail.ClientFlags), in that order
	internal time.Time
	mime     *mimeMessage
}

func (it *item) flags() string {
	f := make([]string, 0, 4)
	if it.seen {
		f = append(f, flagSeen)
	}
	f = append(f, it.kept...)
	if it.deleted {
		f = append(f, flagDeleted)
	}
	if it.active {
		f = append(f, flagGreetOn)
	}
	return "(" + strings.Join(f, " ") + ")"
}

func (it *item) has(flag string) bool {
	for _, f := range it.kept {
		if strings.EqualFold(f, flag) {
			return true
		}
	}
	return false
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

// folder is one folder's content with its UIDVALIDITY and UIDNEXT.
type folder struct {
	validity, uidNext uint32
	items             []*item
}

// load reads a folder from one snapshot of the mailbox and derives its UIDs.
func (s *session) load(ctx context.Context, name string) (folder, error) {
	snap, err := s.srv.svc.Snapshot(ctx, s.number)
	if err != nil {
		return folder{}, err
	}
	f := folder{validity: uidValidity(snap.Mailbox.Created)}
	if name == greetingsName {
		f.items, f.uidNext, err = s.greetingItems(ctx, snap)
		return f, err
	}
	uids, next := historyUIDs(snap.Mailbox.Created, snap.History)
	f.uidNext = next
	f.items = make([]*item, len(snap.Messages))
	for i, m := range snap.Messages {
		f.items[i] = s.messageItem(m, uids[m.ID])
	}
	return f, nil
}

func (s *session) messageItem(m voicemail.Message, uid uint32) *item {
	svc := s.srv.svc
	return &item{
		uid:      uid,
		key:      m.ID,
		msgID:    m.ID,
		msg:      m,
		seen:     m.Heard,
		kept:     m.Flags,
		internal: m.Received,
		mime: newMIMEMessage(voiceParams{
			ID: m.ID, Caller: m.Caller, Mailbox: s.number, Domain: s.srv.cfg.Domain,
			Received: m.Received, Seconds: m.Seconds, Size: m.Size,
		}, func(ctx context.Context) ([]byte, error) { return svc.MessageAudio(ctx, m) }),
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
	f, err := s.load(ctx, name)
	if err != nil {
		return "", err
	}
	sel := &selection{name: name, readOnly: cmd.name == "EXAMINE", validity: f.validity, uidNext: f.uidNext, items: f.items}
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

// refresh brings the selection up to date with the service and announces the differences:
// EXPUNGE for messages gone (deleted over HTTP or the phone), FETCH FLAGS for changed flags,
// EXISTS for new deposits.
func (s *session) refresh(ctx context.Context) error {
	sel := s.sel
	f, err := s.load(ctx, sel.name)
	if err != nil {
		return err
	}
	if f.validity != sel.validity {
		// The mailbox was removed and provisioned again under us.
		s.writef("* BYE mailbox was re-created, select it again\r\n")
		s.state = stateLogout
		return nil
	}
	fresh := f.items
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
		cur, ok := byKey[it.key]
		if !ok {
			continue
		}
		if cur.seen != it.seen || cur.active != it.active || !slices.Equal(cur.kept, it.kept) {
			it.seen, it.active, it.kept, it.msg = cur.seen, cur.active, cur.kept, cur.msg
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
		if it.uid <= maxUIDOf(kept) {
			continue // arrived late with a lower UID: shown from the next SELECT on
		}
		kept = append(kept, it)
		added = true
	}
	sel.items = kept
	sel.uidNext = max(sel.uidNext, f.uidNext)
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
	f, err := s.load(ctx, name)
	if err != nil {
		return err
	}
	validity, next, items := f.validity, f.uidNext, f.items
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
