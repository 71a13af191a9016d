package sip

import (
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
)

// retrieve drives the menu state machine with the call's media.
func (c *call) retrieve(number string) {
	m := newMenu(c.s.svc, number)
	ctx := c.ctx
	o := m.start()
	for !c.ended() {
		k, pressed := c.playItems(m.number, o.Play, !o.Hangup)
		if o.Hangup || c.ended() {
			return
		}
		if kind := o.Record; kind != "" {
			c.beep()
			data, _ := c.record(time.Duration(c.s.cfg.MaxGreetingSeconds) * time.Second)
			var wav []byte
			if len(data) > 0 {
				wav = audio.Encode(c.m.codec.Encoding, data)
			}
			if c.ended() && wav == nil {
				return
			}
			sctx, cancel := c.s.deadline(10 * time.Second)
			o = m.recorded(sctx, kind, wav)
			cancel()
			c.log.Info("greeting recorded", "kind", string(kind), "bytes", len(data))
			continue
		}
		if !pressed {
			k, pressed = c.m.key(ctx, c.s.cfg.DigitTimeout)
		}
		if c.ended() {
			return
		}
		if pressed {
			// Keys typed into a PIN prompt are the PIN: they are never logged, at any level.
			if m.secret() {
				c.log.Debug("key", "key", "hidden")
			} else {
				c.log.Debug("key", "key", string(k))
			}
			o = m.key(ctx, k)
		} else {
			o = m.timeout(ctx)
		}
	}
}

// playItems plays prompts and messages; a key interrupts (when allowed) and is returned.
func (c *call) playItems(number string, its []item, interrupt bool) (rune, bool) {
	for _, it := range its {
		if it.Message != nil {
			ctx, cancel := c.s.deadline(10 * time.Second)
			wav, err := c.s.svc.Audio(ctx, number, it.Message.ID)
			cancel()
			if err != nil {
				c.log.Warn("message audio", "id", it.Message.ID, "error", err)
				continue
			}
			c.log.Debug("play", "message", it.Message.ID)
			k, ok, err := c.playWAV(wav, interrupt)
			if err != nil {
				c.log.Warn("message audio unplayable", "id", it.Message.ID, "error", err)
			}
			if ok || c.ended() {
				return k, ok
			}
			continue
		}
		if k, ok := c.say(interrupt, it.Prompt); ok || c.ended() {
			return k, ok
		}
	}
	return 0, false
}
