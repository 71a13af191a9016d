package voicemail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
	"github.com/voicemail-platform/voicemail/app/internal/crdt"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/contract"
)

var languageRe = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

// MaxMessageSecondsLimit is the largest maxMessageSeconds a mailbox may have.
const MaxMessageSecondsLimit = maxMaxMessageSeconds

const (
	maxMaxMessageSeconds = 3600
	maxMaxMessages       = 10000
	maxDisplayName       = 100
)

func checkSettings(displayName, language string, maxSec, maxMsgs int, n Notification) error {
	switch {
	case len(displayName) > maxDisplayName:
		return fmt.Errorf("%w: displayName longer than %d bytes", ErrInvalid, maxDisplayName)
	case strings.ContainsAny(displayName, "\r\n\x00"):
		return fmt.Errorf("%w: displayName contains control characters", ErrInvalid)
	case !languageRe.MatchString(language):
		return fmt.Errorf("%w: language %q is not a BCP 47 tag like en or de-CH", ErrInvalid, language)
	case maxSec < 1 || maxSec > maxMaxMessageSeconds:
		return fmt.Errorf("%w: maxMessageSeconds must be 1-%d", ErrInvalid, maxMaxMessageSeconds)
	case maxMsgs < 1 || maxMsgs > maxMaxMessages:
		return fmt.Errorf("%w: maxMessages must be 1-%d", ErrInvalid, maxMaxMessages)
	case n.MWITarget != "" && !strings.HasPrefix(n.MWITarget, "sip:") && !strings.HasPrefix(n.MWITarget, "sips:"):
		return fmt.Errorf("%w: notify.mwiTarget must be a sip: or sips: URI", ErrInvalid)
	case len(n.MWITarget) > 256 || strings.ContainsAny(n.MWITarget, " \r\n"):
		return fmt.Errorf("%w: notify.mwiTarget is malformed", ErrInvalid)
	}
	if n.Email != "" {
		if _, err := mail.ParseAddress(n.Email); err != nil || len(n.Email) > 256 {
			return fmt.Errorf("%w: notify.email is not an address", ErrInvalid)
		}
	}
	return nil
}

// checkMWITarget refuses an MWI target outside the operator's MWI domains.
func (s *Service) checkMWITarget(target string) error {
	if target == "" || contract.MWITargetAllowed(target, s.opt.MWIDomains) {
		return nil
	}
	if len(s.opt.MWIDomains) == 0 {
		return fmt.Errorf("%w: notify.mwiTarget: this platform sends no message-waiting NOTIFYs to mailbox-chosen addresses", ErrInvalid)
	}
	return fmt.Errorf("%w: notify.mwiTarget must name a host of %s", ErrInvalid, strings.Join(s.opt.MWIDomains, ", "))
}

// Provision creates a mailbox or replaces the settings of an existing one (greetings and
// messages are kept). Zero limits and an empty language take the defaults.
func (s *Service) Provision(ctx context.Context, number string, req ProvisionRequest) (Mailbox, bool, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return Mailbox{}, false, nerr
	}
	if err := checkNumber(number); err != nil {
		return Mailbox{}, false, err
	}
	if err := s.checkPINPolicy(number, req.PIN); err != nil {
		return Mailbox{}, false, err
	}
	if req.Language == "" {
		req.Language = DefaultLanguage
	}
	if req.MaxMessageSeconds == 0 {
		req.MaxMessageSeconds = DefaultMaxMessageSeconds
	}
	if req.MaxMessages == 0 {
		req.MaxMessages = DefaultMaxMessages
	}
	if err := checkSettings(req.DisplayName, req.Language, req.MaxMessageSeconds, req.MaxMessages, req.Notify); err != nil {
		return Mailbox{}, false, err
	}
	if err := s.checkMWITarget(req.Notify.MWITarget); err != nil {
		return Mailbox{}, false, err
	}
	hash, err := hashPIN(req.PIN)
	if err != nil {
		return Mailbox{}, false, err
	}
	doc, err := s.rows.load(ctx, number)
	if err != nil {
		return Mailbox{}, false, err
	}
	if req.Notify.MWITarget != "" {
		if err := s.indexMWI(ctx, number); err != nil {
			return Mailbox{}, false, err
		}
	}
	created := !doc.Mailbox.Exists()
	ts := s.clock.Now()
	err = update(ctx, s.rows, number, entBox, func(m *crdt.Mailbox) error {
		if created {
			m.Provisioned = crdt.Max(m.Provisioned, ts)
			m.ActiveGreeting.Set(string(GreetingUnavailable), ts)
			// A number provisioned again starts without the greetings of its previous life.
			for kind, g := range doc.Mailbox.Greetings {
				if g.V != "" {
					if m.Greetings == nil {
						m.Greetings = map[string]crdt.Register[string]{}
					}
					r := m.Greetings[kind]
					r.Set("", ts)
					m.Greetings[kind] = r
				}
			}
		}
		m.DisplayName.Set(req.DisplayName, ts)
		m.Language.Set(req.Language, ts)
		m.MaxMessageSeconds.Set(req.MaxMessageSeconds, ts)
		m.MaxMessages.Set(req.MaxMessages, ts)
		m.MWITarget.Set(req.Notify.MWITarget, ts)
		m.Email.Set(req.Notify.Email, ts)
		m.PINHash.Set(hash, ts)
		return nil
	})
	if err != nil {
		return Mailbox{}, false, err
	}
	mb, err := s.Mailbox(ctx, number)
	if err != nil {
		return Mailbox{}, false, err
	}
	s.publish(ctx, number, EventChanged, "")
	return mb, created, nil
}

