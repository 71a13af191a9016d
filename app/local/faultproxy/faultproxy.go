// Package faultproxy puts a loopback TCP proxy between a process and one of its dependencies,
// so a test or the local runner can make that dependency hang or refuse connections.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Proxy is a loopback TCP proxy in front of a dependency (one Azurite service for one
// stamp). In black-hole mode it stops forwarding: connections are accepted and read but never
// answered, in flight or new, the way a hung dependency or a silently dropping network looks to
// a client. Restoring closes the held connections, so clients reconnect to a healthy path.
type Proxy struct {
	ln       net.Listener
	upstream string
	hole     atomic.Bool
	refuse   atomic.Bool

	mu     sync.Mutex
	conns  map[net.Conn]net.Conn // client -> upstream (nil while held in the hole)
	held   atomic.Int64          // connections currently held in the black hole
	peak   atomic.Int64          // most connections held at once since the last Restore
	wg     sync.WaitGroup
	closed bool
}

// New listens on a free loopback port and forwards to upstream (host:port).
func New(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, upstream: upstream, conns: map[net.Conn]net.Conn{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's listen address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's listen port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// BlackHole stops forwarding: existing connections freeze, new ones are held unanswered.
func (p *Proxy) BlackHole() {
	p.hole.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, up := range p.conns {
		if up != nil {
			up.Close() // the client's side stays open and silent
			p.conns[c] = nil
			p.hold()
		}
	}
}

func (p *Proxy) hold() {
	n := p.held.Add(1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			return
		}
	}
}

// Refuse makes the dependency look down: every connection is closed, new ones at once.
func (p *Proxy) Refuse() {
	p.refuse.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, up := range p.conns {
		c.Close()
		if up != nil {
			up.Close()
		}
	}
}

// Restore resumes forwarding and closes every held connection.
func (p *Proxy) Restore() {
	p.refuse.Store(false)
	p.hole.Store(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, up := range p.conns {
		if up == nil {
			c.Close()
		}
	}
}

// Held is the number of connections held in the hole now; PeakHeld the most held at once.
func (p *Proxy) Held() int64     { return p.held.Load() }
func (p *Proxy) PeakHeld() int64 { return p.peak.Load() }

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.ln.Close()
	for c, up := range p.conns {
		c.Close()
		if up != nil {
			up.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *Proxy) handle(c net.Conn) {
	defer p.wg.Done()
	defer c.Close()
	if p.refuse.Load() {
		return
	}
	var up net.Conn
	if !p.hole.Load() {
		var err error
		if up, err = net.Dial("tcp", p.upstream); err != nil {
			return // upstream down: the client sees the connection close
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		if up != nil {
			up.Close()
		}
		return
	}
	p.conns[c] = up
	if up == nil {
		p.hold()
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.conns[c] == nil {
			p.held.Add(-1)
		}
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	if up == nil {
		_, _ = io.Copy(io.Discard, c) // swallow requests until the client gives up or Restore
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer up.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			cur := p.conns[c]
			p.mu.Unlock()
			if cur == nil {
				continue // frozen: swallow, never answer
			}
			if _, err := cur.Write(buf[:n]); err != nil {
				p.mu.Lock()
				frozen := p.conns[c] == nil
				p.mu.Unlock()
				if !frozen {
					return
				}
			}
		}
	}()
	_, _ = io.Copy(c, up)
	// Upstream ended: if the hole opened meanwhile, hold the client's side silent.
	p.mu.Lock()
	frozen := p.conns[c] == nil
	p.mu.Unlock()
	if !frozen {
		c.Close()
	}
	<-done
}
