// Package gateway is the protocol gateway for the non-HTTP protocols (the reference
// architecture's gateway in front of the stamps): it reads a prioritized stamp list (static
// locally, DNS SRV in Azure), polls every stamp's readiness, and routes each new SIP dialog
// (UDP and TCP, as a stateless proxy) and each new IMAP connection (a TCP splice) to a healthy
// stamp. It keeps no state that another instance would need: instances are interchangeable.
// A call or IMAP session in flight on a stamp that fails ends; the client's retry lands on a
// healthy stamp.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a gateway instance.
type Config struct {
	// SIPAddr is the UDP and TCP listen address for SIP ("" disables SIP). With port 0 one
	// free port is taken for both.
	SIPAddr string
	// SIPAdvertise is the host:port put in Via and Record-Route (default: the SIP listen
	// address). Behind a load balancer it is the balancer's address, shared by all instances.
	SIPAdvertise string
	// IMAPAddr is the IMAP listen address ("" disables IMAP).
	IMAPAddr string
	Source   Source
	Pool     PoolConfig
	Logger   *slog.Logger
}

// Gateway is one running gateway instance.
type Gateway struct {
	pool *Pool
	log  *slog.Logger
	sip  *sipProxy
	imap net.Listener

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	active map[net.Conn]struct{}
	closed bool
	// Counters for operators and tests.
	imapConns, imapFailed atomic.Int64
}

// Start reads the stamp list, polls every stamp once, opens the listeners and runs until Close.
func Start(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.Source == nil {
		return nil, errors.New("gateway: a stamp source is required")
	}
	if cfg.SIPAddr == "" && cfg.IMAPAddr == "" {
		return nil, errors.New("gateway: neither SIP nor IMAP address set")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Pool.Logger = cfg.Logger
	g := &Gateway{pool: NewPool(cfg.Source, cfg.Pool), log: cfg.Logger, active: map[net.Conn]struct{}{}}
	if err := g.pool.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if cfg.SIPAddr != "" {
		udp, tcp, err := listenBoth(cfg.SIPAddr)
		if err != nil {
			return nil, err
		}
		adv := cfg.SIPAdvertise
		if adv == "" {
			adv = udp.LocalAddr().String()
			if h, p, _ := net.SplitHostPort(adv); net.ParseIP(h).IsUnspecified() {
				adv = net.JoinHostPort("127.0.0.1", p)
			}
		}
		g.sip = &sipProxy{pool: g.pool, log: cfg.Logger, advertise: adv, udp: udp, tcp: tcp,
			conns: map[string]*streamConn{}, done: make(chan struct{})}
		g.sip.wg.Add(2)
		go g.sip.serveUDP()
		go g.sip.serveTCP()
	}
	if cfg.IMAPAddr != "" {
		l, err := net.Listen("tcp", cfg.IMAPAddr)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("gateway: imap listen: %w", err)
		}
		g.imap = l
		g.wg.Add(1)
		go g.serveIMAP()
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.cancel = cancel
	g.wg.Go(func() { g.pool.Run(runCtx) })
	return g, nil
}

// listenBoth opens UDP and TCP on the same port.
func listenBoth(addr string) (*net.UDPConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: sip address %q: %w", addr, err)
	}
	for attempt := 0; attempt < 20; attempt++ {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("gateway: sip address %q: %w", addr, err)
		}
		udp, err := net.ListenUDP("udp", ua)
		if err != nil {
			return nil, nil, fmt.Errorf("gateway: sip udp listen: %w", err)
		}
		p := strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port)
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != "0" {
			return nil, nil, fmt.Errorf("gateway: sip tcp listen: %w", err)
		}
	}
	return nil, nil, errors.New("gateway: no port free for both UDP and TCP")
}

// SIPAddr is the SIP listen address (UDP and TCP), IMAPAddr the IMAP one.
func (g *Gateway) SIPAddr() string {
	if g.sip == nil {
		return ""
	}
	return g.sip.udp.LocalAddr().String()
}

// IMAPAddr returns the IMAP listen address.
func (g *Gateway) IMAPAddr() string {
	if g.imap == nil {
		return ""
	}
	return g.imap.Addr().String()
}

// Pool exposes the stamp health view.
func (g *Gateway) Pool() *Pool { return g.pool }

// Close stops listening and ends every spliced connection.
func (g *Gateway) Close() {
	if g.cancel != nil {
		g.cancel()
	}
	if g.sip != nil {
		g.sip.close()
	}
	if g.imap != nil {
		g.imap.Close()
	}
	g.mu.Lock()
	g.closed = true
	for c := range g.active {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *Gateway) serveIMAP() {
	defer g.wg.Done()
	for {
		c, err := g.imap.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			g.log.Warn("imap accept", "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		g.wg.Go(func() { g.splice(c) })
	}
}

const imapUnavailable = "* BYE [UNAVAILABLE] no voicemail stamp available, try again later\r\n"

// splice connects a client to the first healthy stamp that accepts, then copies bytes both ways
// until either side closes.
func (g *Gateway) splice(c net.Conn) {
	defer c.Close()
	g.imapConns.Add(1)
	var up net.Conn
	for _, s := range g.pool.Candidates(c.RemoteAddr().String()) {
		d, err := net.DialTimeout("tcp", s.IMAP, 2*time.Second)
		if err != nil {
			g.log.Info("imap dial failed", "stamp", s.ID, "error", err)
			continue
		}
		up = d
		break
	}
	if up == nil {
		g.imapFailed.Add(1)
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c, imapUnavailable)
		return
	}
	defer up.Close()
	if !g.track(c, up) {
		return
	}
	defer g.untrack(c, up)
	toUp, toClient := make(chan struct{}), make(chan struct{})
	go func() { _, _ = io.Copy(up, c); closeWrite(up); close(toUp) }()
	go func() { _, _ = io.Copy(c, up); closeWrite(c); close(toClient) }()
	select {
	case <-toClient:
		// The stamp ended the session (or died): end the client's too, promptly.
	case <-toUp:
		// The client is done sending; let the stamp finish its answer, within reason.
		select {
		case <-toClient:
		case <-time.After(30 * time.Second):
		}
	}
	c.Close()
	up.Close()
	<-toUp
	<-toClient
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

func (g *Gateway) track(cs ...net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	for _, c := range cs {
		g.active[c] = struct{}{}
	}
	return true
}

func (g *Gateway) untrack(cs ...net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range cs {
		delete(g.active, c)
	}
}

// IMAPStats returns the number of IMAP connections accepted and those refused for lack of a
// healthy stamp.
func (g *Gateway) IMAPStats() (accepted, refused int64) {
	return g.imapConns.Load(), g.imapFailed.Load()
}
