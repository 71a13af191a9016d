package sip

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// deposit runs a caller leaving a message: greeting, beep, recording, storing.
func (c *call) deposit(mb voicemail.Mailbox, full bool, r routing, g greeting) {
	if full {
		c.say(false, "mailbox-full")
		return
	}
	if k, _ := c.playGreeting(mb.Number, g); k == '*' {
		// The owner calling their own forwarded line: '*' during the greeting logs in.
		c.log.Info("login from greeting", "mailbox", mb.Number)
		c.retrieve(mb.Number)
		return
	}
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

// greeting is what a deposit call plays before the beep: a stored greeting already in the
// call's codec, or the name of a built-in prompt.
type greeting struct {
	Kind    voicemail.GreetingKind // recorded greeting to play, if any
	WAV     audio.WAV
	Builtin string // prompt to play (after the recorded name, when Kind is name)
}

// chooseGreeting picks the mailbox's recorded greeting for the cause (busy for 486; else a
// recorded temporary greeting overrides the active one, normally unavailable), else the
// recorded name followed by a built-in "is not available"/"is busy", else the built-in prompt. It runs before the call is answered so a slow store delays ringing, not
// the beep.
func (s *Server) chooseGreeting(ctx context.Context, log *slog.Logger, number string, cause Cause,
	active voicemail.GreetingKind) greeting {
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
	for _, k := range kinds {
		wav, err := s.svc.Greeting(ctx, number, k)
		if err != nil {
			if !isNotFound(err) {
				log.Warn("greeting unavailable, using built-in", "kind", k, "error", err)
			}
			continue
		}
		w, err := audio.Parse(wav)
		if err != nil {
			log.Warn("stored greeting unplayable, using built-in", "kind", k, "error", err)
			continue
		}
		return greeting{Kind: k, WAV: w}
	}
	// No greeting for the case, but a recorded name: "<name> is not available / is busy".
	if wav, err := s.svc.Greeting(ctx, number, voicemail.GreetingName); err == nil {
		if w, err := audio.Parse(wav); err == nil {
			return greeting{Kind: voicemail.GreetingName, WAV: w, Builtin: "is-" + builtin}
		}
	}
	return greeting{Builtin: builtin}
}

// playGreeting plays the chosen greeting (a recording, a built-in prompt, or a recorded name
// followed by a prompt); any key skips to the beep and is returned.
func (c *call) playGreeting(number string, g greeting) (rune, bool) {
	if g.Kind != "" {
		c.log.Debug("play", "greeting", string(g.Kind), "mailbox", number)
		if k, pressed := c.playSamples(audio.Convert(g.WAV, c.m.codec.Encoding), true); pressed || c.ended() {
			return k, pressed
		}
	}
	if g.Builtin != "" {
		return c.say(true, g.Builtin)
	}
	return 0, false
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
	if errors.Is(err, voicemail.ErrNotFound) {
		c.log.Info("recording for an unknown mailbox dropped", "mailbox", number)
		return false
	}
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
