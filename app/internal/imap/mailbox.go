package imap

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/contract"
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
	pending  time.Time // folder.pending of the last load
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
	// pending is when the first message or greeting held back by the visibility delay shows
	// (zero: none is held back); IDLE wakes then.
	pending time.Time
}

// load reads a folder from one snapshot of the mailbox and derives its UIDs. INBOX holds the
// messages past the visibility delay. A message found beneath what was already shown (as this
// process remembers it or a replicated record says) is placed above it first, or, when no
// record can name it, UIDVALIDITY is raised (see uid.go).
func (s *session) load(ctx context.Context, name string) (folder, error) {
	return s.loadFolder(ctx, name, 2, 3)
}

// loadFolder is load; it may place late messages and read again up to places times, and
// read again after a concurrent record up to races times.
func (s *session) loadFolder(ctx context.Context, name string, places, races int) (folder, error) {
	snap, err := s.srv.svc.Snapshot(ctx, s.number)
	if err != nil {
		return folder{}, err
	}
	if name == greetingsName {
		f := folder{validity: uidValidity(snap.Mailbox.Created, 0)}
		f.items, f.uidNext, f.pending, err = s.greetingItems(ctx, snap)
		return f, err
	}
	now := s.srv.cfg.Now()
	history, pending := visiblePrefix(snap.History, now, s.srv.cfg.VisibilityDelay)
	f := folder{validity: uidValidity(snap.Mailbox.Created, snap.UIDValidity), pending: pending}
	records := snap.Shown
	if mine, ok := s.srv.shown.get(s.number); ok {
		records = append(slices.Clip(records), mine)
	}
	late, unnamed := map[string]bool{}, false
	var above string // the greatest key any record showed
	for _, r := range records {
		keys, u := lateKeys(r, f.validity, history)
		unnamed = unnamed || u
		for _, k := range keys {
			late[voicemail.KeyID(k)] = true
		}
		if r.Validity == f.validity {
			above = max(above, r.Last)
		}
	}
	switch {
	case unnamed:
		raised := max(int64(f.validity)+1, now.Unix())
		if err := s.srv.svc.RaiseUIDValidity(ctx, s.number, raised); err != nil {
			// Nothing is shown (or recorded) until the raise is stored: the client is told
			// to try again, and the next load tries the raise again.
			return folder{}, fmt.Errorf("raise UIDVALIDITY: %w", err)
		}
		s.log.Warn(contract.IMAPLateArrivalLogMessage, "outcome", contract.IMAPLateArrivalUIDValidityRaised,
			"from", f.validity, "to", uidValidity(snap.Mailbox.Created, raised))
		s.srv.metrics.late.WithLabelValues(contract.IMAPLateArrivalUIDValidityRaised).Inc()
		f.validity = uidValidity(snap.Mailbox.Created, raised)
	case len(late) > 0 && places > 0:
		// Above every key shown anywhere, so the message shows (after the delay) with a UID
		// above every UID a client holds.
		at := now
		if t, ok := voicemail.MessageTime(above); ok && !t.Before(at) {
			at = t.Add(time.Millisecond)
		}
		ids := slices.Sorted(maps.Keys(late))
		if err := s.srv.svc.PlaceMessages(ctx, s.number, ids, at); err != nil {
			return folder{}, fmt.Errorf("place late messages: %w", err)
		}
		for _, id := range ids {
			s.log.Warn(contract.IMAPLateArrivalLogMessage, "outcome", contract.IMAPLateArrivalPlaced, "id", id)
		}
		s.srv.metrics.late.WithLabelValues(contract.IMAPLateArrivalPlaced).Add(float64(len(ids)))
		return s.loadFolder(ctx, name, places-1, races)
	case len(late) > 0:
		// The placements just stored are not in the snapshots read after them (a store that
		// does not read its own writes): show nothing until they are.
		return folder{}, fmt.Errorf("placement of %d late messages not read back: %w", len(late), voicemail.ErrUnavailable)
	}
	if err := s.recordShown(ctx, snap.Shown, f.validity, history); errors.Is(err, voicemail.ErrShownChanged) {
		if races == 0 {
			return folder{}, fmt.Errorf("%w: %w", voicemail.ErrUnavailable, err)
		}
		return s.loadFolder(ctx, name, places, races-1)
	}
	s.srv.shown.record(s.number, f.validity, history)
	uids, next := historyUIDs(snap.Mailbox.Created, history)
	f.uidNext = next
	f.items = make([]*item, 0, len(snap.Messages))
	for _, m := range snap.Messages {
		if uid, ok := uids[m.ID]; ok {
			f.items = append(f.items, s.messageItem(m, uid))
		}
	}
	return f, nil
}

// recordShown stores what this load shows in the replicated state before the load answers,
// unless some record already says as much, so that any process of any region can notice a
// message arriving beneath it even if this one dies right after answering. If another process
// of the stamp recorded since the snapshot, it returns voicemail.ErrShownChanged and the load
// reads again (keeping both records is not possible in one, and keeping one could hide a
// message the other did not show). A store that fails otherwise does not stop the answer
// (IMAP stays available); this process's memory then is the only record, and the failure is
// logged.
func (s *session) recordShown(ctx context.Context, records []voicemail.Shown, validity uint32, history []string) error {
	if len(history) == 0 {
		return nil
	}
	for _, r := range records {
		if showsAsMuch(r, validity, history) {
			return nil
		}
	}
	err := s.srv.svc.RecordShown(ctx, s.number, shownRecord(validity, history), records)
	if err != nil && !errors.Is(err, voicemail.ErrShownChanged) {
		s.log.Warn("imap could not record what INBOX showed; only this process notices late arrivals beneath it", "err", err)
		return nil
	}
	return err
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
		// The mailbox was removed and provisioned again under us, or a message arrived beneath
		// UIDs already shown: the client must resync under the new UIDVALIDITY.
		s.writef("* BYE UIDVALIDITY changed, select the mailbox again\r\n")
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
			// Beneath UIDs shown: load raised UIDVALIDITY unless another process showed the
			// later message. Announcing it would break ascending UIDs; a new SELECT shows it.
			continue
		}
		kept = append(kept, it)
		added = true
	}
	sel.items = kept
	sel.uidNext = max(sel.uidNext, f.uidNext)
	sel.pending = f.pending
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
