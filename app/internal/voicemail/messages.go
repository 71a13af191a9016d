package voicemail

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/crdt"
)

// CanDeposit checks, before recording, that the mailbox exists and has room. When the metadata
// store is down it answers from the last view this process saw, so callers can still leave
// messages for known mailboxes (they go through the queue path).
func (s *Service) CanDeposit(ctx context.Context, number string) (Mailbox, error) {
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
	doc, err := s.mailboxDoc(ctx, number)
	if err == nil {
		return toMailbox(number, doc.Mailbox), len(doc.VisibleIDs()), nil
	}
	if errors.Is(err, ErrUnavailable) {
		if c, ok := s.cached(number); ok {
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
	w, err := audio.Parse(d.Audio)
	if err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrBadAudio, err)
	}
	if d.Received.IsZero() {
		d.Received = s.now()
	}
	if d.ID == "" {
		d.ID = NewMessageID(s.region, d.Received)
	} else if !ValidMessageID(d.ID) {
		return Message{}, fmt.Errorf("%w: message id %q is not of the form <13-digit ms>-<region>-<16 hex>", ErrInvalid, d.ID)
	}
	if len(d.Caller) > 256 {
		return Message{}, fmt.Errorf("%w: caller id longer than 256 bytes", ErrInvalid)
	}
	doc, err := s.mailboxDoc(ctx, number)
	var mb Mailbox
	var count int
	switch {
	case err == nil:
		if m, ok := doc.Messages[d.ID]; ok && m.Info != nil {
			return toMessage(number, d.ID, m), nil // retry of a stored deposit
		}
		mb, count = toMailbox(number, doc.Mailbox), len(doc.VisibleIDs())
	case errors.Is(err, ErrUnavailable):
		if mb, count, err = s.depositView(ctx, number); err != nil {
			return Message{}, err
		}
	default:
		return Message{}, err
	}
	if count >= mb.MaxMessages {
		return Message{}, fmt.Errorf("mailbox %s holds %d of %d messages: %w", number, count, mb.MaxMessages, ErrMailboxFull)
	}
	if lim := time.Duration(mb.MaxMessageSeconds) * time.Second; w.Duration() > lim+durationGrace {
		return Message{}, fmt.Errorf("%w: %s over the mailbox's %s", ErrTooLong, w.Duration().Round(time.Millisecond), lim)
	}
	info := crdt.MessageInfo{
		Caller:     d.Caller,
		Received:   d.Received.UnixMilli(),
		DurationMs: w.Duration().Milliseconds(),
		Size:       int64(len(d.Audio)),
		AudioRef:   fmt.Sprintf("audio/%s/%s.wav", number, d.ID),
	}
	msg, err := s.store(ctx, number, d.ID, info, d.Audio)
	if err == nil {
		s.observeDeposit("direct")
		s.rememberDeposit(number)
		s.publish(ctx, number, EventDeposited, d.ID)
		return msg, nil
	}
	if !errors.Is(err, ErrUnavailable) {
		return Message{}, err
	}
	// Second path: the queue. The message counts as accepted only once the queue has it.
	s.log.Warn("store failed during deposit; using queue path", "mailbox", number, "id", d.ID, "err", err)
	audioStored := errors.Is(err, errMetaFailed)
	if qerr := s.enqueueDeposit(ctx, number, d.ID, info, d.Audio, audioStored); qerr != nil {
		return Message{}, fmt.Errorf("deposit %s: store and queue both failed: %w", d.ID, errors.Join(err, qerr))
	}
	s.observeDeposit("queue")
	s.rememberDeposit(number)
	return toMessage(number, d.ID, crdt.Message{Info: &info}), nil
}

// errMetaFailed marks a store failure after the audio was written.
var errMetaFailed = errors.New("metadata write failed after audio was stored")

// store writes the audio, then the message row. Both are idempotent, so a retry or the drainer
// may repeat them.
func (s *Service) store(ctx context.Context, number, id string, info crdt.MessageInfo, wav []byte) (Message, error) {
	if wav != nil {
		if err := s.b.Blobs.Put(ctx, info.AudioRef, wav); err != nil {
			return Message{}, wrapStore("store audio", err)
		}
	}
	var stored crdt.Message
	err := update(ctx, s, number, entMsg+id, func(m *crdt.Message) error {
		if m.Info == nil {
			info.Deposited = s.clock.Now()
			m.Info = &info
		}
		stored = *m
		return nil
	})
	if err != nil {
		return Message{}, fmt.Errorf("%w: %w", errMetaFailed, err)
	}
	return toMessage(number, id, stored), nil
}

func (s *Service) observeDeposit(path string) {
	if s.opt.Observer != nil {
		s.opt.Observer.Deposited(path)
	}
}

func (s *Service) rememberDeposit(number string) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if c, ok := s.cache[number]; ok {
		c.count++
		s.cache[number] = c
	}
}

// Messages lists a folder's messages ("" = new and saved), newest first.
func (s *Service) Messages(ctx context.Context, number string, folder Folder) ([]Message, error) {
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
	m, err := s.Message(ctx, number, id)
	if err != nil {
		return nil, err
	}
	b, err := s.b.Blobs.Get(ctx, m.AudioRef)
	if err != nil {
		return nil, wrapStore("read audio", err)
	}
	return b, nil
}

// UpdateMessage changes the heard flag and/or folder (new, saved; deleted deletes).
func (s *Service) UpdateMessage(ctx context.Context, number, id string, u MessageUpdate) (Message, error) {
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
	if _, err := s.Message(ctx, number, id); err != nil {
		return Message{}, err
	}
	ts := s.clock.Now()
	if err := update(ctx, s, number, entMsg+id, func(m *crdt.Message) error {
		if u.Heard != nil {
			m.Heard.Set(*u.Heard, ts)
		}
		if u.Folder != nil {
			m.Folder.Set(string(*u.Folder), ts)
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
	m, err := s.Message(ctx, number, id)
	if err != nil {
		return err
	}
	ts := s.clock.Now()
	if err := update(ctx, s, number, entMsg+id, func(m *crdt.Message) error {
		m.Deleted = crdt.Max(m.Deleted, ts)
		return nil
	}); err != nil {
		return err
	}
	s.cacheMu.Lock()
	if c, ok := s.cache[number]; ok && c.count > 0 {
		c.count--
		s.cache[number] = c
	}
	s.cacheMu.Unlock()
	s.deleteBlob(ctx, m.AudioRef)
	s.publish(ctx, number, EventChanged, id)
	return nil
}

// Summary counts new (unheard) and old (heard) messages for MWI.
func (s *Service) Summary(ctx context.Context, number string) (Summary, error) {
	doc, err := s.mailboxDoc(ctx, number)
	if err != nil {
		return Summary{}, err
	}
	return summary(doc), nil
}
