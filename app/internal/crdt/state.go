package crdt

import (
	"fmt"
	"maps"
	"slices"
)

// Register is a last-writer-wins register.
type Register[T comparable] struct {
	V  T         `json:"v"`
	TS Timestamp `json:"t"`
}

// Set writes v at ts if ts is later than the current write.
func (r *Register[T]) Set(v T, ts Timestamp) { *r = r.Merge(Register[T]{V: v, TS: ts}) }

// Merge keeps the later write. Equal timestamps only arise from the same write replicated, but
// a value order breaks the tie anyway so merge stays deterministic on corrupt input. The zero
// register (never written) is the identity, so an absent map entry merges like a missing row.
func (r Register[T]) Merge(o Register[T]) Register[T] {
	var zero Register[T]
	switch c := r.TS.Compare(o.TS); {
	case r == zero:
		return o
	case o == zero:
		return r
	case c > 0:
		return r
	case c < 0:
		return o
	}
	if fmt.Sprint(o.V) > fmt.Sprint(r.V) {
		return o
	}
	return r
}

// Mailbox is the replicated state of one mailbox's settings and greetings.
type Mailbox struct {
	// Provisioned and Removed are max-registers: the mailbox exists when the latest provision
	// is after the latest removal. Messages deposited before the latest removal are gone.
	Provisioned Timestamp `json:"prov"`
	Removed     Timestamp `json:"rm"`

	DisplayName       Register[string] `json:"dn"`
	Language          Register[string] `json:"lang"`
	ActiveGreeting    Register[string] `json:"ag"`
	MaxMessageSeconds Register[int]    `json:"mms"`
	MaxMessages       Register[int]    `json:"mm"`
	MWITarget         Register[string] `json:"mwi"`
	Email             Register[string] `json:"email"`
	PINHash           Register[string] `json:"pin"`
	// Greetings maps a greeting kind to its audio blob name; "" means deleted.
	Greetings map[string]Register[string] `json:"gr,omitempty"`
	// UIDValidity is a max-register (Unix seconds) that IMAP's UIDVALIDITY of the inbox never
	// goes below. A view that finds a message arriving beneath UIDs it already showed raises it
	// past the value in use, so every region moves clients to a full resync together.
	UIDValidity int64 `json:"uidv,omitempty"`
	// Shown holds, per writer (a stamp), what IMAP last showed of the inbox; each writer
	// replaces only its own entry, so no writer's record hides another's.
	Shown map[string]Shown `json:"shown,omitempty"`
}

// Shown records what IMAP showed of a mailbox's inbox: under which UIDVALIDITY, the greatest
// order key shown, how many keys of the mailbox's history were up to it then, and which were
// the last of them (From, the first key of the tail; Tail, a short tag of each id of the tail
// from From to Last, concatenated). A view
// that later finds a key up to Last that the record did not count knows that a message arrived
// beneath UIDs a client may hold, and the tail tells which message it is.
type Shown struct {
	Validity uint32 `json:"v"`
	Last     string `json:"l"`
	Count    int    `json:"c"`
	From     string `json:"fr,omitempty"`
	Tail     string `json:"tl,omitempty"`
}

// Merge keeps the record of the greater UIDVALIDITY, then of the greater Last, then the
// smaller Count (the earlier sighting of the same Last), then the smaller Tail: a max in a
// total order.
func (a Shown) Merge(b Shown) Shown {
	switch {
	case a.Validity != b.Validity:
		if a.Validity > b.Validity {
			return a
		}
		return b
	case a.Last != b.Last:
		if a.Last > b.Last {
			return a
		}
		return b
	case a.Count != b.Count:
		if a.Count < b.Count {
			return a
		}
		return b
	case a.From != b.From:
		if a.From < b.From {
			return a
		}
		return b
	case a.Tail <= b.Tail:
		return a
	}
	return b
}

// Exists reports whether the mailbox is provisioned and not removed since.
func (m Mailbox) Exists() bool { return !m.Provisioned.IsZero() && m.Provisioned.After(m.Removed) }

