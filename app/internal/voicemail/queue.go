package voicemail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/crdt"
	"github.com/voicemail-platform/voicemail/app/internal/store"
)

// The second deposit path. A deposit whose store write failed is sent to the queue as:
//
//   - when the audio blob could not be written: the WAV in "chunk" messages (each under the
//     queue's message limit), then one "deposit" message naming the chunk count;
//   - when only the metadata write failed: one "deposit" message (the audio is already stored).
//
// The drainer moves each chunk into a staging blob ("pending/<id>/<n>") and deletes it from the
// queue; it completes a "deposit" message only when all its chunks are staged, and deletes the
// message only after the message row is written. Every step is idempotent, so several drainers
// (one per stamp) and crashes between steps can repeat work but never lose an accepted deposit.
// Messages starting with HealthcheckMarker are health probes and are dropped.

// HealthcheckMarker starts every queue message the health probe sends.
const HealthcheckMarker = "HEALTHCHECK=TRUE"

// chunkBytes keeps a chunk message (JSON + base64 of the chunk) under store.MaxQueueMessage.
const chunkBytes = 32 * 1024

type queueMsg struct {
	Type    string           `json:"t"` // "chunk" or "deposit"
	ID      string           `json:"id"`
	Mailbox string           `json:"mb"`
	Index   int              `json:"i,omitempty"`
	Data    []byte           `json:"b,omitempty"`
	Chunks  int              `json:"n,omitempty"`
	Info    crdt.MessageInfo `json:"info,omitzero"`
}

// depositQueue carries deposits on the second path: written as queue messages by Deposit, read
// back by Drain and deleted once done.
type depositQueue struct {
	q   store.Queue
	log *slog.Logger
}

// enqueue sends a deposit: its audio as chunks unless audioStored, then the deposit message.
func (d depositQueue) enqueue(ctx context.Context, number, id string, info crdt.MessageInfo, wav []byte, audioStored bool) error {
	chunks := 0
	if !audioStored {
		for off := 0; off < len(wav); off += chunkBytes {
			part := wav[off:min(off+chunkBytes, len(wav))]
			if err := d.send(ctx, queueMsg{Type: "chunk", ID: id, Mailbox: number, Index: chunks, Data: part}); err != nil {
				return err
			}
			chunks++
		}
	}
	return d.send(ctx, queueMsg{Type: "deposit", ID: id, Mailbox: number, Chunks: chunks, Info: info})
}

func (d depositQueue) send(ctx context.Context, m queueMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := d.q.Send(ctx, string(b)); err != nil {
		return fmt.Errorf("queue send: %w", err)
	}
	return nil
}

func pendingPrefix(id string) string { return "pending/" + id + "/" }

// Run drains the deposit queue every DrainInterval and watches subscribed mailboxes every
// WatchInterval until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.opt.DrainInterval)
	defer t.Stop()
	w := time.NewTicker(s.opt.WatchInterval)
	defer w.Stop()
	for {
		if _, err := s.Drain(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("drain deposit queue", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.C:
			s.watcher.poll(ctx)
		}
	}
}

