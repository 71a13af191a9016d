// Package imap serves the subscriber's mailbox to OMTP Visual Voicemail clients (the phone's
// built-in voicemail app) over IMAP4rev1.
//
// Why hand-written rather than go-imap v2's imapserver: imapserver (v2.0.0-beta.8) dispatches
// commands through a fixed switch with no hook for extra commands, so it cannot serve OMTP's
// XCHANGE_TUI_PWD / XCHANGE_VM_LANG or QUOTA's GETQUOTAROOT/GETQUOTA, and it closes the
// connection on an unknown command before login where we must answer BAD and carry on. The
// subset VVM clients use is small; a focused server over the service contract is simpler than
// forking imapserver.
//
// Mapping to the voicemail service: INBOX lists the mailbox's new and saved messages, each a
// multipart/mixed message (text part + audio/wav part). \Seen is the message's heard flag;
// \Answered, \Flagged and \Draft are kept by the service like it. \Deleted is kept in the
// session until EXPUNGE or CLOSE deletes the message through the service, as IMAP intends. The Greetings folder lists recorded greetings and accepts APPEND of
// a new one (OMTP: X-CNS-Greeting-Type header, $CNS-Greeting-On flag to make it active).
package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/contract"
)

// Service is the part of *voicemail.Service this package uses.
type Service interface {
	Login(ctx context.Context, number, pin string) error
	Mailbox(ctx context.Context, number string) (voicemail.Mailbox, error)
	Snapshot(ctx context.Context, number string) (voicemail.Snapshot, error)
	MessageAudio(ctx context.Context, m voicemail.Message) ([]byte, error)
	GreetingAudio(ctx context.Context, g voicemail.GreetingState) ([]byte, error)
	Configure(ctx context.Context, number string, p voicemail.MailboxPatch) (voicemail.Mailbox, error)
	ChangePIN(ctx context.Context, number, newPIN string) error
	PutGreeting(ctx context.Context, number string, kind voicemail.GreetingKind, wav []byte) error
	DeleteGreeting(ctx context.Context, number string, kind voicemail.GreetingKind) error
	Messages(ctx context.Context, number string, folder voicemail.Folder) ([]voicemail.Message, error)
	UpdateMessage(ctx context.Context, number, id string, u voicemail.MessageUpdate) (voicemail.Message, error)
	DeleteMessage(ctx context.Context, number, id string) error
	Subscribe(number string) (<-chan voicemail.Event, func())
	RaiseUIDValidity(ctx context.Context, number string, v int64) error
	RecordShown(ctx context.Context, number string, sh voicemail.Shown, seen []voicemail.Shown) error
	PlaceMessages(ctx context.Context, number string, ids []string, at time.Time) error
}

// Config tunes the server. Zero values take the defaults noted.
type Config struct {
	// ProxyFrom are load balancers whose connections begin with a PROXY protocol header
	// (HAProxy send-proxy-v2) naming the client, which then is the session's remote address:
	// per-source penalties and limits see clients. Their connections must carry a header;
	// anyone else's are read as IMAP, so a header cannot be forged from elsewhere.
	ProxyFrom []netip.Prefix
	// TLS enables STARTTLS on Serve and is required by ServeTLS (implicit TLS, port 993 style).
	// With TLS, LOGIN and AUTHENTICATE are refused on a connection that is not (yet) encrypted
	// and CAPABILITY says LOGINDISABLED (RFC 3501 §6.2.3; RFC 8314 §3 wants no cleartext
	// login where TLS is offered), unless AllowPlaintextLogin.
	TLS *tls.Config
	// AllowPlaintextLogin accepts logins before TLS although TLS is configured (tests of
	// clients that cannot do TLS; never on a public listener).
	AllowPlaintextLogin bool
	// Domain is the host part of the From/To/Message-ID addresses (default "voicemail.invalid").
	Domain string
	// IdleTimeout closes a connection with no command for this long (default 30 min, RFC 3501's
	// minimum autologout; IDLE clients re-issue IDLE within 29 min).
	IdleTimeout time.Duration
	// CommandTimeout bounds the service calls of one command (default 30 s).
	CommandTimeout time.Duration
	// MaxConnections caps concurrent sessions (default 1000). When it is reached, a new
	// connection evicts the oldest one that has not logged in (as Dovecot's login process
	// does), so strangers holding idle connections cannot keep subscribers out.
	MaxConnections int
	// PreAuthTimeout is how long a connection may stay without logging in (default 60 s).
	PreAuthTimeout time.Duration
	// MaxLiteral caps one literal, i.e. an APPENDed greeting (default 8 MiB: a 300 s PCM16
	// greeting is 4.8 MB, 6.4 MB in base64). Before login the cap is preAuthMaxLiteral.
	MaxLiteral int
	// Languages lists the languages OMTP clients choose by number in XCHANGE_VM_LANG LANG=<n>
	// (1-based, as the carrier's STATUS SMS announces them); a BCP 47 tag is accepted as is.
	Languages []string
	// Registerer, when set, gets the IMAP metrics (sessions, commands, logins).
	Registerer prometheus.Registerer
	// MaxLoginFailures ends a session after this many failed logins (default 3); the
	// service's lockout applies across all sessions and interfaces regardless.
	MaxLoginFailures int
	// VisibilityDelay holds an INBOX message back until its deposit time is this old, so that
	// messages arriving by replication within it take their place before any later one is
	// shown and UIDs ascend as messages are added (see uid.go). Zero shows messages at once,
	// which is right for a single region; a stamp takes contract VOICEMAIL_IMAP_VISIBILITY_DELAY.
	VisibilityDelay time.Duration
	// Now is the clock the visibility delay is measured on (default time.Now).
	Now func() time.Time
	// PartCacheBytes bounds the cache of encoded audio parts shared by all sessions (default
	// 32 MiB; negative disables it).
	PartCacheBytes int64
}

