package gateway

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sipProxy is a stateless SIP proxy (RFC 3261 16.11) on UDP and TCP. It keeps no dialog or
// transaction state: a new dialog goes to the stamp chosen by rendezvous hashing of its
// Call-ID among healthy stamps; the gateway Record-Routes dialog-creating requests with a URI
// carrying the "vmgw" parameter, so requests inside the dialog come back through any gateway
// instance, which pops that Route and forwards by the Request-URI (the stamp's Contact, or the
// caller's). Responses follow the Via stack; the branch of the Via the gateway adds is a hash of
// the incoming one, so retransmissions and CANCEL match the stamp's transaction.
type sipProxy struct {
	pool      *Pool
	log       *slog.Logger
	advertise string // host:port in Via and Record-Route
	udp       *net.UDPConn
	tcp       net.Listener

	mu    sync.Mutex
	conns map[string]*streamConn // TCP connections by remote address
	wg    sync.WaitGroup
	done  chan struct{}
}

type streamConn struct {
	c  net.Conn
	mu sync.Mutex // serializes writes
}

func (s *streamConn) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := s.c.Write(b)
	return err
}

const branchPrefix = "z9hG4bK-vmgw-"

// routeParam marks the gateway's own Record-Route URI; any instance accepts it as its own.
const routeParam = "vmgw"

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

func (p *sipProxy) serveUDP() {
	defer p.wg.Done()
	buf := make([]byte, maxSIPMessage)
	for {
		n, src, err := p.udp.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Warn("sip udp read", "error", err)
			continue
		}
		b := buf[:n]
		if len(strings.TrimSpace(string(b))) == 0 {
			continue // keep-alive
		}
		m, err := parseDatagram(b)
		if err != nil {
			p.malformed(b, err, func(r *sipMsg) error { return p.sendUDP(src.String(), r) })
			continue
		}
		p.handle(m, "UDP", src.String())
	}
}

// malformed answers 400 when enough of a request survived to address a response.
func (p *sipProxy) malformed(raw []byte, err error, send func(*sipMsg) error) {
	p.log.Debug("sip malformed", "error", err)
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	if len(lines) == 0 || strings.HasPrefix(lines[0], "SIP/") {
		return // never answer a response
	}
	req := &sipMsg{method: "UNKNOWN"}
	for _, l := range lines[1:] {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		n := strings.TrimSpace(name)
		if c, ok := compact[strings.ToLower(n)]; ok {
			n = c
		} else if c, ok := canonical[strings.ToLower(n)]; ok {
			n = c
		}
		req.hdrs = append(req.hdrs, header{n, strings.TrimSpace(val)})
	}
	if req.get("Via") == "" || req.get("Call-ID") == "" || req.get("CSeq") == "" {
		return // not enough to address a response
	}
	reason := strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
	_ = send(response(req, 400, "Bad Request", header{"Warning", `399 vmgw "` + reason + `"`}))
}

func (p *sipProxy) serveTCP() {
	defer p.wg.Done()
	for {
		c, err := p.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Warn("sip tcp accept", "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.track(c)
	}
}

// track registers a TCP connection under its remote address (and any extra keys, such as the
// name it was dialed by) and reads messages from it until it closes.
func (p *sipProxy) track(c net.Conn, extra ...string) *streamConn {
	sc := &streamConn{c: c}
	key := c.RemoteAddr().String()
	keys := append([]string{key}, extra...)
	p.mu.Lock()
	for _, k := range keys {
		p.conns[k] = sc
	}
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() {
			p.mu.Lock()
			for _, k := range keys {
				if p.conns[k] == sc {
					delete(p.conns, k)
				}
			}
			p.mu.Unlock()
			c.Close()
		}()
		r := bufio.NewReaderSize(c, 8192)
		for {
			m, err := readStream(r)
			if err != nil {
				// A stream cannot resynchronize after a framing error: close it.
				if errors.Is(err, errMalformed) {
					p.log.Debug("sip tcp malformed", "from", key, "error", err)
				}
				return
			}
			p.handle(m, "TCP", key)
		}
	}()
	go func() {
		<-p.done
		c.Close()
	}()
	return sc
}

func (p *sipProxy) close() {
	close(p.done)
	p.udp.Close()
	p.tcp.Close()
	p.wg.Wait()
}

