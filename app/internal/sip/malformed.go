package sip

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// filter sees every datagram before sipgo parses it. sipgo drops UDP messages it cannot
// parse without a word, which leaves the sender retransmitting; we answer requests with a
// stateless 400 built from whatever headers can be salvaged (RFC 3261 §8.2, §21.4.1).
func (s *Server) filter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if strings.EqualFold(p.Transport, "tcp") {
		return s.filterTCP(p, data)
	}
	if !strings.EqualFold(p.Transport, "udp") || len(bytes.TrimSpace(data)) == 0 {
		return data, nil
	}
	if _, err := parseRequest(s.parser, data); err == nil {
		return data, nil
	} else if resp := badRequest(data); resp != nil {
		s.log.Info("malformed sip request", "from", p.RemoteAddr.String(), "error", err)
		if s.udp != nil && p.RemoteAddr != nil {
			_, _ = s.udp.WriteTo(resp, p.RemoteAddr)
		}
	}
	return nil, nil
}

// parseRequest is the request parsing path: sipgo's parser, then our header checks.
// Responses pass (the transaction layer matches them); only broken requests fail.
func parseRequest(p *sip.Parser, data []byte) (*sip.Request, error) {
	msg, err := p.ParseSIP(data)
	if err != nil {
		return nil, err
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, nil
	}
	if err := validate(req); err != nil {
		return nil, err
	}
	return req, nil
}

// badRequest builds "400 Bad Request" echoing the Via, From, To, Call-ID and CSeq lines of a
// raw request, or nil when data is not a request (responses and noise get no answer).
func badRequest(data []byte) []byte {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	if len(lines) == 0 {
		return nil
	}
	// Anything that starts with a method-like token and ends with the SIP version is a request
	// we owe an answer, even when the Request-URI in between is missing or broken.
	start := strings.Fields(lines[0])
	if len(start) < 2 || !strings.HasPrefix(start[len(start)-1], "SIP/") || !isToken(start[0]) {
		return nil
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 400 Bad Request\r\n")
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		name, _, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
			// Echo only lines that parse, so the 400 itself is well-formed.
			if _, err := sip.ParseMessage([]byte("SIP/2.0 400 Bad Request\r\n" + l + "\r\nContent-Length: 0\r\n\r\n")); err == nil {
				b.WriteString(l)
				b.WriteString("\r\n")
			}
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

func isToken(s string) bool {
	if s == "" || strings.HasPrefix(s, "SIP/") {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-.!%*_+`'~", r)) {
			return false
		}
	}
	return true
}

// On TCP sipgo closes a connection whose stream it cannot parse, without a response. We frame
// the stream ourselves (headers, then Content-Length bytes) so that a malformed request gets
// its 400 on the connection and only well-formed messages reach sipgo. A stream whose framing
// is lost (bad Content-Length, endless headers) is answered and then closed.

const (
	maxHeaderBytes = 64 << 10
	maxBodyBytes   = 1 << 20
)

var errFraming = errors.New("sip over tcp: framing lost")

// tcpStream is one accepted connection's unparsed bytes; only its reader goroutine uses buf.
type tcpStream struct {
	conn net.Conn
	buf  []byte
}

type tcpStreams struct {
	mu sync.Mutex
	m  map[string]*tcpStream
}

func streamKey(remote, local net.Addr) string { return remote.String() + "|" + local.String() }

// trackingListener records accepted connections so the read filter can answer on them.
type trackingListener struct {
	net.Listener
	streams *tcpStreams
}

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	key := streamKey(c.RemoteAddr(), c.LocalAddr())
	l.streams.mu.Lock()
	l.streams.m[key] = &tcpStream{conn: c}
	l.streams.mu.Unlock()
	return &trackedConn{Conn: c, streams: l.streams, key: key}, nil
}

type trackedConn struct {
	net.Conn
	streams *tcpStreams
	key     string
	once    sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.streams.mu.Lock()
		delete(c.streams.m, c.key)
		c.streams.mu.Unlock()
	})
	return c.Conn.Close()
}

func (s *Server) filterTCP(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if p.RemoteAddr == nil || p.LocalAddr == nil {
		return data, nil
	}
	s.tcp.mu.Lock()
	st := s.tcp.m[streamKey(p.RemoteAddr, p.LocalAddr)]
	s.tcp.mu.Unlock()
	if st == nil {
		return data, nil // a connection we dialed (NOTIFY over TCP): sipgo parses it
	}
	if len(st.buf) == 0 && len(bytes.Trim(data, "\r\n")) == 0 {
		return data, nil // keep-alive between messages
	}
	st.buf = append(st.buf, data...)
	var out []byte
	for {
		st.buf = bytes.TrimLeft(st.buf, "\r\n")
		end := bytes.Index(st.buf, []byte("\r\n\r\n"))
		if end < 0 {
			if len(st.buf) > maxHeaderBytes {
				s.answerBad(st, st.buf)
				return out, errFraming
			}
			break
		}
		head := st.buf[:end+4]
		n, ok := contentLength(head)
		if !ok || n > maxBodyBytes {
			s.answerBad(st, head)
			return out, errFraming
		}
		if len(st.buf) < end+4+n {
			break
		}
		msg := st.buf[:end+4+n]
		if _, err := parseRequest(s.parser, msg); err != nil {
			s.log.Info("malformed sip request", "from", p.RemoteAddr.String(), "transport", "tcp", "error", err)
			s.answerBad(st, msg)
		} else {
			out = append(out, msg...)
		}
		st.buf = append([]byte(nil), st.buf[end+4+n:]...)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (s *Server) answerBad(st *tcpStream, msg []byte) {
	if resp := badRequest(msg); resp != nil {
		_, _ = st.conn.Write(resp)
	}
}

// contentLength reads Content-Length (or "l") from a header block; absent means 0.
func contentLength(head []byte) (int, bool) {
	for _, line := range strings.Split(string(head), "\r\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "content-length" || name == "l" {
			n, err := strconv.Atoi(strings.TrimSpace(val))
			return n, err == nil && n >= 0
		}
	}
	return 0, true
}
