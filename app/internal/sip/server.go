// Package sip is the telephone front end of the voicemail service: a SIP UAS (UDP and TCP, on
// sipgo) with its own RTP media, for depositing messages, retrieving them by keypad menu, and
// message-waiting indication (RFC 3842). It talks to the mailbox only through *voicemail.Service.
package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/voicemail-platform/voicemail/app/internal/prompts"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
	"github.com/voicemail-platform/voicemail/contract"
)

const allow = "INVITE, ACK, BYE, CANCEL, OPTIONS, SUBSCRIBE, NOTIFY, INFO"

// sipgo refuses to write any UDP message above 1300 bytes (UDPMTUSize-200), its reading of
// RFC 3261 18.1.1, which asks large requests to use TCP. A response has no such rule: it goes
// back on the request's transport (18.2.2), and a 200 OK that echoes a core network's Vias and
// Record-Routes and carries SDP easily exceeds 1300 bytes; refused, the call failed. The limit
// becomes the largest UDP payload (IPv4), and IP fragments what the path MTU cannot carry.
func init() { sip.UDPMTUSize = maxUDPPayload + 200 }

// maxUDPPayload is the largest UDP datagram payload over IPv4.
const maxUDPPayload = 65507

// Server answers SIP on one address over UDP and TCP.
type Server struct {
	svc     Service
	cfg     Config
	log     *slog.Logger
	prompts *prompts.Set
	parser  *sip.Parser
	ports   *portPool

	ua  *sipgo.UserAgent
	srv *sipgo.Server

	// Set by listen.
	udp     *net.UDPConn
	tcpL    *net.TCPListener
	tcp     tcpStreams // accepted TCP connections, for the framing filter
	host    string     // advertised in Via and Contact
	port    int
	client  *sipgo.Client
	dialogs *sipgo.DialogServerCache
	ready   chan struct{}

	base     context.Context // cancelled when the drain ends; calls and subscriptions hang off it
	active   atomic.Int64
	calls    sync.WaitGroup
	draining atomic.Bool // no new dialogs; OPTIONS answers 503
	healthy  atomic.Pointer[func(context.Context) error]
	refused  atomic.Int64 // requests from strangers refused in trusted-peers mode
	limited  atomic.Int64 // new dialogs refused by the per-source and per-caller limits
	pike     *pike
	callsBy  counts // calls in progress per untrusted source or asserted caller
	subsBy   counts // subscriptions per mailbox and per untrusted source

	mu      sync.Mutex
	closing bool
	live    map[string]liveCall      // calls in progress, by dialog id
	subs    map[string]*subscription // by dialog id
	watched map[string]func()        // mailboxes with an unsolicited MWI watcher
}

// New builds a server; nothing listens until Serve.
func New(svc Service, cfg Config, logger *slog.Logger) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	ps, err := prompts.Load()
	if err != nil {
		return nil, fmt.Errorf("load prompts: %w", err)
	}
	s := &Server{
		svc: svc, cfg: cfg, log: logger.With("component", "sip"), prompts: ps,
		parser: sip.NewParser(), ports: newPortPool(cfg.RTPBindIP, cfg.RTPPortMin, cfg.RTPPortMax),
		ready: make(chan struct{}), subs: map[string]*subscription{}, watched: map[string]func(){},
		live: map[string]liveCall{}, tcp: tcpStreams{m: map[string]*tcpStream{}},
		pike: newPike(cfg.DialogRate, cfg.DialogBurst),
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("voicemail"),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerReadFilter(s.filter),
			sip.WithTransportLayerLogger(s.log.With("layer", "transport")),
		),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(s.log.With("layer", "transaction"))),
	)
	if err != nil {
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(s.log.With("layer", "server")))
	if err != nil {
		return nil, fmt.Errorf("sip server: %w", err)
	}
	s.ua, s.srv = ua, srv
	srv.OnInvite(s.guard(s.onInvite))
	srv.OnAck(s.guard(s.onAck))
	srv.OnBye(s.guard(s.onBye))
	srv.OnCancel(s.guard(func(req *sip.Request, tx sip.ServerTransaction) {
		// A CANCEL that matched an INVITE was answered by the transaction layer.
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}))
	srv.OnOptions(s.guard(s.onOptions))
	srv.OnSubscribe(s.guard(s.onSubscribe))
	srv.OnInfo(s.guard(s.onInfo))
	srv.OnNotify(s.guard(func(req *sip.Request, tx sip.ServerTransaction) { s.respond(tx, req, 200, "OK") }))
	// RFC 3261 8.2.1: a 405 lists the methods we do support.
	srv.OnNoRoute(s.guard(func(req *sip.Request, tx sip.ServerTransaction) {
		s.respond(tx, req, 405, "Method Not Allowed", sip.NewHeader("Allow", allow))
	}))
	return s, nil
}

