package voicemail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/app/internal/crdt"
	"github.com/voicemail-platform/voicemail/app/internal/store"
)

// Defaults for Options and for mailboxes provisioned without limits.
const (
	DefaultMaxMessageSeconds = 180
	DefaultMaxMessages       = 100
	DefaultLanguage          = "en"
	MaxGreetingSeconds       = 300
	DefaultStoreTimeout      = 2 * time.Second
	// durationGrace tolerates recorders that stop a packet or two after the limit.
	durationGrace = time.Second
)

// Observer receives counts for metrics. Every method must be cheap and safe for concurrent use.
type Observer interface {
	// Deposited counts an accepted deposit; path is "direct" or "queue".
	Deposited(path string)
	// Drained counts queued deposits that reached the store; dropped counts discarded queue
	// messages (health checks, poison messages).
	Drained(stored, dropped int)
}

// Options configure a Service.
type Options struct {
	Backend *store.Backend
	// Region is this region's id; it names the rows this service writes ("<entity>~<region>").
	Region string
	// Node breaks ties between clocks of writers in the same region (default Region); give each
	// stamp its own, for example "<region>/<stamp>".
	Node   string
	Logger *slog.Logger
	// Now is the wall clock (default time.Now).
	Now func() time.Time
	// AllowGuessablePINs accepts PINs like 0000, 1234 or the mailbox number (refused by default).
	AllowGuessablePINs bool
	// Auth is how wrong PINs are paid for (per-source penalty, mailbox slow lane).
	Auth AuthPolicy
	// DrainInterval is how often Run drains the deposit queue (default 2 s); DrainVisibility is
	// how long a received queue message stays hidden from other drainers (default 30 s).
	DrainInterval   time.Duration
	DrainVisibility time.Duration
	// WatchInterval is how often Run polls subscribed mailboxes for changes made by other
	// processes (default 5 s).
	WatchInterval time.Duration
	// StoreTimeout bounds each store call on the deposit path (default 2 s). A store that hangs
	// (a black hole rather than a refused connection) would otherwise hold a deposit for the
	// SDK's per-try timeout and retries; on the deadline the deposit takes the queue path.
	StoreTimeout time.Duration
	Observer     Observer
	// NoticeDelay holds each deposit notification until the message's deposit time is this
	// old: the delay after which IMAP shows a message (contract VOICEMAIL_IMAP_VISIBILITY_DELAY),
	// so a visual voicemail client that syncs on the notice finds the message. Zero sends at once.
	NoticeDelay time.Duration
	// CountryCode (1-3 digits, no leading 0) turns national numbers (leading 0) into
	// international ones in Normalize; empty refuses national numbers.
	CountryCode string
	// MWIDomains are the hosts a mailbox's notify.mwiTarget may name
	// (contract.MWITargetAllowed); empty refuses every target, so no subscriber can make the
	// platform send NOTIFYs to an address of their choosing.
	MWIDomains []string
}

var regionRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// Service is the voicemail use-case layer. Safe for concurrent use.
type Service struct {
	b      *store.Backend
	region string
	clock  *crdt.Clock
	log    *slog.Logger
	now    func() time.Time
	opt    Options

	rows rows // mailbox documents in the metadata store
	// deposits admits deposits into one mailbox one at a time within this process, so the
	// count a deposit checks against maxMessages includes every deposit admitted before it
	// (Dovecot's quota check holds the mailbox lock for the same reason). The region's other
	// processes are seen through the admission row (admit); other regions are not (a
	// cross-region lock would stop deposits whenever a region is cut off).
	deposits keyedMutex
	subs     *subscriptions // event fan-out to IMAP sessions and MWI
	watcher  *watcher       // announces changes other processes made to subscribed mailboxes
	cache    *outageCache   // last view per mailbox, for deposits during a metadata outage
	queue    depositQueue   // the second deposit path

	announcing chan struct{} // bounds notification sends in flight
	held       *heldNotices  // notifications waiting for IMAP visibility

	auth      AuthPolicy
	penalties *penalties
	loginMu   keyedMutex // one PIN evaluation at a time per mailbox
	dummyHash string     // verified against for unknown numbers, so they cost what known ones do
}

// maxAnnouncing deposit notifications may be in flight; beyond that they are dropped.
const maxAnnouncing = 64