// Mailbox returns the merged settings of a mailbox.
func (s *Service) Mailbox(ctx context.Context, number string) (Mailbox, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return Mailbox{}, nerr
	}
	doc, err := s.mailboxDoc(ctx, number)
	if err != nil {
		return Mailbox{}, err
	}
	return toMailbox(number, doc.Mailbox), nil
}

// Configure changes the fields set in p.
func (s *Service) Configure(ctx context.Context, number string, p MailboxPatch) (Mailbox, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return Mailbox{}, nerr
	}
	doc, err := s.mailboxDoc(ctx, number)
	if err != nil {
		return Mailbox{}, err
	}
	cur := toMailbox(number, doc.Mailbox)
	if p.DisplayName != nil {
		cur.DisplayName = *p.DisplayName
	}
	if p.Language != nil {
		cur.Language = *p.Language
	}
	if p.MaxMessageSeconds != nil {
		cur.MaxMessageSeconds = *p.MaxMessageSeconds
	}
	if p.MaxMessages != nil {
		cur.MaxMessages = *p.MaxMessages
	}
	if p.Notify != nil {
		// Only a target being set is checked: a mailbox whose stored target predates the
		// operator's list can still change its other settings (and gets no NOTIFY there).
		if p.Notify.MWITarget != cur.Notify.MWITarget {
			if err := s.checkMWITarget(p.Notify.MWITarget); err != nil {
				return Mailbox{}, err
			}
		}
		cur.Notify = *p.Notify
	}
	if p.ActiveGreeting != nil && !p.ActiveGreeting.Valid() {
		return Mailbox{}, fmt.Errorf("%w: activeGreeting %q is not one of unavailable, busy, name, temporary", ErrInvalid, *p.ActiveGreeting)
	}
	if err := checkSettings(cur.DisplayName, cur.Language, cur.MaxMessageSeconds, cur.MaxMessages, cur.Notify); err != nil {
		return Mailbox{}, err
	}
	var hash string
	if p.PIN != nil {
		if err := s.checkPINPolicy(number, *p.PIN); err != nil {
			return Mailbox{}, err
		}
		if hash, err = hashPIN(*p.PIN); err != nil {
			return Mailbox{}, err
		}
	}
	if p.Notify != nil && p.Notify.MWITarget != "" {
		if err := s.indexMWI(ctx, number); err != nil {
			return Mailbox{}, err
		}
	}
	ts := s.clock.Now()
	err = update(ctx, s.rows, number, entBox, func(m *crdt.Mailbox) error {
		if p.DisplayName != nil {
			m.DisplayName.Set(*p.DisplayName, ts)
		}
		if p.Language != nil {
			m.Language.Set(*p.Language, ts)
		}
		if p.ActiveGreeting != nil {
			m.ActiveGreeting.Set(string(*p.ActiveGreeting), ts)
		}
		if p.MaxMessageSeconds != nil {
			m.MaxMessageSeconds.Set(*p.MaxMessageSeconds, ts)
		}
		if p.MaxMessages != nil {
			m.MaxMessages.Set(*p.MaxMessages, ts)
		}
		if p.Notify != nil {
			m.MWITarget.Set(p.Notify.MWITarget, ts)
			m.Email.Set(p.Notify.Email, ts)
		}
		if hash != "" {
			m.PINHash.Set(hash, ts)
		}
		return nil
	})
	if err != nil {
		return Mailbox{}, err
	}
	s.publish(ctx, number, EventChanged, "")
	return s.Mailbox(ctx, number)
}

