package voicemail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/crdt"
	"github.com/voicemail-platform/voicemail/app/internal/store"
)

// CanDeposit checks, before recording, that the mailbox exists and has room. When the metadata
// store is down it answers from the last view this process saw, so callers can still leave
// messages for known mailboxes (they go through the queue path).
func (s *Service) CanDeposit(ctx context.Context, number string) (Mailbox, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return Mailbox{}, nerr
	}
	mb, count, err := s.depositView(ctx, number)
	if err != nil {
		return Mailbox{}, err
	}
	if count >= mb.MaxMessages {
		return mb, fmt.Errorf("mailbox %s holds %d of %d messages: %w", number, count, mb.MaxMessages, ErrMailboxFull)
	}
	return mb, nil
}

// depositView returns the mailbox and its message count, from the store or, during a metadata
// outage, from the cache.
func (s *Service) depositView(ctx context.Context, number string) (Mailbox, int, error) {
	doc, err := s.depositDoc(ctx, number)
	if err == nil {
		return toMailbox(number, doc.Mailbox), len(doc.VisibleIDs()), nil
	}
	if errors.Is(err, ErrUnavailable) {
		if c, ok := s.cache.get(number); ok {
			s.log.Warn("metadata unavailable; using cached mailbox for deposit", "mailbox", number, "err", err)
			return c.mb, c.count, nil
		}
	}
	return Mailbox{}, 0, err
}

// Deposit stores a message. The audio is validated first; nothing is stored for bad audio, an
// unknown or full mailbox, or a message over the mailbox's length limit. If the audio or the
// metadata store fails, the deposit goes to the queue and the drainer stores it later; the
// returned message is then already final (same id). Retrying with the same d.ID is idempotent.
func (s *Service) Deposit(ctx context.Context, number string, d Deposit) (Message, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return Message{}, nerr
	}
	w, err := audio.Parse(d.Audio)
	if err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrBadAudio, err)
	}
	if d.Received.IsZero() {
		d.Received = s.now()
	}
	if err := checkNumber(number); err != nil {
		return Message{}, err
	}
	fresh := d.ID == ""
	if fresh {
		d.ID = NewMessageID(s.region, d.Received)
	} else if !ValidMessageID(d.ID) {
		return Message{}, fmt.Errorf("%w: message id %q is not of the form <13-digit ms>-<region>-<16 hex>", ErrInvalid, d.ID)
	}
	if len(d.Caller) > 256 {
		return Message{}, fmt.Errorf("%w: caller id longer than 256 bytes", ErrInvalid)
	}
	info := crdt.MessageInfo{
		Caller:     d.Caller,
		Received:   d.Received.UnixMilli(),
		DurationMs: w.Duration().Milliseconds(),
		Size:       int64(len(d.Audio)),
		AudioRef:   fmt.Sprintf("audio/%s/%s.wav", number, d.ID),
		Origin:     s.region, // this region's audio container stores it
	}
	// For a fresh id, upload the audio while the mailbox is read: a deposit then costs about one
	// blob upload plus the admission row's compare-and-swap and one row insert. If the mailbox refuses the message the blob is deleted
	// again; no row points at it meanwhile. A caller-chosen id may be a retry of a stored
	// message, so that is checked before anything is written.
	putErr := make(chan error, 1)
	put := func() error {
		return s.bounded(ctx, func(ctx context.Context) error { return s.b.Blobs.Put(ctx, info.AudioRef, d.Audio) })
	}
	if fresh {
		go func() { putErr <- put() }()
	}
	unlock, err := s.deposits.lock(ctx, number)
	if err != nil {
		if fresh && <-putErr == nil {
			s.deleteBlob(context.WithoutCancel(ctx), info.AudioRef)
		}
		return Message{}, err
	}
	defer unlock()
	mb, count, known, existing, outage, err := s.depositCheck(ctx, number, d.ID)
	if err == nil && existing != nil {
		if fresh {
			<-putErr
		}
		return *existing, nil // retry of a stored deposit
	}
	if err == nil && count >= mb.MaxMessages {
		err = fmt.Errorf("mailbox %s holds %d of %d messages: %w", number, count, mb.MaxMessages, ErrMailboxFull)
	}
	if lim := time.Duration(mb.MaxMessageSeconds) * time.Second; err == nil && w.Duration() > lim+durationGrace {
		err = fmt.Errorf("%w: %s over the mailbox's %s", ErrTooLong, w.Duration().Round(time.Millisecond), lim)
	}
	if err == nil && outage == nil {
		if aerr := s.admit(ctx, number, d.ID, known, count, mb.MaxMessages); errors.Is(aerr, ErrMailboxFull) {
			err = aerr
		} else if aerr != nil {
			outage = aerr // the store failed under us: the queue path, as for a failed read
		}
	}
	if err != nil {
		if fresh && <-putErr == nil {
			s.deleteBlob(context.WithoutCancel(ctx), info.AudioRef)
		}
		return Message{}, err
	}
	if !fresh {
		putErr <- put()
	}
	perr := <-putErr
	if perr == nil && outage != nil {
		// The metadata store just failed or hung on the read: the queue is quicker than
		// waiting for the write to fail too.
		err = outage
	} else if perr == nil {
		var msg Message
		err = s.bounded(ctx, func(ctx context.Context) (err error) {
			msg, err = s.storeRow(ctx, number, d.ID, info)
			return err
		})
		if err == nil {
			s.observeDeposit("direct")
			s.cache.deposited(number)
			s.publish(ctx, number, EventDeposited, d.ID)
			s.announce(msg)
			return msg, nil
		}
		if !errors.Is(err, ErrUnavailable) {
			return Message{}, err
		}
	} else {
		err = wrapStore("store audio", perr)
	}
	// Second path: the queue. The message counts as accepted only once the queue has it.
	s.log.Warn("store failed during deposit; using queue path", "mailbox", number, "id", d.ID, "err", err)
	if qerr := s.queue.enqueue(ctx, number, d.ID, info, d.Audio, perr == nil); qerr != nil {
		return Message{}, fmt.Errorf("deposit %s: store and queue both failed: %w", d.ID, errors.Join(err, qerr))
	}
	s.observeDeposit("queue")
	s.cache.deposited(number)
	return toMessage(number, d.ID, crdt.Message{Info: &info}), nil
}