// ListenAndServe is the one-call form: configuration from the stamp contract's SIP
// variables (getenv is os.Getenv), then New and Serve. It returns after ctx ends and every call
// in progress has been hung up and its recording stored, so close the store only after it.
func ListenAndServe(ctx context.Context, addr string, svc Service, getenv func(string) string, logger *slog.Logger) error {
	cfg, err := contract.LoadSIP(getenv)
	if err != nil {
		return err
	}
	s, err := New(svc, cfg, logger)
	if err != nil {
		return err
	}
	return s.Serve(ctx, addr)
}

// Serve listens on addr (UDP and TCP, same port) until ctx ends, then drains: new INVITEs,
// SUBSCRIBEs and OPTIONS probes get 503 (a dispatcher takes the server out of rotation and
// sends new calls elsewhere) while calls in progress go on, up to Config.DrainTimeout; then it
// hangs up what is left (recordings in progress are stored) and returns.
func (s *Server) Serve(ctx context.Context, addr string) error {
	if err := s.listen(addr); err != nil {
		return err
	}
	return s.serve(ctx)
}

// Ready is closed once the server listens; Addr is valid from then on.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// ActiveCalls is the number of calls in progress.
func (s *Server) ActiveCalls() int { return int(s.active.Load()) }

// Drain stops taking new dialogs: from now on INVITEs and SUBSCRIBEs that start a dialog, and
// OPTIONS probes, are answered 503 with Retry-After, while requests within dialogs in progress
// are served as before. Serve's context ending drains too.
func (s *Server) Drain() {
	if !s.draining.Swap(true) {
		s.log.Info("sip draining", "calls", s.active.Load())
	}
}

// SetHealth makes OPTIONS probes answer 503 while check reports an error: a replica whose
// stamp cannot reach its stores leaves the dispatcher's rotation as it leaves Traffic
// Manager's. check should answer from a cache (the stamp's health service does); a probe waits
// for it at most probeHealthWait.
func (s *Server) SetHealth(check func(context.Context) error) { s.healthy.Store(&check) }

// probeHealthWait bounds an OPTIONS answer's wait for the health check: below the dispatcher's
// probe timeout, so a slow check yields 503 rather than a probe that times out.
const probeHealthWait = 3 * time.Second

// Draining reports whether Drain was called or Serve's context ended.
func (s *Server) Draining() bool { return s.draining.Load() }

// refuseDraining answers a dialog-starting request with 503 while draining, and reports it.
func (s *Server) refuseDraining(req *sip.Request, tx sip.ServerTransaction) bool {
	if !s.draining.Load() {
		return false
	}
	s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
	return true
}

