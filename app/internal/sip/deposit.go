package sip

import (
	"errors"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// deposit runs a caller leaving a message: greeting, beep, recording, storing.
func (c *call) deposit(mb voicemail.Mailbox, full bool, r routing) {
	if full {
		c.say(false, "mailbox-full")
		return
	}
	c.playGreeting(mb.Number, r.Cause, mb.ActiveGreeting)
	if c.ended() {
		return
	}
	c.beep()
	maxSec := mb.MaxMessageSeconds
	if maxSec <= 0 {
		maxSec = c.s.cfg.MaxMessageSeconds
	}
	data, reason := c.record(time.Duration(maxSec) * time.Second)
	stored := c.store(mb.Number, r.Caller, data)
	if c.ended() || reason == stopNoMedia {
		return
	}
	if stored {
		c.say(false, "message-saved")
	} else {
		c.say(false, "goodbye")
	}
}

// playGreeting plays the mailbox's recorded greeting for the cause (a recorded temporary
// greeting overrides the unavailable one), else the built-in prompt. Any key skips to the beep.
func (c *call) playGreeting(number string, cause Cause, active voicemail.GreetingKind) {
	kinds := []voicemail.GreetingKind{voicemail.GreetingBusy}
	builtin := "busy"
	if cause != CauseBusy {
		builtin = "unavailable"
		kinds = []voicemail.GreetingKind{voicemail.GreetingTemporary}
		if active != "" && active != voicemail.GreetingTemporary {
			kinds = append(kinds, active)
		}
		if active != voicemail.GreetingUnavailable {
			kinds = append(kinds, voicemail.GreetingUnavailable)
		}
	}
	ctx, cancel := c.s.deadline(5 * time.Second)
	defer cancel()
	for _, k := range kinds {
		wav, err := c.s.svc.Greeting(ctx, number, k)
		if err != nil {
			if !isNotFound(err) {
				c.log.Warn("greeting unavailable, using built-in", "kind", k, "error", err)
			}
			continue
		}
		c.log.Debug("play", "greeting", string(k), "mailbox", number)
		if _, _, err := c.playGreetingWAV(wav); err != nil {
			c.log.Warn("stored greeting unplayable, using built-in", "kind", k, "error", err)
			continue
		}
		return
	}
	c.playBuiltinGreeting(builtin)
}

// playGreetingWAV plays a stored greeting; any key skips to the beep.
func (c *call) playGreetingWAV(wav []byte) (rune, bool, error) { return c.playWAV(wav, true) }

func (c *call) playBuiltinGreeting(name string) {
	c.say(true, name)
}

// store deposits the recording as a WAV in the call's codec. An empty recording (the caller
// hung up during the greeting) stores nothing.
func (c *call) store(number, caller string, data []byte) bool {
	if len(data) == 0 {
		c.log.Info("nothing recorded, no message", "mailbox", number)
		return false
	}
	ctx, cancel := c.s.deadline(30 * time.Second)
	defer cancel()
	msg, err := c.s.svc.Deposit(ctx, number, voicemail.Deposit{
		Caller:   caller,
		Audio:    audio.Encode(c.m.codec.Encoding, data),
		Received: time.Now().UTC(),
	})
	if err != nil {
		level := c.log.Error
		if errors.Is(err, voicemail.ErrMailboxFull) {
			level = c.log.Warn
		}
		level("deposit failed", "mailbox", number, "bytes", len(data), "error", err)
		return false
	}
	c.log.Info("message stored", "mailbox", number, "id", msg.ID, "bytes", len(data),
		"seconds", float64(len(data))/audio.SampleRate)
	return true
}