const (
	maxLineLength     = 64 * 1024
	preAuthMaxLiteral = 1024
	// preAuthMaxCommand bounds a whole command before login (LOGIN and AUTHENTICATE need far
	// less), however many literals it chains.
	preAuthMaxCommand = 8 * 1024
)

func (c Config) withDefaults() Config {
	d := contract.DefaultIMAP()
	if c.Domain == "" {
		c.Domain = d.Domain
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 30 * time.Second
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = d.MaxConnections
	}
	if c.PreAuthTimeout <= 0 {
		c.PreAuthTimeout = time.Minute
	}
	if c.MaxLiteral <= 0 {
		c.MaxLiteral = 8 << 20
	}
	if c.MaxLoginFailures <= 0 {
		c.MaxLoginFailures = 3
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.PartCacheBytes == 0 {
		c.PartCacheBytes = 32 << 20
	}
	return c
}

// Server accepts IMAP connections. One Server may serve several listeners (plain with
// STARTTLS, and implicit TLS) at once.
type Server struct {
	svc     Service
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	parts   *partCache
	shown   *shownTracker
	slots   chan struct{}
	wg      sync.WaitGroup

	mu      sync.Mutex
	preAuth map[*session]time.Time // sessions not logged in, with when they connected
}

// New returns a server over svc. A nil logger discards logs.
func New(svc Service, cfg Config, logger *slog.Logger) *Server {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		svc:     svc,
		cfg:     cfg,
		log:     logger.With("component", "imap"),
		metrics: newMetrics(cfg.Registerer),
		parts:   newPartCache(cfg.PartCacheBytes),
		shown:   newShownTracker(),
		slots:   make(chan struct{}, cfg.MaxConnections),
		preAuth: map[*session]time.Time{},
	}
}

// Serve listens on addr (plain IMAP, STARTTLS when TLS is configured) until ctx ends, then
// tells every session BYE and returns once they have closed.
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("imap listen %s: %w", addr, err)
	}
	return s.ServeListener(ctx, ln, false)
}

// ServeTLS listens on addr with implicit TLS (IMAPS) until ctx ends.
func (s *Server) ServeTLS(ctx context.Context, addr string) error {
	if s.cfg.TLS == nil {
		return errors.New("imap: implicit TLS needs Config.TLS")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("imaps listen %s: %w", addr, err)
	}
	return s.ServeListener(ctx, ln, true)
}

// ServeListener serves connections from ln until ctx ends; implicitTLS wraps each in TLS.
// It closes ln.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener, implicitTLS bool) error {
	if implicitTLS && s.cfg.TLS == nil {
		ln.Close()
		return errors.New("imap: implicit TLS needs Config.TLS")
	}
	if len(s.cfg.ProxyFrom) > 0 {
		ln = proxyListener(ln, s.cfg.ProxyFrom)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	s.log.Info("imap listening", "addr", ln.Addr().String(), "implicitTLS", implicitTLS)
	var acceptErr error
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				acceptErr = fmt.Errorf("imap accept: %w", err)
			}
			break
		}
		if !s.takeSlot() {
			conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprint(conn, "* BYE too many connections, try again later\r\n")
			conn.Close()
			continue
		}
		s.wg.Add(1)
		s.metrics.sessions.Inc()
		if implicitTLS {
			conn = tls.Server(conn, s.cfg.TLS)
		}
		sess := newSession(ctx, s, conn, implicitTLS)
		s.mu.Lock()
		s.preAuth[sess] = time.Now()
		s.mu.Unlock()
		go func() {
			defer func() { s.loggedIn(sess); <-s.slots; s.metrics.sessions.Dec(); s.wg.Done() }()
			sess.run()
		}()
	}
	ln.Close()
	s.wg.Wait()
	return acceptErr
}

// takeSlot reserves a session slot. When all are taken it evicts the oldest session that has
// not logged in and waits briefly for its slot; false when every session is logged in.
func (s *Server) takeSlot() bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
	}
	s.mu.Lock()
	var oldest *session
	var at time.Time
	for sess, t := range s.preAuth {
		if oldest == nil || t.Before(at) {
			oldest, at = sess, t
		}
	}
	if oldest != nil {
		delete(s.preAuth, oldest)
	}
	s.mu.Unlock()
	if oldest == nil {
		return false
	}
	s.metrics.evicted.Inc()
	oldest.raw.SetDeadline(time.Now()) // its read fails; the session ends and frees its slot
	select {
	case s.slots <- struct{}{}:
		return true
	case <-time.After(2 * time.Second):
		return false
	}
}

// loggedIn takes a session off the eviction list (it logged in, or ended).
func (s *Server) loggedIn(sess *session) {
	s.mu.Lock()
	delete(s.preAuth, sess)
	s.mu.Unlock()
}

// loginNeedsTLS reports whether a session that is not encrypted must not log in.
func (c Config) loginNeedsTLS() bool { return c.TLS != nil && !c.AllowPlaintextLogin }

// LoadTLS reads a PEM certificate chain and key into a TLS config with TLS 1.2 as the floor.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("imap tls: load %s / %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