func (s *Server) listen(addr string) error {
	if s.udp != nil {
		return errors.New("sip: Serve called twice on one Server")
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q: %w", contract.EnvSIPAddr.Name, addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("%s: port %q: %w", contract.EnvSIPAddr.Name, portStr, err)
	}
	ip := net.ParseIP(host)
	if host != "" && ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return fmt.Errorf("%s: resolve %q: %w", contract.EnvSIPAddr.Name, host, err)
		}
		ip = ips[0]
	}
	// With port 0 the UDP port is picked first and TCP must get the same one; retry on clashes.
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
		if err != nil {
			return fmt.Errorf("listen udp %s: %w", addr, err)
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: p})
		if err != nil {
			_ = udp.Close()
			if port == 0 && attempt < 20 {
				continue
			}
			return fmt.Errorf("listen tcp %s: %w", addr, err)
		}
		// Signalling for hundreds of calls shares this socket: a deep buffer rides out bursts
		// (capped by net.core.rmem_max).
		_ = udp.SetReadBuffer(4 << 20)
		s.udp, s.tcpL, s.port = udp, tcp, p
		break
	}
	s.host = s.cfg.MediaIP
	if s.host == "" {
		if ip != nil && !ip.IsUnspecified() {
			s.host = ip.String()
		} else {
			s.host = defaultIP().String()
		}
	}
	if s.cfg.Domain == "" {
		s.cfg.Domain = s.host
	}
	client, err := sipgo.NewClient(s.ua, sipgo.WithClientHostname(s.host), sipgo.WithClientPort(s.port),
		sipgo.WithClientLogger(s.log.With("layer", "client")))
	if err != nil {
		return fmt.Errorf("sip client: %w", err)
	}
	s.client = client
	s.dialogs = sipgo.NewDialogServerCache(client, s.contact("udp"))
	return nil
}

func (s *Server) serve(ctx context.Context) error {
	base, stopAll := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAll()
	s.base = base
	errc := make(chan error, 2)
	go func() { errc <- s.srv.ServeUDP(s.udp) }()
	go func() { errc <- s.srv.ServeTCP(trackingListener{Listener: s.tcpL, streams: &s.tcp}) }()
	close(s.ready)
	s.log.Info("sip listening", "addr", s.Addr(), "transports", "udp,tcp", "trusted_peers", peers(s.cfg.TrustedPeers).String())
	if len(s.cfg.TrustedPeers) == 0 {
		s.log.Warn("no " + contract.EnvSIPTrustedPeers.Name + ": anyone may call and subscribe, and no identity header is believed")
	}
	go s.watchTargets(base)
	var err error
	select {
	case <-ctx.Done():
		s.Drain()
		s.awaitCalls(s.cfg.DrainTimeout)
	case err = <-errc:
	}
	stopAll()
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	_ = s.udp.Close()
	_ = s.tcpL.Close()
	s.calls.Wait() // each call sees ctx end, stores what it recorded and hangs up
	_ = s.ua.Close()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("sip serve: %w", err)
	}
	return nil
}

// awaitCalls waits until no call is in progress or d has passed.
func (s *Server) awaitCalls(d time.Duration) {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for s.active.Load() > 0 && time.Now().Before(deadline) {
		<-tick.C
	}
	if n := s.active.Load(); n > 0 {
		s.log.Warn("sip drain timeout: hanging up calls in progress", "calls", n, "drainTimeout", d)
	} else {
		s.log.Info("sip drained")
	}
}

// contact is our Contact header for a transport.
func (s *Server) contact(transport string) sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: "voicemail", Host: s.host, Port: s.port}
	if transport == "tcp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return sip.ContactHeader{Address: u}
}

// guard keeps one bad request from taking the process down and answers it with a 400 when
// required headers are missing (sipgo only checks what it needs for transaction matching).
func (s *Server) guard(h func(*sip.Request, sip.ServerTransaction)) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("sip handler panic", "panic", r, "method", req.Method)
				s.respond(tx, req, 500, "Server Internal Error")
			}
		}()
		if err := validate(req); err != nil {
			if !req.IsAck() {
				s.respond(tx, req, 400, "Bad Request")
			}
			s.log.Info("sip request rejected", "error", err, "method", req.Method)
			return
		}
		h(req, tx)
	}
}

func (s *Server) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip respond", "code", code, "error", err)
	}
}