// mwiPartition indexes the mailboxes that have (or had) an MWI target: one row per mailbox and
// region, so the SIP server finds them after a restart without scanning every mailbox. A row is
// only a hint, written before the target itself and never removed; MWITargets checks each
// mailbox. Mailbox numbers are digits, so the partition cannot clash with a mailbox.
const mwiPartition = "mwi"

func (s *Service) indexMWI(ctx context.Context, number string) error {
	_, err := s.b.Meta.Insert(ctx, mwiPartition, store.RowKey(number, s.region), []byte("{}"))
	if err != nil && !errors.Is(err, store.ErrExists) {
		return wrapStore("index mwi target", err)
	}
	return nil
}

// MWITargets lists, sorted, the numbers of the mailboxes that have an MWI target (in any
// region's view that has replicated here), for unsolicited MWI after a restart.
func (s *Service) MWITargets(ctx context.Context) ([]string, error) {
	rows, err := s.b.Meta.List(ctx, mwiPartition, "")
	if err != nil {
		return nil, wrapStore("list mwi targets", err)
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range rows {
		number, _ := store.SplitRowKey(r.Key)
		if seen[number] || checkNumber(number) != nil {
			continue
		}
		seen[number] = true
		doc, err := s.rows.load(ctx, number)
		if err != nil {
			return nil, err
		}
		if doc.Mailbox.Exists() && doc.Mailbox.MWITarget.V != "" {
			out = append(out, number)
		}
	}
	slices.Sort(out)
	return out, nil
}

// RemoveMailbox removes a mailbox with its messages and greetings. The removal is a tombstone
// that wins over everything written before it in any region; provisioning again starts empty.
func (s *Service) RemoveMailbox(ctx context.Context, number string) error {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return nerr
	}
	doc, err := s.mailboxDoc(ctx, number)
	if err != nil {
		return err
	}
	ts := s.clock.Now()
	if err := update(ctx, s.rows, number, entBox, func(m *crdt.Mailbox) error {
		m.Removed = crdt.Max(m.Removed, ts)
		return nil
	}); err != nil {
		return err
	}
	s.cache.forget(number)
	// Audio is unreachable now; deleting it is housekeeping, so failures are only logged.
	for _, id := range doc.VisibleIDs() {
		if m := toMessage(number, id, doc.Messages[id]); m.AudioRef != "" {
			s.deleteAudio(ctx, m.AudioRegion, m.AudioRef)
		}
	}
	for _, g := range doc.Mailbox.Greetings {
		s.deleteAudio(ctx, greetingOrigin(g), g.V)
	}
	s.publish(ctx, number, EventChanged, "")
	return nil
}

func (s *Service) deleteBlob(ctx context.Context, name string) { s.deleteAudio(ctx, s.region, name) }

// deleteAudio deletes a blob where origin stored it: in this region's audio container, or
// at origin (replicas are read-only); failures are only logged.
func (s *Service) deleteAudio(ctx context.Context, origin, name string) {
	if name == "" {
		return
	}
	var err error
	if origin == "" || origin == s.region || s.b.Regions == nil {
		err = s.b.Blobs.Delete(ctx, name)
	} else {
		err = s.b.Regions.Delete(ctx, origin, name)
	}
	if err != nil {
		s.log.Warn("delete blob", "blob", name, "origin", origin, "err", err)
	}
}

// readAudio reads a blob that origin stored: locally when this region stored it, else
// through Regions (this region's replica, then origin, then other replicas).
func (s *Service) readAudio(ctx context.Context, origin, name string) ([]byte, error) {
	if origin == "" || origin == s.region || s.b.Regions == nil {
		return s.b.Blobs.Get(ctx, name)
	}
	return s.b.Regions.Get(ctx, origin, name)
}