// depositCheck reads the mailbox for a deposit (from the outage cache if the store is down)
// and reports an already stored message with the same id. A non-nil outage is the store's
// error when the answer came from the cache.
func (s *Service) depositCheck(ctx context.Context, number, id string) (mb Mailbox, count int, known map[string]crdt.Message, existing *Message, outage error, err error) {
	doc, err := s.depositDoc(ctx, number)
	switch {
	case err == nil:
		if m, ok := doc.Messages[id]; ok && m.Info != nil {
			msg := toMessage(number, id, m)
			return Mailbox{}, 0, nil, &msg, nil, nil
		}
		return toMailbox(number, doc.Mailbox), len(doc.VisibleIDs()), doc.Messages, nil, nil, nil
	case errors.Is(err, ErrUnavailable):
		if c, ok := s.cache.get(number); ok {
			s.log.Warn("metadata unavailable; using cached mailbox for deposit", "mailbox", number, "err", err)
			return c.mb, c.count, nil, nil, err, nil
		}
	}
	return Mailbox{}, 0, nil, nil, nil, err
}

// admissionTTL is how long an admission is listed: long enough for the row write that follows
// it and for every concurrent read to see that row, short enough that a process that died in
// between frees its place soon.
const admissionTTL = 2 * time.Minute

// admit takes a place for deposit id in the mailbox, or answers ErrMailboxFull. count is the
// visible messages of the caller's read and known every message row it saw (deleted ones
// too). The region's admission row is read and written by compare-and-swap, so two processes
// admitting at once see each other: a place taken by another process whose row the read did
// not see yet counts against the limit. This makes maxMessages exact within a region; regions
// admit independently (a cross-region lock would stop deposits whenever a region is cut off),
// so across R regions a burst within the replication lag can reach R times the limit.
func (s *Service) admit(ctx context.Context, number, id string, known map[string]crdt.Message, count, limit int) error {
	var full error
	err := s.bounded(ctx, func(ctx context.Context) error {
		return update(ctx, s.rows, number, entAdmit, func(adm *map[string]int64) error {
			if *adm == nil {
				*adm = map[string]int64{}
			}
			now := s.now().UnixMilli()
			pending := 0
			for other, at := range *adm {
				if now-at > admissionTTL.Milliseconds() {
					delete(*adm, other)
					continue
				}
				// A stored one is in count already. It stays listed until it expires: a
				// process whose read predates its row still has to count it here.
				if _, stored := known[other]; !stored && other != id {
					pending++
				}
			}
			if count+pending >= limit {
				full = fmt.Errorf("mailbox %s holds %d of %d messages and %d more are being deposited: %w", number, count, limit, pending, ErrMailboxFull)
				return full
			}
			(*adm)[id] = now
			return nil
		})
	})
	if full != nil {
		return full // not a store failure, whatever the write path wrapped it in
	}
	return err
}