// Drain processes every queue message currently visible and reports how many deposits it
// stored. Deposits whose chunks or store are not available yet stay queued for a later pass.
func (s *Service) Drain(ctx context.Context) (int, error) {
	var deposits []store.QueueMessage
	depositIdx := map[string]int{}
	seen := map[string]bool{}
	stored, dropped := 0, 0
	var errs []error
	blobsDown := false
	defer func() {
		if s.opt.Observer != nil && stored+dropped > 0 {
			s.opt.Observer.Drained(stored, dropped)
		}
	}()
	for again := true; again; {
		batch, err := s.queue.q.Receive(ctx, 32, s.opt.DrainVisibility)
		if err != nil {
			errs = append(errs, fmt.Errorf("queue receive: %w", err))
			break
		}
		again = len(batch) > 0
		for _, qm := range batch {
			if seen[qm.ID] {
				// Visible again within this pass: the pass is slower than the visibility
				// timeout. Keep the newest receipt and stop receiving.
				again = false
				if i, ok := depositIdx[qm.ID]; ok {
					deposits[i] = qm
				}
				continue
			}
			seen[qm.ID] = true
			if strings.HasPrefix(qm.Text, HealthcheckMarker) {
				s.queue.ack(ctx, qm)
				dropped++
				continue
			}
			var m queueMsg
			if err := json.Unmarshal([]byte(qm.Text), &m); err != nil || (m.Type != "chunk" && m.Type != "deposit") || !ValidMessageID(m.ID) {
				s.log.Error("dropping malformed queue message", "id", qm.ID, "err", err)
				s.queue.ack(ctx, qm)
				dropped++
				continue
			}
			if m.Type == "deposit" {
				depositIdx[qm.ID] = len(deposits)
				deposits = append(deposits, qm)
				continue
			}
			if blobsDown {
				continue // stays queued; reappears after the visibility timeout
			}
			name := fmt.Sprintf("%s%06d", pendingPrefix(m.ID), m.Index)
			if err := s.b.Blobs.Put(ctx, name, m.Data); err != nil {
				// One failure is enough to know; retrying every chunk against a dead store
				// only makes the pass slow.
				blobsDown = store.Unavailable(err)
				errs = append(errs, fmt.Errorf("stage chunk: %w", err))
				continue
			}
			s.queue.ack(ctx, qm)
		}
	}
	// Chunks were staged above, so deposits received in the same pass can complete.
	for _, qm := range deposits {
		var m queueMsg
		_ = json.Unmarshal([]byte(qm.Text), &m)
		done, err := s.completeQueued(ctx, m)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("queued deposit %s: %w", m.ID, err))
			if errors.Is(err, ErrUnavailable) {
				return stored, errors.Join(errs...) // the rest wait for the next pass
			}
		case done:
			s.queue.ack(ctx, qm)
			stored++
		}
	}
	return stored, errors.Join(errs...)
}

// ack deletes a message that has been dealt with.
func (d depositQueue) ack(ctx context.Context, qm store.QueueMessage) {
	if err := d.q.Delete(ctx, qm); err != nil {
		d.log.Warn("queue delete", "id", qm.ID, "err", err)
	}
}

// completeQueued stores one queued deposit. It reports false (without error) while chunks are
// still missing.
func (s *Service) completeQueued(ctx context.Context, m queueMsg) (bool, error) {
	doc, err := s.rows.load(ctx, m.Mailbox)
	if err != nil {
		return false, err
	}
	if existing, ok := doc.Messages[m.ID]; ok && existing.Info != nil {
		s.cleanupPending(ctx, m.ID)
		return true, nil // stored by an earlier pass or another drainer
	}
	if !doc.Mailbox.Exists() {
		// The mailbox was removed after the deposit was accepted; there is nowhere to put it.
		s.log.Warn("queued deposit for a removed mailbox dropped", "mailbox", m.Mailbox, "id", m.ID)
		s.cleanupPending(ctx, m.ID)
		return true, nil
	}
	var wav []byte
	if m.Chunks > 0 {
		names, err := s.b.Blobs.List(ctx, pendingPrefix(m.ID))
		if err != nil {
			return false, err
		}
		if len(names) < m.Chunks {
			return false, nil
		}
		for _, n := range names[:m.Chunks] {
			part, err := s.b.Blobs.Get(ctx, n)
			if err != nil {
				return false, err
			}
			wav = append(wav, part...)
		}
		if int64(len(wav)) != m.Info.Size {
			return false, fmt.Errorf("reassembled %d bytes, want %d", len(wav), m.Info.Size)
		}
	}
	// Limits were checked when the deposit was accepted; an accepted message is stored even if
	// the mailbox filled up meanwhile.
	msg, err := s.store(ctx, m.Mailbox, m.ID, m.Info, wav)
	if err != nil {
		return false, err
	}
	s.announce(msg)
	s.cleanupPending(ctx, m.ID)
	s.log.Info("queued deposit stored", "mailbox", m.Mailbox, "id", m.ID)
	s.publish(ctx, m.Mailbox, EventDeposited, m.ID)
	return true, nil
}

func (s *Service) cleanupPending(ctx context.Context, id string) {
	names, err := s.b.Blobs.List(ctx, pendingPrefix(id))
	if err != nil {
		return
	}
	for _, n := range names {
		s.deleteBlob(ctx, n)
	}
}