// Merge joins two replicas of the mailbox state.
func (m Mailbox) Merge(o Mailbox) Mailbox {
	out := Mailbox{
		Provisioned:       Max(m.Provisioned, o.Provisioned),
		Removed:           Max(m.Removed, o.Removed),
		DisplayName:       m.DisplayName.Merge(o.DisplayName),
		Language:          m.Language.Merge(o.Language),
		ActiveGreeting:    m.ActiveGreeting.Merge(o.ActiveGreeting),
		MaxMessageSeconds: m.MaxMessageSeconds.Merge(o.MaxMessageSeconds),
		MaxMessages:       m.MaxMessages.Merge(o.MaxMessages),
		MWITarget:         m.MWITarget.Merge(o.MWITarget),
		Email:             m.Email.Merge(o.Email),
		PINHash:           m.PINHash.Merge(o.PINHash),
		UIDValidity:       max(m.UIDValidity, o.UIDValidity),
	}
	out.Greetings = mergeRegisters(m.Greetings, o.Greetings)
	if len(m.Shown)+len(o.Shown) > 0 {
		out.Shown = maps.Clone(m.Shown)
		if out.Shown == nil {
			out.Shown = map[string]Shown{}
		}
		for k, v := range o.Shown {
			if cur, ok := out.Shown[k]; ok {
				v = cur.Merge(v)
			}
			out.Shown[k] = v
		}
	}
	return out
}

// Latest is the newest timestamp anywhere in the state; a writer observes it so its next
// write orders after everything it has read, whatever the clock skew.
func (m Mailbox) Latest() Timestamp {
	ts := Max(m.Provisioned, m.Removed)
	for _, t := range []Timestamp{m.DisplayName.TS, m.Language.TS, m.ActiveGreeting.TS, m.MaxMessageSeconds.TS,
		m.MaxMessages.TS, m.MWITarget.TS, m.Email.TS, m.PINHash.TS} {
		ts = Max(ts, t)
	}
	for _, g := range m.Greetings {
		ts = Max(ts, g.TS)
	}
	return ts
}

// Latest is the newest timestamp in the message state.
func (m Message) Latest() Timestamp {
	ts := Max(m.Heard.TS, Max(m.Folder.TS, m.Deleted))
	if m.Info != nil {
		ts = Max(ts, m.Info.Deposited)
	}
	for _, f := range m.Flags {
		ts = Max(ts, f.TS)
	}
	return ts
}

// Equal compares two states (maps make == unusable).
func (m Mailbox) Equal(o Mailbox) bool {
	return m.Provisioned == o.Provisioned && m.Removed == o.Removed &&
		m.DisplayName == o.DisplayName && m.Language == o.Language &&
		m.ActiveGreeting == o.ActiveGreeting && m.MaxMessageSeconds == o.MaxMessageSeconds &&
		m.MaxMessages == o.MaxMessages && m.MWITarget == o.MWITarget && m.Email == o.Email &&
		m.PINHash == o.PINHash && m.UIDValidity == o.UIDValidity && maps.Equal(m.Greetings, o.Greetings) &&
		maps.Equal(m.Shown, o.Shown)
}

// MessageInfo is what the depositing region records once; it never changes afterwards.
type MessageInfo struct {
	Caller     string `json:"c"`
	Received   int64  `json:"r"` // unix ms
	DurationMs int64  `json:"d"`
	Size       int64  `json:"s"`
	AudioRef   string `json:"a"`
	// Origin is the region whose audio container holds AudioRef (the region that stored it);
	// empty in rows written before it was recorded, where the message id's region is the origin.
	Origin    string    `json:"o,omitempty"`
	Deposited Timestamp `json:"dt"`
}

// Message is the replicated state of one message.
type Message struct {
	// Info is nil in a region's row that only changed flags of a message deposited elsewhere.
	// Unset fields are left out of the stored row (a fresh message's row is mostly them);
	// absent fields decode to the same zero values.
	Info   *MessageInfo     `json:"i,omitempty"`
	Heard  Register[bool]   `json:"h,omitzero"`
	Folder Register[string] `json:"f,omitzero"`
	// Deleted is a tombstone: once set in any replica the message is gone for good.
	Deleted Timestamp `json:"x,omitzero"`
	// Flags holds the flags clients set (IMAP \Flagged, \Answered, \Draft), each an LWW
	// register of its own, so setting one flag in a region never undoes another set elsewhere.
	Flags map[string]Register[bool] `json:"fl,omitempty"`
	// Placed (unix ms, a max-register) is when an IMAP view found the message arriving beneath
	// messages already shown; IMAP then orders it as if it had been deposited at that time.
	Placed int64 `json:"pl,omitempty"`
}