// handle routes one message that arrived over transport from src.
func (p *sipProxy) handle(m *sipMsg, transport, src string) {
	if m.resp {
		p.handleResponse(m)
		return
	}
	reply := func(code int, reason string, extra ...header) {
		if m.method == "ACK" {
			return
		}
		_ = p.send(transport, src, response(m, code, reason, extra...))
	}
	// Max-Forwards (RFC 3261 16.3 / 16.6).
	if mf := m.get("Max-Forwards"); mf != "" {
		n, err := strconv.Atoi(mf)
		if err != nil || n < 0 {
			reply(400, "Bad Request")
			return
		}
		if n == 0 {
			reply(483, "Too Many Hops")
			return
		}
		m.set("Max-Forwards", strconv.Itoa(n-1))
	} else {
		m.set("Max-Forwards", "70")
	}
	// Note where the request really came from (RFC 3261 18.2.1, RFC 3581).
	vi := m.top("Via")
	top, err := parseVia(m.hdrs[vi].value)
	if err != nil {
		reply(400, "Bad Request")
		return
	}
	srcHost, srcPort, _ := net.SplitHostPort(src)
	if top.host != srcHost {
		top.setParam("received", srcHost)
	}
	if v, ok := top.param("rport"); (ok && v == "") || transport == "TCP" {
		top.setParam("rport", srcPort)
	}
	m.hdrs[vi].value = top.String()

	// Loose routing: pop our own Route; the next hop is the next Route or the Request-URI.
	var next sipURI
	popped := false
	if ri := m.top("Route"); ri >= 0 {
		u, err := parseURI(m.hdrs[ri].value)
		if err != nil {
			reply(400, "Bad Request")
			return
		}
		if _, ours := u.params[routeParam]; ours {
			m.remove(ri)
			popped = true
		}
	}
	stamp := ""
	switch ri := m.top("Route"); {
	case ri >= 0:
		u, err := parseURI(m.hdrs[ri].value)
		if err != nil {
			reply(400, "Bad Request")
			return
		}
		next = u
	case popped:
		u, err := parseURI(m.ruri)
		if err != nil {
			reply(400, "Bad Request")
			return
		}
		next = u
	default:
		// A new dialog or an out-of-dialog request: a healthy stamp by Call-ID.
		cands := p.pool.Candidates(m.get("Call-ID"))
		if len(cands) == 0 {
			reply(503, "Service Unavailable", header{"Retry-After", "5"})
			return
		}
		stamp = cands[0].ID
		next = sipURI{addr: cands[0].SIP}
		if (m.method == "INVITE" || m.method == "SUBSCRIBE") && !m.toTag() {
			m.push("Record-Route", fmt.Sprintf("<sip:%s;transport=%s;lr;%s>", p.advertise, strings.ToLower(transport), routeParam))
		}
	}
	out := transport
	if next.transport == "UDP" || next.transport == "TCP" {
		out = next.transport
	}
	// A stateless branch: the same incoming branch always maps to the same outgoing one.
	key := m.hdrs[vi].value
	if b, ok := top.param("branch"); ok && strings.HasPrefix(b, "z9hG4bK") {
		key = b + "|" + top.host + "|" + top.port
		if m.method == "CANCEL" || m.method == "ACK" {
			key += "|INVITE" // match the INVITE transaction's branch
		} else {
			key += "|" + m.method
		}
	} else {
		key += "|" + m.get("Call-ID") + "|" + m.get("CSeq")
	}
	m.push("Via", fmt.Sprintf("SIP/2.0/%s %s;branch=%s%s;rport", out, p.advertise, branchPrefix, shortHash(key)))
	if err := p.send(out, next.addr, m); err != nil {
		p.log.Info("sip forward failed", "method", m.method, "to", next.addr, "stamp", stamp, "error", err)
		// The Via we pushed must not reach the caller in our error response.
		m.remove(m.top("Via"))
		reply(503, "Service Unavailable", header{"Retry-After", "1"})
		return
	}
	p.log.Debug("sip forward", "method", m.method, "to", next.addr, "stamp", stamp, "transport", out)
}

func (p *sipProxy) handleResponse(m *sipMsg) {
	vi := m.top("Via")
	v, err := parseVia(m.hdrs[vi].value)
	if err != nil {
		return
	}
	if b, _ := v.param("branch"); !strings.HasPrefix(b, branchPrefix) {
		p.log.Debug("sip response not for us", "via", m.hdrs[vi].value)
		return
	}
	m.remove(vi)
	ni := m.top("Via")
	if ni < 0 {
		return
	}
	nv, err := parseVia(m.hdrs[ni].value)
	if err != nil {
		return
	}
	if err := p.send(nv.transport, nv.replyTo(), m); err != nil {
		p.log.Info("sip response forward failed", "to", nv.replyTo(), "error", err)
	}
}

func (p *sipProxy) send(transport, addr string, m *sipMsg) error {
	if transport == "TCP" {
		return p.sendTCP(addr, m)
	}
	return p.sendUDP(addr, m)
}

func (p *sipProxy) sendUDP(addr string, m *sipMsg) error {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	_, err = p.udp.WriteToUDP(m.bytes(), ua)
	return err
}

func (p *sipProxy) sendTCP(addr string, m *sipMsg) error {
	p.mu.Lock()
	sc := p.conns[addr]
	p.mu.Unlock()
	if sc == nil {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		sc = p.track(c, addr)
	}
	if err := sc.write(m.bytes()); err != nil {
		sc.c.Close()
		return err
	}
	return nil
}