// New builds a Service. Call Run to drain the deposit queue in the background.
func New(opt Options) (*Service, error) {
	if opt.Backend == nil || opt.Backend.Meta == nil || opt.Backend.Blobs == nil || opt.Backend.Queue == nil {
		return nil, errors.New("voicemail: backend with metadata, blobs and queue required")
	}
	if !regionRe.MatchString(opt.Region) {
		return nil, fmt.Errorf("voicemail: region %q must match %s", opt.Region, regionRe)
	}
	if opt.Node == "" {
		opt.Node = opt.Region
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	opt.Auth = opt.Auth.withDefaults()
	dummy, err := hashPIN("0000")
	if err != nil {
		return nil, err
	}
	if opt.DrainInterval <= 0 {
		opt.DrainInterval = 2 * time.Second
	}
	if opt.WatchInterval <= 0 {
		opt.WatchInterval = 5 * time.Second
	}
	if opt.DrainVisibility <= 0 {
		opt.DrainVisibility = 30 * time.Second
	}
	if opt.StoreTimeout <= 0 {
		opt.StoreTimeout = DefaultStoreTimeout
	}
	clock := crdt.NewClock(opt.Node, opt.Now)
	rs := rows{meta: opt.Backend.Meta, region: opt.Region, clock: clock}
	subs := newSubscriptions(opt.Logger, opt.Now)
	return &Service{
		b:          opt.Backend,
		region:     opt.Region,
		clock:      clock,
		log:        opt.Logger,
		now:        opt.Now,
		opt:        opt,
		rows:       rs,
		subs:       subs,
		watcher:    &watcher{subs: subs, rows: rs},
		cache:      newOutageCache(),
		queue:      depositQueue{q: opt.Backend.Queue, log: opt.Logger},
		announcing: make(chan struct{}, maxAnnouncing),
		held:       newHeldNotices(opt.Now, opt.NoticeDelay, opt.Logger),
		auth:       opt.Auth,
		penalties:  newPenalties(opt.Auth, opt.Now),
		dummyHash:  dummy,
	}, nil
}

// Region is the region id this service writes as.
func (s *Service) Region() string { return s.region }

// Backend is the storage the service runs on (the health checks probe it).
func (s *Service) Backend() *store.Backend { return s.b }

var numberRe = regexp.MustCompile(`^\+?[0-9]{3,20}$`)

// Normalize returns the one form under which a mailbox number is stored, or ErrInvalid: the
// international number's digits without "+" (E.164, ITU-T E.164 §6), so "+4930111",
// "004930111" (international prefix 00) and "4930111" are one mailbox. A national number
// ("030111": one leading 0, the trunk prefix) takes the operator's country code
// (Options.CountryCode) in place of the 0; without one it is refused, rather than becoming a
// second mailbox of the same line. Every method that takes a number normalizes it first.
func (s *Service) Normalize(number string) (string, error) {
	if err := checkNumber(number); err != nil {
		return number, err
	}
	n := strings.TrimPrefix(number, "+")
	switch {
	case strings.HasPrefix(number, "+"):
	case strings.HasPrefix(n, "00"):
		n = n[2:]
	case strings.HasPrefix(n, "0"):
		if s.opt.CountryCode == "" {
			return number, fmt.Errorf("%w: mailbox number %q is national (leading 0); give it in international form", ErrInvalid, number)
		}
		n = s.opt.CountryCode + n[1:]
	}
	if len(n) < 3 || len(n) > 20 || n[0] == '0' {
		return number, fmt.Errorf("%w: mailbox number %q is not an international number", ErrInvalid, number)
	}
	return n, nil
}

func checkNumber(number string) error {
	if !numberRe.MatchString(number) {
		return fmt.Errorf("%w: mailbox number %q must be 3-20 digits with an optional leading +", ErrInvalid, number)
	}
	return nil
}

// bounded runs one store call under StoreTimeout. When that deadline (and not the caller's)
// ends the call, the error is ErrUnavailable, so callers treat a hung store like a failed one.
func (s *Service) bounded(ctx context.Context, fn func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, s.opt.StoreTimeout)
	defer cancel()
	err := fn(cctx)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: no answer within %s: %w", ErrUnavailable, s.opt.StoreTimeout, err)
	}
	return err
}

func toMailbox(number string, m crdt.Mailbox) Mailbox {
	return Mailbox{
		Number:            number,
		DisplayName:       m.DisplayName.V,
		Language:          m.Language.V,
		ActiveGreeting:    GreetingKind(m.ActiveGreeting.V),
		MaxMessageSeconds: m.MaxMessageSeconds.V,
		MaxMessages:       m.MaxMessages.V,
		Notify:            Notification{MWITarget: m.MWITarget.V, Email: m.Email.V},
		Created:           m.Provisioned.Time(),
	}
}

func toMessage(number, id string, m crdt.Message) Message {
	msg := Message{ID: id, Mailbox: number, Folder: FolderNew, Heard: m.Heard.V}
	if m.Folder.V != "" {
		msg.Folder = Folder(m.Folder.V)
	}
	if m.Tombstoned() {
		msg.Folder = FolderDeleted
	}
	for _, f := range ClientFlags {
		if m.Flags[f].V {
			msg.Flags = append(msg.Flags, f)
		}
	}
	if i := m.Info; i != nil {
		msg.Caller = i.Caller
		msg.Received = time.UnixMilli(i.Received).UTC()
		msg.Duration = time.Duration(i.DurationMs) * time.Millisecond
		msg.DurationMs = i.DurationMs
		msg.Seconds = (i.DurationMs + 500) / 1000
		msg.Size = i.Size
		msg.AudioRef = i.AudioRef
		msg.AudioRegion = i.Origin
		if msg.AudioRegion == "" {
			msg.AudioRegion = MessageRegion(id)
		}
	}
	return msg
}

// mailboxDoc loads a mailbox that must exist.
func (s *Service) mailboxDoc(ctx context.Context, number string) (crdt.Doc, error) {
	if err := checkNumber(number); err != nil {
		return crdt.Doc{}, err
	}
	doc, err := s.rows.load(ctx, number)
	if err != nil {
		return doc, err
	}
	if !doc.Mailbox.Exists() {
		return doc, fmt.Errorf("mailbox %s: %w", number, ErrNotFound)
	}
	s.cache.remember(number, doc)
	return doc, nil
}

func summary(doc crdt.Doc) Summary {
	var sum Summary
	for _, id := range doc.VisibleIDs() {
		if doc.Messages[id].Heard.V {
			sum.Old++
		} else {
			sum.New++
		}
	}
	return sum
}

// sortNewestFirst orders message ids by deposit time descending (ids embed the time).
func sortNewestFirst(ids []string) {
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
}