// Merge joins two replicas of a message.
func (m Message) Merge(o Message) Message {
	out := Message{
		Heard:   m.Heard.Merge(o.Heard),
		Folder:  m.Folder.Merge(o.Folder),
		Deleted: Max(m.Deleted, o.Deleted),
		Flags:   mergeRegisters(m.Flags, o.Flags),
		Placed:  max(m.Placed, o.Placed),
	}
	switch {
	case m.Info == nil:
		out.Info = o.Info
	case o.Info == nil:
		out.Info = m.Info
	case o.Info.Deposited.Compare(m.Info.Deposited) < 0 ||
		(o.Info.Deposited == m.Info.Deposited && fmt.Sprint(*o.Info) < fmt.Sprint(*m.Info)):
		out.Info = o.Info
	default:
		out.Info = m.Info
	}
	return out
}

// Equal compares two message states by value.
func (m Message) Equal(o Message) bool {
	if (m.Info == nil) != (o.Info == nil) || (m.Info != nil && *m.Info != *o.Info) {
		return false
	}
	return m.Heard == o.Heard && m.Folder == o.Folder && m.Deleted == o.Deleted && maps.Equal(m.Flags, o.Flags) &&
		m.Placed == o.Placed
}

// mergeRegisters merges two maps of registers key by key; nil when both are empty.
func mergeRegisters[T comparable](a, b map[string]Register[T]) map[string]Register[T] {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := maps.Clone(a)
	if out == nil {
		out = map[string]Register[T]{}
	}
	for k, v := range b {
		out[k] = out[k].Merge(v)
	}
	return out
}

// Tombstoned reports whether the message was deleted.
func (m Message) Tombstoned() bool { return !m.Deleted.IsZero() }

// Lock is one region's record of wrong PIN attempts. It is an LWW register per region; readers
// combine regions with Locked, so a lockout set anywhere holds everywhere.
type Lock struct {
	Failures    int       `json:"f"`           // wrong PINs within the failure window
	LockedUntil int64     `json:"u"`           // unix ms; set only by an operator
	Last        int64     `json:"l,omitempty"` // unix ms of the last wrong PIN
	Next        int64     `json:"n,omitempty"` // unix ms before which the mailbox's slow lane refuses
	TS          Timestamp `json:"t"`
}

// Merge keeps the later write of the same region's lock row.
func (l Lock) Merge(o Lock) Lock {
	switch c := l.TS.Compare(o.TS); {
	case l == Lock{}:
		return o
	case o == Lock{}:
		return l
	case c > 0 || (c == 0 && fmt.Sprint(l) >= fmt.Sprint(o)):
		return l
	}
	return o
}

// Doc is a whole mailbox's state: settings, messages by id, and lock rows by region.
type Doc struct {
	Mailbox  Mailbox            `json:"mb"`
	Messages map[string]Message `json:"msgs,omitempty"`
	Locks    map[string]Lock    `json:"locks,omitempty"`
}

// Merge joins two documents entity by entity.
func (d Doc) Merge(o Doc) Doc {
	out := Doc{Mailbox: d.Mailbox.Merge(o.Mailbox)}
	if len(d.Messages)+len(o.Messages) > 0 {
		out.Messages = maps.Clone(d.Messages)
		if out.Messages == nil {
			out.Messages = map[string]Message{}
		}
		for id, m := range o.Messages {
			out.Messages[id] = out.Messages[id].Merge(m)
		}
	}
	if len(d.Locks)+len(o.Locks) > 0 {
		out.Locks = maps.Clone(d.Locks)
		if out.Locks == nil {
			out.Locks = map[string]Lock{}
		}
		for r, l := range o.Locks {
			out.Locks[r] = out.Locks[r].Merge(l)
		}
	}
	return out
}

// Equal compares documents by value.
func (d Doc) Equal(o Doc) bool {
	if !d.Mailbox.Equal(o.Mailbox) || len(d.Messages) != len(o.Messages) || !maps.Equal(d.Locks, o.Locks) {
		return false
	}
	for id, m := range d.Messages {
		om, ok := o.Messages[id]
		if !ok || !m.Equal(om) {
			return false
		}
	}
	return true
}

// Visible reports whether a message is listed: deposited, not tombstoned, and not from before
// the mailbox's latest removal.
func (d Doc) Visible(id string) bool {
	m, ok := d.Messages[id]
	return ok && m.Info != nil && !m.Tombstoned() && m.Info.Deposited.After(d.Mailbox.Removed)
}

// VisibleIDs lists visible message ids in ascending id order.
func (d Doc) VisibleIDs() []string {
	var ids []string
	for id := range d.Messages {
		if d.Visible(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// LockedUntil is the latest lockout any region recorded (unix ms).
func (d Doc) LockedUntil() int64 {
	var u int64
	for _, l := range d.Locks {
		u = max(u, l.LockedUntil)
	}
	return u
}
