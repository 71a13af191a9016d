package voicemail

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/crdt"
)

// Snapshot is a mailbox as one read of its merged state shows it. IMAP builds a selected
// folder from it, so a SELECT costs one metadata read whatever the number of messages.
type Snapshot struct {
	Mailbox Mailbox
	// Messages are the visible messages (new and saved) in ascending id, i.e. deposit, order.
	Messages []Message
	// History is the order key (OrderKey) of every message deposited since the mailbox was
	// created, deleted ones included, ascending, as far as this region knows their deposit.
	// A message's key is its id unless it joined the mailbox later than its id's time: stored
	// more than LateStore after it (the key then carries the store time), or placed by an IMAP
	// view that found it arriving beneath messages already shown (PlaceMessages; the key then
	// carries the placement). Every region agrees on it once replication has caught up:
	// stable IMAP UIDs are derived from it.
	History []string
	// Greetings has one entry per greeting kind ever written, in GreetingKinds order.
	Greetings []GreetingState
	// UIDValidity is the least IMAP UIDVALIDITY of the inbox that regions agreed on through
	// RaiseUIDValidity (0: none); IMAP uses the greater of it and the creation time.
	UIDValidity int64
	// Shown lists what IMAP views showed of the inbox (RecordShown), one record per writer.
	Shown []Shown
}

// Shown is what an IMAP view showed of the inbox: under which UIDVALIDITY, the greatest
// order key shown, how many keys of History were up to it then, and the last few keys shown:
// From, the first of them, and Tail, a tag of each of their ids (the view's encoding, stored
// as given).
type Shown struct {
	Validity uint32
	Last     string
	Count    int
	From     string
	Tail     string
	// Writer is whose record it is (Options.Node); set by Snapshot, not stored.
	Writer string
}

func (sh Shown) state() crdt.Shown {
	return crdt.Shown{Validity: sh.Validity, Last: sh.Last, Count: sh.Count, From: sh.From, Tail: sh.Tail}
}

// GreetingState is a greeting kind's replicated register: the last write (a recording, or a
// deletion when Present is false) and when it happened. Every region agrees on Written.
type GreetingState struct {
	Kind    GreetingKind
	Written time.Time
	Present bool
	ref     string
	origin  string // the region that stored it
}

// Snapshot reads a mailbox's settings, messages and greetings at once.
func (s *Service) Snapshot(ctx context.Context, number string) (Snapshot, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return Snapshot{}, nerr
	}
	doc, err := s.mailboxDoc(ctx, number)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Mailbox: toMailbox(number, doc.Mailbox), UIDValidity: doc.Mailbox.UIDValidity}
	for id, m := range doc.Messages {
		// A message is in the history once its deposit is known here: a row of another
		// region that only changed its flags can arrive first, and counting the message then
		// would give it a place no view can show yet.
		if m.Info != nil && m.Info.Deposited.After(doc.Mailbox.Removed) {
			snap.History = append(snap.History, OrderKey(id, joined(id, m)))
		}
	}
	slices.Sort(snap.History)
	for _, k := range slices.Sorted(maps.Keys(doc.Mailbox.Shown)) {
		r := doc.Mailbox.Shown[k]
		snap.Shown = append(snap.Shown, Shown{Validity: r.Validity, Last: r.Last, Count: r.Count, From: r.From, Tail: r.Tail, Writer: k})
	}
	for _, key := range snap.History {
		if id := KeyID(key); doc.Visible(id) {
			snap.Messages = append(snap.Messages, toMessage(number, id, doc.Messages[id]))
		}
	}
	for _, k := range GreetingKinds {
		r, ok := doc.Mailbox.Greetings[string(k)]
		if !ok || r.TS.IsZero() {
			continue
		}
		snap.Greetings = append(snap.Greetings, GreetingState{Kind: k, Written: r.TS.Time(), Present: r.V != "", ref: r.V, origin: greetingOrigin(r)})
	}
	return snap, nil
}

// joined is when a message (with Info) joined the mailbox: its id's time, or its store time
// when that is more than LateStore later, or its placement when that is later still.
func joined(id string, m crdt.Message) time.Time {
	t, _ := MessageTime(id)
	if stored := m.Info.Deposited.Time(); stored.Sub(t) > LateStore {
		t = stored
	}
	if placed := time.UnixMilli(m.Placed).UTC(); m.Placed > 0 && placed.After(t) {
		t = placed
	}
	return t
}