// greetingOrigin is the region that stored a greeting: its register's clock node is
// "<region>/<stamp>".
func greetingOrigin(r crdt.Register[string]) string {
	region, _, _ := strings.Cut(r.TS.Node, "/")
	return region
}

// Login checks a PIN. Wrong PINs cost the source that sent them (see WithSource): after a few,
// it must wait, longer after each (Dovecot's auth penalty); its parallel attempts are evaluated
// one at a time. The mailbox itself is never locked by wrong PINs, so nobody can lock its owner
// out; only when many sources together keep failing does the mailbox get a slow lane, whose
// wait is bounded. An operator lock (Lock) is reported only to whoever knows the PIN.
//
// An unknown or malformed number fails exactly like a wrong PIN, in the same time: every
// failure is answered no sooner than the policy's FailureDelay after the attempt began.
func (s *Service) Login(ctx context.Context, number, pin string) error {
	start := s.now()
	done, err := s.penalties.begin(ctx, sourceOf(ctx))
	if err != nil {
		return err
	}
	err = s.login(ctx, number, pin)
	failed := errors.Is(err, ErrBadPIN)
	if failed {
		// Equal timing for every failure: known or unknown number, counted or not.
		if wait := s.auth.FailureDelay - s.now().Sub(start); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
	}
	done(failed)
	return err
}

func (s *Service) login(ctx context.Context, number, pin string) error {
	number, err := s.Normalize(number)
	if err != nil {
		verifyPIN(s.dummyHash, pin)
		return fmt.Errorf("mailbox %s: %w", number, ErrBadPIN)
	}
	unlock, err := s.loginMu.lock(ctx, number)
	if err != nil {
		return err
	}
	defer unlock()
	doc, err := s.rows.load(ctx, number)
	if err != nil {
		return err
	}
	if !doc.Mailbox.Exists() {
		verifyPIN(s.dummyHash, pin)
		return fmt.Errorf("mailbox %s: %w", number, ErrBadPIN)
	}
	s.cache.remember(number, doc)
	now := s.now()
	own := doc.Locks[s.region]
	window := s.auth.FailureWindow.Milliseconds()
	if own.Failures >= s.auth.MailboxFailures && now.UnixMilli()-own.Last <= window && own.Next > now.UnixMilli() {
		return &ThrottledError{RetryAfter: time.Duration(own.Next-now.UnixMilli()) * time.Millisecond}
	}
	if verifyPIN(doc.Mailbox.PINHash.V, pin) {
		if own.Failures > 0 {
			ts := s.clock.Now()
			if err := update(ctx, s.rows, number, entLock, func(l *crdt.Lock) error {
				*l = crdt.Lock{TS: ts, LockedUntil: l.LockedUntil}
				return nil
			}); err != nil {
				s.log.Warn("reset PIN failures", "mailbox", number, "err", err)
			}
		}
		if until := doc.LockedUntil(); until > now.UnixMilli() {
			return fmt.Errorf("mailbox %s locked by the operator until %s: %w", number, time.UnixMilli(until).UTC().Format(time.RFC3339), ErrLocked)
		}
		return nil
	}
	ts := s.clock.Now()
	err = update(ctx, s.rows, number, entLock, func(l *crdt.Lock) error {
		if now.UnixMilli()-l.Last > window {
			l.Failures = 0
		}
		l.Failures++
		l.Last, l.TS = now.UnixMilli(), ts
		if over := l.Failures - s.auth.MailboxFailures; over >= 0 {
			l.Next = now.Add(backoff(over+1, s.auth.MailboxDelayMax)).UnixMilli()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return fmt.Errorf("mailbox %s: %w", number, ErrBadPIN)
}

// Lock is the operator's lock: until then (zero time: unlock) the mailbox refuses logins with
// ErrLocked, in every region and on every interface, even with the right PIN.
func (s *Service) Lock(ctx context.Context, number string, until time.Time) error {
	number, err := s.Normalize(number)
	if err != nil {
		return err
	}
	if _, err := s.mailboxDoc(ctx, number); err != nil {
		return err
	}
	ts := s.clock.Now()
	return update(ctx, s.rows, number, entLock, func(l *crdt.Lock) error {
		l.LockedUntil, l.TS = 0, ts
		if !until.IsZero() {
			l.LockedUntil = until.UnixMilli()
		}
		return nil
	})
}

// ChangePIN sets a new PIN (the caller has authenticated the subscriber).
func (s *Service) ChangePIN(ctx context.Context, number, newPIN string) error {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return nerr
	}
	if err := s.checkPINPolicy(number, newPIN); err != nil {
		return err
	}
	_, err := s.Configure(ctx, number, MailboxPatch{PIN: &newPIN})
	return err
}

func checkKind(kind GreetingKind) error {
	if !kind.Valid() {
		return fmt.Errorf("%w: greeting kind %q is not one of unavailable, busy, name, temporary", ErrInvalid, kind)
	}
	return nil
}

// PutGreeting records a greeting. Each recording gets its own blob so the register only ever
// points at complete audio.
func (s *Service) PutGreeting(ctx context.Context, number string, kind GreetingKind, wav []byte) error {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return nerr
	}
	if err := checkKind(kind); err != nil {
		return err
	}
	w, err := audio.Parse(wav)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadAudio, err)
	}
	if w.Duration() > MaxGreetingSeconds*time.Second {
		return fmt.Errorf("%w: greeting of %s exceeds %d s", ErrTooLong, w.Duration(), MaxGreetingSeconds)
	}
	doc, err := s.mailboxDoc(ctx, number)
	if err != nil {
		return err
	}
	ts := s.clock.Now()
	name := fmt.Sprintf("greetings/%s/%s-%013d-%d-%s.wav", number, kind, ts.Wall, ts.Logical, strings.ReplaceAll(ts.Node, "/", "_"))
	if err := s.b.Blobs.Put(ctx, name, wav); err != nil {
		return wrapStore("store greeting audio", err)
	}
	if err := update(ctx, s.rows, number, entBox, func(m *crdt.Mailbox) error {
		if m.Greetings == nil {
			m.Greetings = map[string]crdt.Register[string]{}
		}
		r := m.Greetings[string(kind)]
		r.Set(name, ts)
		m.Greetings[string(kind)] = r
		return nil
	}); err != nil {
		s.deleteBlob(ctx, name)
		return err
	}
	old := doc.Mailbox.Greetings[string(kind)]
	s.deleteAudio(ctx, greetingOrigin(old), old.V)
	s.publish(ctx, number, EventChanged, "")
	return nil
}

