package sip

import (
	"context"
	"errors"
	"strconv"
	"unicode"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// The retrieval menu is a state machine with no media in it: keys, timeouts and finished
// recordings go in, and what to play, record or whether to hang up comes out. The call
// driver (retrieve) does the audio; tests drive the machine directly against a real service.

type menuState int

const (
	stMailbox menuState = iota // collecting the mailbox number (access number, unknown caller)
	stPIN
	stMain
	stMessage // a message was played; its menu is active
	stOptions
	stNewPIN
	stConfirmPIN
	stDone
)

const maxLoginAttempts = 3
const maxTimeouts = 3

// item is one thing to play: a prompt, or a stored message's audio.
type item struct {
	Prompt  string
	Message *voicemail.Message
}

// out is the menu's answer to an input.
type out struct {
	Play   []item
	Record voicemail.GreetingKind // after playing, beep and record this greeting
	Hangup bool
}

type menu struct {
	svc    Mailboxes
	number string
	state  menuState
	buf    []rune
	tries  int
	idle   int
	newPIN string

	enteredMailbox bool // the caller typed the mailbox number, so a failed login asks for it again

	// msgs is the folder as listed when it was opened; a message keeps its number (position
	// + 1) while the caller moves through it, and one deleted or saved out of the folder is
	// marked gone and skipped rather than removed, so the next one is not renumbered.
	folder voicemail.Folder
	msgs   []voicemail.Message
	gone   []bool
	idx    int
}

// newMenu starts at the PIN prompt when the mailbox is known (own number, or the access
// number called from a mailbox's number) and at the mailbox prompt otherwise.
func newMenu(svc Mailboxes, number string) *menu {
	m := &menu{svc: svc, number: number, state: stPIN}
	if number == "" {
		m.state = stMailbox
	}
	return m
}

func items(names ...string) []item {
	out := make([]item, len(names))
	for i, n := range names {
		out[i] = item{Prompt: n}
	}
	return out
}

func say(names ...string) out { return out{Play: items(names...)} }

func (m *menu) start() out {
	if m.state == stMailbox {
		return say("enter-mailbox")
	}
	return say("enter-pin")
}

// secret reports whether keys pressed now are a PIN being typed.
func (m *menu) secret() bool {
	return m.state == stPIN || m.state == stNewPIN || m.state == stConfirmPIN
}

// key handles one key press.
func (m *menu) key(ctx context.Context, k rune) out {
	m.idle = 0
	switch m.state {
	case stMailbox, stPIN, stNewPIN, stConfirmPIN:
		if k == '#' {
			return m.submit(ctx)
		}
		if unicode.IsDigit(k) && len(m.buf) < 20 {
			m.buf = append(m.buf, k)
		}
		return out{}
	case stMain:
		return m.mainKey(ctx, k)
	case stMessage:
		return m.messageKey(ctx, k)
	case stOptions:
		return m.optionsKey(k)
	}
	return out{Hangup: true}
}

// timeout handles no key within the digit timeout: entry ends as if '#' was pressed, menus
// repeat, and a silent caller is eventually hung up on.
func (m *menu) timeout(ctx context.Context) out {
	switch m.state {
	case stMailbox, stPIN, stNewPIN, stConfirmPIN:
		if len(m.buf) > 0 {
			return m.submit(ctx)
		}
	}
	m.idle++
	if m.idle >= maxTimeouts {
		m.state = stDone
		return out{Play: items("goodbye"), Hangup: true}
	}
	return m.repeat()
}

// recorded stores a greeting recorded by phone.
func (m *menu) recorded(ctx context.Context, kind voicemail.GreetingKind, wav []byte) out {
	m.state = stOptions
	if wav == nil {
		return say("options-menu")
	}
	if err := m.svc.PutGreeting(ctx, m.number, kind, wav); err != nil {
		return say("invalid", "options-menu")
	}
	return say("greeting-saved", "options-menu")
}

func (m *menu) repeat() out {
	switch m.state {
	case stMailbox:
		return say("enter-mailbox")
	case stPIN:
		return say("enter-pin")
	case stNewPIN:
		return say("new-pin")
	case stConfirmPIN:
		return say("confirm-pin")
	case stMain:
		return say("main-menu")
	case stMessage:
		return say("message-menu")
	case stOptions:
		return say("options-menu")
	}
	return out{Hangup: true}
}

func (m *menu) submit(ctx context.Context) out {
	entry := string(m.buf)
	m.buf = m.buf[:0]
	switch m.state {
	case stMailbox:
		if entry == "" {
			return say("enter-mailbox")
		}
		// Ask for the PIN whether or not the mailbox exists, so callers cannot probe numbers.
		m.number, m.state, m.enteredMailbox = entry, stPIN, true
		return say("enter-pin")
	case stPIN:
		return m.login(ctx, entry)
	case stNewPIN:
		if len(entry) < 4 || len(entry) > 10 {
			return say("pin-invalid", "new-pin")
		}
		m.newPIN, m.state = entry, stConfirmPIN
		return say("confirm-pin")
	case stConfirmPIN:
		m.state = stOptions
		if entry != m.newPIN {
			return say("pin-mismatch", "options-menu")
		}
		if err := m.svc.ChangePIN(ctx, m.number, entry); err != nil {
			return say("pin-invalid", "options-menu")
		}
		return say("pin-changed", "options-menu")
	}
	return out{}
}

func (m *menu) login(ctx context.Context, pin string) out {
	err := m.svc.Login(ctx, m.number, pin)
	switch {
	case err == nil:
		m.state = stMain
		return m.intro(ctx)
	case errors.Is(err, voicemail.ErrLocked):
		m.state = stDone
		return out{Play: items("locked"), Hangup: true}
	case errors.Is(err, voicemail.ErrThrottled):
		// This caller must wait after wrong PINs; the mailbox is not locked.
		m.state = stDone
		return out{Play: items("bad-pin", "goodbye"), Hangup: true}
	case errors.Is(err, voicemail.ErrBadPIN), errors.Is(err, voicemail.ErrNotFound):
		m.tries++
		if m.tries >= maxLoginAttempts {
			m.state = stDone
			return out{Play: items("bad-pin", "goodbye"), Hangup: true}
		}
		if m.enteredMailbox {
			m.state = stMailbox
			return say("bad-pin", "enter-mailbox")
		}
		return say("bad-pin", "enter-pin")
	}
	m.state = stDone
	return out{Play: items("goodbye"), Hangup: true}
}

func (m *menu) intro(ctx context.Context) out {
	newMsgs, _ := m.svc.Messages(ctx, m.number, voicemail.FolderNew)
	saved, _ := m.svc.Messages(ctx, m.number, voicemail.FolderSaved)
	p := []string{"you-have"}
	p = append(p, number(len(newMsgs))...)
	p = append(p, "new-messages")
	p = append(p, number(len(saved))...)
	p = append(p, "saved-messages", "main-menu")
	return say(p...)
}

// number spells n digit by digit with the digit prompts.
func number(n int) []string {
	var out []string
	for _, d := range strconv.Itoa(n) {
		out = append(out, "digit-"+string(d))
	}
	return out
}

func (m *menu) mainKey(ctx context.Context, k rune) out {
	switch k {
	case '1', '2':
		m.folder = voicemail.FolderNew
		if k == '2' {
			m.folder = voicemail.FolderSaved
		}
		msgs, err := m.svc.Messages(ctx, m.number, m.folder)
		if err != nil || len(msgs) == 0 {
			return say("no-messages", "main-menu")
		}
		m.msgs, m.gone, m.idx, m.state = msgs, make([]bool, len(msgs)), 0, stMessage
		return m.playCurrent(ctx)
	case '0':
		m.state = stOptions
		return say("options-menu")
	case '*':
		return say("main-menu", "help")
	case '#':
		m.state = stDone
		return out{Play: items("goodbye"), Hangup: true}
	}
	return say("invalid", "main-menu")
}

// playCurrent plays the current message and marks it heard.
func (m *menu) playCurrent(ctx context.Context) out {
	msg := m.msgs[m.idx]
	if !msg.Heard {
		heard := true
		if upd, err := m.svc.UpdateMessage(ctx, m.number, msg.ID, voicemail.MessageUpdate{Heard: &heard}); err == nil {
			m.msgs[m.idx] = upd
		}
	}
	play := items(append([]string{"message"}, number(m.idx+1)...)...)
	play = append(play, item{Message: &msg}, item{Prompt: "message-menu"})
	return out{Play: play}
}

func (m *menu) messageKey(ctx context.Context, k rune) out {
	msg := m.msgs[m.idx]
	switch k {
	case '4':
		prev := m.idx - 1
		for prev >= 0 && m.gone[prev] {
			prev--
		}
		if prev < 0 {
			return say("first-message", "message-menu")
		}
		m.idx = prev
		return m.playCurrent(ctx)
	case '5':
		return m.playCurrent(ctx)
	case '6':
		return m.next(ctx, nil)
	case '7':
		if err := m.svc.DeleteMessage(ctx, m.number, msg.ID); err != nil {
			return say("invalid", "message-menu")
		}
		m.gone[m.idx] = true
		return m.next(ctx, []string{"deleted"})
	case '9':
		saved := voicemail.FolderSaved
		if _, err := m.svc.UpdateMessage(ctx, m.number, msg.ID, voicemail.MessageUpdate{Folder: &saved}); err != nil {
			return say("invalid", "message-menu")
		}
		if m.folder == voicemail.FolderNew {
			m.gone[m.idx] = true
		}
		return m.next(ctx, []string{"saved"})
	case '*':
		return say("help", "message-menu")
	case '#':
		m.state = stMain
		return say("main-menu")
	}
	return say("invalid", "message-menu")
}

// next moves to the following message still in the folder, or back to the main menu after
// the last one.
func (m *menu) next(ctx context.Context, before []string) out {
	n := m.idx + 1
	for n < len(m.msgs) && m.gone[n] {
		n++
	}
	if n >= len(m.msgs) {
		m.state = stMain
		return say(append(before, "no-more", "main-menu")...)
	}
	m.idx = n
	o := m.playCurrent(ctx)
	o.Play = append(items(before...), o.Play...)
	return o
}

func (m *menu) optionsKey(k rune) out {
	switch k {
	case '1', '2', '3', '4':
		kind := voicemail.GreetingKinds[k-'1']
		return out{Play: items("record-greeting"), Record: kind}
	case '5':
		m.state = stNewPIN
		return say("new-pin")
	case '*', '#':
		m.state = stMain
		return say("main-menu")
	}
	return say("invalid", "options-menu")
}