// PlaceMessages orders messages as if they had joined the mailbox at at (unless they already
// joined later): a max-register in this region's row of each message, so concurrent placements
// agree on the latest. It is for IMAP: a message found arriving beneath UIDs a client may
// already hold is placed above them, and shows there once the visibility delay has passed,
// the same wherever clients connect.
func (s *Service) PlaceMessages(ctx context.Context, number string, ids []string, at time.Time) error {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return nerr
	}
	// Under StoreTimeout, as RaiseUIDValidity: IMAP places within a command.
	err := s.bounded(ctx, func(ctx context.Context) error {
		for _, id := range ids {
			if !ValidMessageID(id) {
				return fmt.Errorf("%w: message id %q", ErrInvalid, id)
			}
			if err := update(ctx, s.rows, number, entMsg+id, func(m *crdt.Message) error {
				m.Placed = max(m.Placed, at.UnixMilli())
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.publish(ctx, number, EventChanged, "")
	return nil
}

// RaiseUIDValidity makes the inbox's UIDVALIDITY at least v in every region: a max-register in
// this region's mailbox row, merged by max, so concurrent raises agree on the greatest. It is
// for IMAP, whose UIDs are derived from replicated state: when a view sees a message arrive
// beneath UIDs it already showed, clients must resync, and the new UIDVALIDITY must be the
// same wherever they connect.
func (s *Service) RaiseUIDValidity(ctx context.Context, number string, v int64) error {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return nerr
	}
	if _, err := s.mailboxDoc(ctx, number); err != nil {
		return err
	}
	// Under StoreTimeout: IMAP raises it within a command, and a hung store must not hold the
	// command (the caller answers "unavailable" and tries again on its next load).
	err := s.bounded(ctx, func(ctx context.Context) error {
		return update(ctx, s.rows, number, entBox, func(m *crdt.Mailbox) error {
			m.UIDValidity = max(m.UIDValidity, v)
			return nil
		})
	})
	if err != nil {
		return err
	}
	s.publish(ctx, number, EventChanged, "")
	return nil
}

// RecordShown stores what an IMAP view showed of the inbox, as this writer's (Options.Node)
// record in this region's mailbox row, so any process of any region can later tell that a
// message arrived beneath UIDs a client may hold. seen is the snapshot's records the view
// decided on: if this writer's record changed since (another process of the same stamp
// recorded what it showed), nothing is stored and the error is ErrShownChanged, since merging
// the two would keep only one of them and could hide a message the other did not show; the
// caller reads again. Records of a lower UIDVALIDITY in the row are dropped: a raise made them
// moot. The record also raises the UIDValidity register to its UIDVALIDITY, which a client was
// shown and which must not go lower.
func (s *Service) RecordShown(ctx context.Context, number string, sh Shown, seen []Shown) error {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return nerr
	}
	var before crdt.Shown
	for _, r := range seen {
		if r.Writer == s.opt.Node {
			before = r.state()
		}
	}
	return s.bounded(ctx, func(ctx context.Context) error {
		return update(ctx, s.rows, number, entBox, func(m *crdt.Mailbox) error {
			if m.Shown[s.opt.Node] != before {
				return ErrShownChanged
			}
			rec := sh.state()
			if m.Shown == nil {
				m.Shown = map[string]crdt.Shown{}
			}
			m.Shown[s.opt.Node] = rec
			maps.DeleteFunc(m.Shown, func(_ string, v crdt.Shown) bool { return v.Validity < rec.Validity })
			// What was shown under a UIDVALIDITY keeps it from going lower: a raise that this
			// row lost (a write made through another region's endpoint, then overwritten by
			// a write based on the older copy) is restored by the next record.
			m.UIDValidity = max(m.UIDValidity, int64(rec.Validity))
			return nil
		})
	})
}

// MessageAudio reads the WAV of a message taken from Messages or a Snapshot without reading
// the mailbox again; a message deleted since gives ErrNotFound.
func (s *Service) MessageAudio(ctx context.Context, m Message) ([]byte, error) {
	if m.AudioRef == "" {
		return nil, fmt.Errorf("message %s: %w", m.ID, ErrNotFound)
	}
	b, err := s.readAudio(ctx, m.AudioRegion, m.AudioRef)
	if err != nil {
		return nil, wrapStore("read audio", err)
	}
	return b, nil
}

// GreetingAudio reads the WAV of a greeting taken from a Snapshot.
func (s *Service) GreetingAudio(ctx context.Context, g GreetingState) ([]byte, error) {
	if !g.Present {
		return nil, fmt.Errorf("greeting %s: %w", g.Kind, ErrNotFound)
	}
	b, err := s.readAudio(ctx, g.origin, g.ref)
	if err != nil {
		return nil, wrapStore("read greeting audio", err)
	}
	return b, nil
}