// Greeting returns a recorded greeting's WAV, or ErrNotFound.
func (s *Service) Greeting(ctx context.Context, number string, kind GreetingKind) ([]byte, error) {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return nil, nerr
	}
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	doc, err := s.mailboxDoc(ctx, number)
	if err != nil {
		return nil, err
	}
	g := doc.Mailbox.Greetings[string(kind)]
	if g.V == "" {
		return nil, fmt.Errorf("greeting %s of %s: %w", kind, number, ErrNotFound)
	}
	b, err := s.readAudio(ctx, greetingOrigin(g), g.V)
	if err != nil {
		return nil, wrapStore("read greeting audio", err)
	}
	return b, nil
}

// DeleteGreeting removes a recorded greeting (ErrNotFound if none).
func (s *Service) DeleteGreeting(ctx context.Context, number string, kind GreetingKind) error {
	number, nerr := s.Normalize(number)
	if nerr != nil {
		return nerr
	}
	if err := checkKind(kind); err != nil {
		return err
	}
	doc, err := s.mailboxDoc(ctx, number)
	if err != nil {
		return err
	}
	oldReg := doc.Mailbox.Greetings[string(kind)]
	old := oldReg.V
	if old == "" {
		return fmt.Errorf("greeting %s of %s: %w", kind, number, ErrNotFound)
	}
	ts := s.clock.Now()
	if err := update(ctx, s.rows, number, entBox, func(m *crdt.Mailbox) error {
		if m.Greetings == nil {
			m.Greetings = map[string]crdt.Register[string]{}
		}
		r := m.Greetings[string(kind)]
		r.Set("", ts)
		m.Greetings[string(kind)] = r
		return nil
	}); err != nil {
		return err
	}
	s.deleteAudio(ctx, greetingOrigin(oldReg), old)
	s.publish(ctx, number, EventChanged, "")
	return nil
}