// depositDoc is mailboxDoc under StoreTimeout: a hung metadata store then answers
// ErrUnavailable in time for the outage cache and the queue path.
func (s *Service) depositDoc(ctx context.Context, number string) (crdt.Doc, error) {
	var doc crdt.Doc
	err := s.bounded(ctx, func(ctx context.Context) (err error) {
		doc, err = s.mailboxDoc(ctx, number)
		return err
	})
	return doc, err
}

// storeRow writes the depositing region's message row: an insert (one round trip) for a new
// message, falling back to a merge if this region already has a row for it.
func (s *Service) storeRow(ctx context.Context, number, id string, info crdt.MessageInfo) (Message, error) {
	info.Deposited = s.clock.Now()
	m := crdt.Message{Info: &info}
	data, err := json.Marshal(m)
	if err != nil {
		return Message{}, err
	}
	_, err = s.b.Meta.Insert(ctx, number, store.RowKey(entMsg+id, s.region), data)
	if err == nil {
		return toMessage(number, id, m), nil
	}
	if !errors.Is(err, store.ErrExists) {
		return Message{}, wrapStore("write message", err)
	}
	var stored crdt.Message
	err = update(ctx, s.rows, number, entMsg+id, func(cur *crdt.Message) error {
		if cur.Info == nil {
			cur.Info = &info
		}
		stored = *cur
		return nil
	})
	if err != nil {
		return Message{}, err
	}
	return toMessage(number, id, stored), nil
}

// store writes the audio (when given), then the message row; the drainer's path. Both steps
// are idempotent.
func (s *Service) store(ctx context.Context, number, id string, info crdt.MessageInfo, wav []byte) (Message, error) {
	if wav != nil {
		if err := s.b.Blobs.Put(ctx, info.AudioRef, wav); err != nil {
			return Message{}, wrapStore("store audio", err)
		}
		info.Origin = s.region // whichever region queued it, this one's container holds it now
	}
	return s.storeRow(ctx, number, id, info)
}

func (s *Service) observeDeposit(path string) {
	if s.opt.Observer != nil {
		s.opt.Observer.Deposited(path)
	}
}

// Messages lists a folder's messages ("" = new and saved), newest first.
func (s *Service) Messages(ctx context.Context, number string, folder Folder) ([]Message, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return nil, nerr
	}
	switch folder {
	case "", FolderNew, FolderSaved:
	case FolderDeleted:
		return []Message{}, nil // tombstoned messages are gone
	default:
		return nil, fmt.Errorf("%w: folder %q is not new or saved", ErrInvalid, folder)
	}
	doc, err := s.mailboxDoc(ctx, number)
	if err != nil {
		return nil, err
	}
	ids := doc.VisibleIDs()
	sortNewestFirst(ids)
	out := make([]Message, 0, len(ids))
	for _, id := range ids {
		m := toMessage(number, id, doc.Messages[id])
		if folder == "" || m.Folder == folder {
			out = append(out, m)
		}
	}
	return out, nil
}

// Message returns one visible message.
func (s *Service) Message(ctx context.Context, number, id string) (Message, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return Message{}, nerr
	}
	doc, err := s.mailboxDoc(ctx, number)
	if err != nil {
		return Message{}, err
	}
	if !doc.Visible(id) {
		return Message{}, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	return toMessage(number, id, doc.Messages[id]), nil
}

// Audio returns a message's WAV.
func (s *Service) Audio(ctx context.Context, number, id string) ([]byte, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return nil, nerr
	}
	m, err := s.Message(ctx, number, id)
	if err != nil {
		return nil, err
	}
	b, err := s.readAudio(ctx, m.AudioRegion, m.AudioRef)
	if err != nil {
		return nil, wrapStore("read audio", err)
	}
	return b, nil
}

// UpdateMessage changes the heard flag, the folder (new, saved; deleted deletes) and client flags.
func (s *Service) UpdateMessage(ctx context.Context, number, id string, u MessageUpdate) (Message, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return Message{}, nerr
	}
	if u.Folder != nil {
		switch *u.Folder {
		case FolderNew, FolderSaved:
		case FolderDeleted:
			if err := s.DeleteMessage(ctx, number, id); err != nil {
				return Message{}, err
			}
			m := Message{ID: id, Mailbox: number, Folder: FolderDeleted}
			return m, nil
		default:
			return Message{}, fmt.Errorf("%w: folder %q is not new, saved or deleted", ErrInvalid, *u.Folder)
		}
	}
	for f := range u.Flags {
		if !slices.Contains(ClientFlags, f) {
			return Message{}, fmt.Errorf("%w: flag %q is not one of %v", ErrInvalid, f, ClientFlags)
		}
	}
	if _, err := s.Message(ctx, number, id); err != nil {
		return Message{}, err
	}
	ts := s.clock.Now()
	if err := update(ctx, s.rows, number, entMsg+id, func(m *crdt.Message) error {
		if u.Heard != nil {
			m.Heard.Set(*u.Heard, ts)
		}
		if u.Folder != nil {
			m.Folder.Set(string(*u.Folder), ts)
		}
		for f, on := range u.Flags {
			if m.Flags == nil {
				m.Flags = map[string]crdt.Register[bool]{}
			}
			r := m.Flags[f]
			r.Set(on, ts)
			m.Flags[f] = r
		}
		return nil
	}); err != nil {
		return Message{}, err
	}
	s.publish(ctx, number, EventChanged, id)
	return s.Message(ctx, number, id)
}