// onOptions answers probes, notably the stamp dispatcher's: 503 while draining takes this
// server out of rotation.
func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if s.refuseDraining(req, tx) {
		return
	}
	if check := s.healthy.Load(); check != nil {
		ctx, cancel := context.WithTimeout(context.Background(), probeHealthWait)
		err := (*check)(ctx)
		cancel()
		if err != nil {
			s.log.Debug("options: stamp unhealthy", "error", err)
			s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "10"))
			return
		}
	}
	s.respond(tx, req, 200, "OK",
		sip.NewHeader("Allow", allow),
		sip.NewHeader("Accept", "application/sdp"))
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if len(req.Body()) > 0 {
		if lc, ok := s.liveCall(req); ok {
			select {
			case lc.ack <- req.Body():
			default:
			}
		}
	}
	if err := s.dialogs.ReadAck(req, tx); err != nil {
		s.log.Debug("ack outside dialog", "error", err)
	}
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := s.dialogs.ReadBye(req, tx); err != nil {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}
}

// defaultIP is the address of the interface that holds the default route, for Contact and
// SDP when the listen address is unspecified. No packet is sent.
func defaultIP() net.IP {
	c, err := net.Dial("udp", "192.0.2.1:9")
	if err != nil {
		return net.IPv4(127, 0, 0, 1)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP
}

// localIPFor is our address on the route to remote, written into SDP.
func localIPFor(remote net.IP) net.IP {
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: remote, Port: 9})
	if err != nil {
		return defaultIP()
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP
}

// portPool hands out even RTP ports at random within the range, as rtpengine and Asterisk do:
// a port that follows the last call's cannot be guessed, so a stranger cannot aim at a call
// about to start, and a just-closed port is rarely reused at once.
type portPool struct {
	ip       net.IP
	min, max int
}

func newPortPool(bind string, lo, hi int) *portPool {
	if lo%2 == 1 {
		lo++
	}
	return &portPool{ip: net.ParseIP(bind), min: lo, max: hi}
}

func (p *portPool) listen() (*net.UDPConn, error) {
	n := (p.max-p.min)/2 + 1
	// Random probes first; a nearly full range then gets an ordered sweep from a random start
	// so a free port is found whenever there is one.
	start := rand.IntN(n)
	for i := 0; i < n+16; i++ {
		k := rand.IntN(n)
		if i >= 16 {
			k = (start + i - 16) % n
		}
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: p.ip, Port: p.min + 2*k})
		if err == nil {
			_ = c.SetReadBuffer(256 << 10)
			return c, nil
		}
	}
	return nil, fmt.Errorf("no free RTP port in %d-%d", p.min, p.max)
}

// errMissing names a required header that is absent.
type errMissing string

func (e errMissing) Error() string { return "missing or malformed " + string(e) + " header" }

// validate checks the headers every request needs (RFC 3261 §8.1.1) and that INVITE and
// SUBSCRIBE can form a dialog.
func validate(req *sip.Request) error {
	switch {
	case req.Via() == nil:
		return errMissing("Via")
	case req.From() == nil:
		return errMissing("From")
	case req.To() == nil:
		return errMissing("To")
	case req.CallID() == nil || req.CallID().Value() == "":
		return errMissing("Call-ID")
	case req.CSeq() == nil || req.CSeq().MethodName != req.Method:
		return errMissing("CSeq")
	}
	if req.IsInvite() || req.Method == sip.SUBSCRIBE {
		if req.Contact() == nil {
			return errMissing("Contact")
		}
		if _, ok := req.From().Params.Get("tag"); !ok {
			return errMissing("From tag")
		}
	}
	return nil
}

// isNotFound reports the service's not-found error.
func isNotFound(err error) bool { return errors.Is(err, voicemail.ErrNotFound) }

// deadline gives service calls a bound that survives the call's own end (a BYE must not
// abort storing the message).
func (s *Server) deadline(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(s.base), d)
}
