package gateway

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/voicemail-platform/voicemail/contract"
)

// Stamp is one backend the gateway may route to.
type Stamp struct {
	ID       string `json:"id"`
	Priority int    `json:"priority"` // lower is preferred; equal priorities share by weight
	Weight   int    `json:"weight"`
	SIP      string `json:"sip"`    // host:port, UDP and TCP
	IMAP     string `json:"imap"`   // host:port
	Health   string `json:"health"` // URL polled for readiness: the stamp's contract.StampHealthPath
}

// Source yields the prioritized stamp list: static config locally, DNS SRV in Azure.
type Source interface {
	Stamps(ctx context.Context) ([]Stamp, error)
}

// Static is a fixed stamp list.
type Static []Stamp

// Stamps implements Source.
func (s Static) Stamps(context.Context) ([]Stamp, error) { return append([]Stamp(nil), s...), nil }

// SRV discovers stamps from DNS SRV records: "_sip._udp.<Domain>" lists one target per stamp
// with its priority, weight and SIP port; the IMAP and HTTP ports are the same on every stamp
// (one Kubernetes Service shape), so they come from config.
type SRV struct {
	Domain     string
	IMAPPort   int
	HTTPPort   int
	HealthPath string // default contract.StampHealthPath
	Resolver   *net.Resolver
}

// Stamps implements Source.
func (s SRV) Stamps(ctx context.Context) ([]Stamp, error) {
	r := s.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	path := s.HealthPath
	if path == "" {
		path = contract.StampHealthPath
	}
	_, recs, err := r.LookupSRV(ctx, "sip", "udp", s.Domain)
	if err != nil {
		return nil, fmt.Errorf("gateway: SRV _sip._udp.%s: %w", s.Domain, err)
	}
	out := make([]Stamp, 0, len(recs))
	for _, rec := range recs {
		host := trimDot(rec.Target)
		out = append(out, Stamp{
			ID:       host,
			Priority: int(rec.Priority),
			Weight:   int(rec.Weight),
			SIP:      net.JoinHostPort(host, strconv.Itoa(int(rec.Port))),
			IMAP:     net.JoinHostPort(host, strconv.Itoa(s.IMAPPort)),
			Health:   "http://" + net.JoinHostPort(host, strconv.Itoa(s.HTTPPort)) + path,
		})
	}
	return out, nil
}

func trimDot(s string) string {
	if len(s) > 0 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

// PoolConfig sets the liveness polling.
type PoolConfig struct {
	Interval time.Duration // default 1 s
	Timeout  time.Duration // per poll, default 500 ms
	// FailuresToDown consecutive failed polls take a stamp out of rotation (default 2); one
	// success puts it back.
	FailuresToDown int
	// Refresh is how often the Source is read again (default 30 s).
	Refresh time.Duration
	Logger  *slog.Logger
}

type member struct {
	Stamp
	up    bool
	fails int
}

// Pool tracks the stamps' health and chooses stamps for new sessions. Safe for concurrent use.
type Pool struct {
	src    Source
	cfg    PoolConfig
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	members map[string]*member
	order   []string
}

// NewPool builds a pool; call Refresh (or Run) before routing.
func NewPool(src Source, cfg PoolConfig) *Pool {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 500 * time.Millisecond
	}
	if cfg.FailuresToDown <= 0 {
		cfg.FailuresToDown = 2
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pool{src: src, cfg: cfg, log: cfg.Logger, members: map[string]*member{},
		client: &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{DisableKeepAlives: true}}}
}

// Refresh reads the source and polls every stamp once.
func (p *Pool) Refresh(ctx context.Context) error {
	stamps, err := p.src.Stamps(ctx)
	if err != nil {
		return err
	}
	if len(stamps) == 0 {
		return errors.New("gateway: source lists no stamps")
	}
	p.mu.Lock()
	next := map[string]*member{}
	order := make([]string, 0, len(stamps))
	for _, s := range stamps {
		if s.Weight <= 0 {
			s.Weight = 1
		}
		m := p.members[s.ID]
		if m == nil {
			m = &member{}
		}
		m.Stamp = s
		next[s.ID] = m
		order = append(order, s.ID)
	}
	p.members, p.order = next, order
	p.mu.Unlock()
	p.PollAll(ctx)
	return nil
}

// Run re-reads the source every Refresh and polls every stamp every Interval until ctx ends.
func (p *Pool) Run(ctx context.Context) {
	poll := time.NewTicker(p.cfg.Interval)
	defer poll.Stop()
	refresh := time.NewTicker(p.cfg.Refresh)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-refresh.C:
			if err := p.Refresh(ctx); err != nil {
				p.log.Warn("stamp source", "error", err) // keep the last good list
			}
		case <-poll.C:
			p.PollAll(ctx)
		}
	}
}

// PollAll polls every stamp in parallel and waits.
func (p *Pool) PollAll(ctx context.Context) {
	p.mu.Lock()
	ms := make([]*member, 0, len(p.members))
	for _, m := range p.members {
		ms = append(ms, m)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			p.mu.Lock()
			url := m.Health
			p.mu.Unlock()
			err := p.poll(ctx, url)
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			was := m.up
			if err == nil {
				m.up, m.fails = true, 0
			} else if m.fails++; m.fails >= p.cfg.FailuresToDown {
				m.up = false
			}
			if was != m.up {
				p.log.Info("stamp liveness", "stamp", m.ID, "up", m.up, "error", err)
			}
		})
	}
	wg.Wait()
}

func (p *Pool) poll(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}

// Up reports the stamps in rotation, sorted by id.
func (p *Pool) Up() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for id, m := range p.members {
		if m.up {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Lookup returns a known stamp by id.
func (p *Pool) Lookup(id string) (Stamp, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.members[id]
	if !ok {
		return Stamp{}, false
	}
	return m.Stamp, true
}

// Candidates returns the healthy stamps for key, best first: the lowest priority tier first,
// each tier ordered by weighted rendezvous hashing of key. The order depends only on key and
// the health view, so gateway instances that share no state choose alike, and every request of
// one SIP dialog (keyed by Call-ID) lands on the same stamp while its health holds.
func (p *Pool) Candidates(key string) []Stamp {
	p.mu.Lock()
	var up []Stamp
	for _, id := range p.order {
		if m := p.members[id]; m.up {
			up = append(up, m.Stamp)
		}
	}
	p.mu.Unlock()
	score := func(s Stamp) float64 {
		h := fnv.New64a()
		_, _ = io.WriteString(h, key)
		_, _ = h.Write([]byte{0})
		_, _ = io.WriteString(h, s.ID)
		u := (float64(h.Sum64()>>11) + 0.5) / float64(1<<53) // uniform in (0,1)
		return -float64(s.Weight) / math.Log(u)
	}
	sort.SliceStable(up, func(i, j int) bool {
		if up[i].Priority != up[j].Priority {
			return up[i].Priority < up[j].Priority
		}
		return score(up[i]) > score(up[j])
	})
	return up
}
