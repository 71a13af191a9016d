package voicemail

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/voicemail-platform/voicemail/app/internal/crdt"
)

// mailboxState is what the watcher compares between polls: visible ids with their flags.
type mailboxState map[string]string

func fingerprint(doc crdt.Doc) mailboxState {
	st := mailboxState{}
	for _, id := range doc.VisibleIDs() {
		m := doc.Messages[id]
		st[id] = fmt.Sprintf("%t/%s", m.Heard.V, m.Folder.V)
	}
	return st
}

// watcher polls the mailboxes that have subscribers and announces changes made elsewhere
// (other stamps, other regions after replication), so IMAP IDLE and MWI see them too.
type watcher struct {
	mu   sync.Mutex // orders watcher and publish reads of a mailbox
	subs *subscriptions
	rows rows
}

// poll looks at every subscribed mailbox once. Changes made by this process were already
// announced by publish and are not repeated.
func (w *watcher) poll(ctx context.Context) {
	for _, number := range w.subs.subscribed() {
		w.pollOne(ctx, number)
	}
}

func (w *watcher) pollOne(ctx context.Context, number string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	doc, err := w.rows.load(ctx, number)
	if err != nil {
		return
	}
	now := fingerprint(doc)
	before, known, since := w.subs.observe(number, now)
	if !known {
		// First look: messages deposited since the subscription started are new to the
		// subscriber; anything older it saw when it read the mailbox.
		before = mailboxState{}
		for id, flags := range now {
			if t, ok := MessageTime(id); ok && t.Before(since) {
				before[id] = flags
			}
		}
	}
	sum := summary(doc)
	changed := false
	var added []string
	for id, flags := range now {
		old, ok := before[id]
		if !ok {
			added = append(added, id)
		} else if old != flags {
			changed = true
		}
	}
	for id := range before {
		if _, ok := now[id]; !ok {
			changed = true // deleted elsewhere
		}
	}
	sort.Strings(added)
	for _, id := range added {
		w.subs.notify(Event{Mailbox: number, Kind: EventDeposited, MessageID: id, Summary: sum})
	}
	if changed {
		w.subs.notify(Event{Mailbox: number, Kind: EventChanged, Summary: sum})
	}
}