// DeleteMessage tombstones a message; the tombstone wins over any concurrent change.
func (s *Service) DeleteMessage(ctx context.Context, number, id string) error {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return nerr
	}
	m, err := s.Message(ctx, number, id)
	if err != nil {
		return err
	}
	ts := s.clock.Now()
	if err := update(ctx, s.rows, number, entMsg+id, func(m *crdt.Message) error {
		m.Deleted = crdt.Max(m.Deleted, ts)
		return nil
	}); err != nil {
		return err
	}
	s.cache.deleted(number)
	s.deleteAudio(ctx, m.AudioRegion, m.AudioRef)
	s.publish(ctx, number, EventChanged, id)
	return nil
}

// Summary counts new (unheard) and old (heard) messages for MWI.
func (s *Service) Summary(ctx context.Context, number string) (Summary, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return Summary{}, nerr
	}
	doc, err := s.mailboxDoc(ctx, number)
	if err != nil {
		return Summary{}, err
	}
	return summary(doc), nil
}

// DepositNotice is the JSON sent to the notification queue for each stored deposit.
type DepositNotice struct {
	Type            string    `json:"type"` // "deposited"
	Mailbox         string    `json:"mailbox"`
	MessageID       string    `json:"id"`
	Caller          string    `json:"caller"`
	Received        time.Time `json:"received"`
	DurationSeconds int64     `json:"durationSeconds"`
	Region          string    `json:"region"`
}

// FlushNotifications sends the deposit notifications held back for IMAP visibility at once,
// then waits until every notification being sent has been sent (or has failed), or until ctx
// ends. Shutdown calls it after the last deposit, so the notices of the last deposits do not
// die with the process (a notice then may precede IMAP visibility by less than the delay).
func (s *Service) FlushNotifications(ctx context.Context) error {
	if err := s.held.flush(ctx); err != nil {
		return fmt.Errorf("deposit notifications still held: %w", err)
	}
	taken := 0 // holding every slot means no send is in flight
	defer func() {
		for range taken {
			<-s.announcing
		}
	}()
	for taken < cap(s.announcing) {
		select {
		case s.announcing <- struct{}{}:
			taken++
		case <-ctx.Done():
			return fmt.Errorf("deposit notifications still being sent: %w", ctx.Err())
		}
	}
	return nil
}

// announce sends a deposit notification to the notification queue in the background: it is
// best effort and must not slow the deposit down. The notice is what makes a visual voicemail
// client sync over IMAP, and IMAP shows a message only once its deposit time is
// Options.NoticeDelay old, so the notice waits until then (see heldNotices). At most
// maxAnnouncing sends are in flight; beyond that notifications are dropped with a warning.
func (s *Service) announce(m Message) {
	if s.b.Notify == nil {
		return
	}
	if s.opt.NoticeDelay > 0 {
		t, _ := MessageTime(m.ID)
		s.held.hold(m, t.Add(s.opt.NoticeDelay), s.sendNotice)
		return
	}
	s.sendNotice(m)
}

// sendNotice starts sending m's notification unless maxAnnouncing sends are in flight.
func (s *Service) sendNotice(m Message) {
	select {
	case s.announcing <- struct{}{}:
	default:
		s.log.Warn("notification queue backlog; notification dropped", "mailbox", m.Mailbox, "id", m.ID)
		return
	}
	go func() {
		defer func() { <-s.announcing }()
		b, _ := json.Marshal(DepositNotice{Type: "deposited", Mailbox: m.Mailbox, MessageID: m.ID, Caller: m.Caller,
			Received: m.Received, DurationSeconds: m.Seconds, Region: s.region})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.b.Notify.Send(ctx, string(b)); err != nil {
			s.log.Warn("send notification", "mailbox", m.Mailbox, "id", m.ID, "err", err)
		}
	}()
}
