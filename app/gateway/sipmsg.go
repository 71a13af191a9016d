package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
)

// The proxy needs only the routing headers of a SIP message, so it keeps the rest as text: a
// minimal parser that preserves header order and values, expands compact names and splits
// comma-separated Via/Route/Record-Route values so the top one can be pushed or popped.

const maxSIPMessage = 64 << 10

type header struct{ name, value string }

type sipMsg struct {
	first  string // start line
	resp   bool
	method string // request method, or the CSeq method of a response
	ruri   string
	status int
	hdrs   []header
	body   []byte
}

var compact = map[string]string{
	"v": "Via", "i": "Call-ID", "f": "From", "t": "To", "l": "Content-Length", "m": "Contact",
	"c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding", "o": "Event",
	"u": "Allow-Events", "r": "Refer-To", "b": "Referred-By", "x": "Session-Expires",
}

var canonical = map[string]string{
	"via": "Via", "route": "Route", "record-route": "Record-Route", "call-id": "Call-ID",
	"content-length": "Content-Length", "to": "To", "from": "From", "cseq": "CSeq",
	"max-forwards": "Max-Forwards", "contact": "Contact",
}

var multi = map[string]bool{"Via": true, "Route": true, "Record-Route": true}

var errMalformed = errors.New("malformed SIP message")

// parseHead parses a start line and headers (no body).
func parseHead(head []byte) (*sipMsg, error) {
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	for len(lines) > 0 && lines[0] == "" { // keep-alive CRLFs before a message
		lines = lines[1:]
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%w: empty", errMalformed)
	}
	m := &sipMsg{first: strings.TrimSpace(lines[0])}
	parts := strings.SplitN(m.first, " ", 3)
	if len(parts) < 3 {
		return nil, fmt.Errorf("%w: start line %q", errMalformed, m.first)
	}
	if strings.HasPrefix(parts[0], "SIP/") {
		m.resp = true
		code, err := strconv.Atoi(parts[1])
		if err != nil || code < 100 || code > 699 {
			return nil, fmt.Errorf("%w: status %q", errMalformed, parts[1])
		}
		m.status = code
	} else {
		if parts[2] != "SIP/2.0" || !isToken(parts[0]) {
			return nil, fmt.Errorf("%w: request line %q", errMalformed, m.first)
		}
		m.method, m.ruri = parts[0], parts[1]
	}
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(m.hdrs) > 0 { // folded line
			m.hdrs[len(m.hdrs)-1].value += " " + strings.TrimSpace(l)
			continue
		}
		i := strings.IndexByte(l, ':')
		if i <= 0 {
			return nil, fmt.Errorf("%w: header line %q", errMalformed, l)
		}
		name := strings.TrimSpace(l[:i])
		if c, ok := compact[strings.ToLower(name)]; ok {
			name = c
		} else if c, ok := canonical[strings.ToLower(name)]; ok {
			name = c
		}
		val := strings.TrimSpace(l[i+1:])
		if multi[name] {
			for _, v := range splitComma(val) {
				m.hdrs = append(m.hdrs, header{name, v})
			}
			continue
		}
		m.hdrs = append(m.hdrs, header{name, val})
	}
	cseq := strings.Fields(m.get("CSeq"))
	if len(cseq) != 2 || m.get("Call-ID") == "" || m.get("Via") == "" {
		return nil, fmt.Errorf("%w: Via, Call-ID and CSeq are required", errMalformed)
	}
	if m.resp {
		m.method = cseq[1]
	}
	return m, nil
}

func isToken(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-.!%*_+`'~", r)) {
			return false
		}
	}
	return s != ""
}

// splitComma splits a header value at commas outside quotes and angle brackets.
func splitComma(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"' && (i == 0 || v[i-1] != '\\'):
			quoted = !quoted
		case c == '<' && !quoted:
			depth++
		case c == '>' && !quoted && depth > 0:
			depth--
		case c == ',' && !quoted && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}

// parseDatagram parses one UDP datagram.
func parseDatagram(b []byte) (*sipMsg, error) {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	sep := 4
	if i < 0 {
		if i = bytes.Index(b, []byte("\n\n")); i < 0 {
			return nil, fmt.Errorf("%w: no end of headers", errMalformed)
		}
		sep = 2
	}
	m, err := parseHead(b[:i])
	if err != nil {
		return nil, err
	}
	body := b[i+sep:]
	if cl := m.get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > len(body) {
			return nil, fmt.Errorf("%w: Content-Length %q for %d body bytes", errMalformed, cl, len(body))
		}
		body = body[:n]
	}
	m.body = bytes.Clone(body)
	return m, nil
}

// readStream reads one message from a stream transport (Content-Length framing).
func readStream(r *bufio.Reader) (*sipMsg, error) {
	tp := textproto.NewReader(r)
	var head bytes.Buffer
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return nil, err
		}
		if line == "" {
			if head.Len() == 0 {
				continue // CRLF keep-alive
			}
			break
		}
		head.WriteString(line)
		head.WriteString("\r\n")
		if head.Len() > maxSIPMessage {
			return nil, fmt.Errorf("%w: headers too long", errMalformed)
		}
	}
	m, err := parseHead(head.Bytes())
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(m.get("Content-Length"))
	if err != nil || n < 0 || n > maxSIPMessage {
		return nil, fmt.Errorf("%w: Content-Length %q on a stream", errMalformed, m.get("Content-Length"))
	}
	m.body = make([]byte, n)
	if _, err := io.ReadFull(r, m.body); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *sipMsg) get(name string) string {
	for _, h := range m.hdrs {
		if h.name == name {
			return h.value
		}
	}
	return ""
}

func (m *sipMsg) set(name, value string) {
	for i, h := range m.hdrs {
		if h.name == name {
			m.hdrs[i].value = value
			return
		}
	}
	m.hdrs = append(m.hdrs, header{name, value})
}

// top returns the index of the first header called name, or -1.
func (m *sipMsg) top(name string) int {
	for i, h := range m.hdrs {
		if h.name == name {
			return i
		}
	}
	return -1
}

// push inserts a header before the first one of its name (or at the start).
func (m *sipMsg) push(name, value string) {
	i := m.top(name)
	if i < 0 {
		i = 0
	}
	m.hdrs = append(m.hdrs[:i], append([]header{{name, value}}, m.hdrs[i:]...)...)
}

func (m *sipMsg) remove(i int) { m.hdrs = append(m.hdrs[:i], m.hdrs[i+1:]...) }

func (m *sipMsg) bytes() []byte {
	var b bytes.Buffer
	b.WriteString(m.first)
	b.WriteString("\r\n")
	for _, h := range m.hdrs {
		if h.name == "Content-Length" {
			continue
		}
		b.WriteString(h.name)
		b.WriteString(": ")
		b.WriteString(h.value)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(m.body))
	b.Write(m.body)
	return b.Bytes()
}

// toTag reports whether the To header carries a tag (the request is inside a dialog).
func (m *sipMsg) toTag() bool {
	_, ok := params(m.get("To"))["tag"]
	return ok
}

// params parses the ";k=v" parameters after a name-addr or a Via value (outside <>).
func params(v string) map[string]string {
	if i := strings.LastIndexByte(v, '>'); i >= 0 {
		v = v[i+1:]
	}
	out := map[string]string{}
	parts := strings.Split(v, ";")
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		out[strings.ToLower(k)] = val
	}
	return out
}

// via is one parsed Via value: "SIP/2.0/UDP host:port;branch=...;rport".
type via struct {
	transport string // UDP or TCP
	host      string
	port      string
	params    []header // in order; value "" for flags
}

func parseVia(v string) (via, error) {
	proto, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	pp := strings.Split(proto, "/")
	if !ok || len(pp) != 3 || !strings.EqualFold(pp[0], "SIP") {
		return via{}, fmt.Errorf("%w: Via %q", errMalformed, v)
	}
	parts := strings.Split(strings.TrimSpace(rest), ";")
	out := via{transport: strings.ToUpper(pp[2])}
	sentBy := strings.TrimSpace(parts[0])
	if h, p, err := net.SplitHostPort(sentBy); err == nil {
		out.host, out.port = h, p
	} else {
		out.host = strings.Trim(sentBy, "[]")
	}
	if out.host == "" {
		return via{}, fmt.Errorf("%w: Via %q has no host", errMalformed, v)
	}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		out.params = append(out.params, header{strings.ToLower(k), val})
	}
	return out, nil
}

func (v via) param(k string) (string, bool) {
	for _, p := range v.params {
		if p.name == k {
			return p.value, true
		}
	}
	return "", false
}

func (v *via) setParam(k, val string) {
	for i, p := range v.params {
		if p.name == k {
			v.params[i].value = val
			return
		}
	}
	v.params = append(v.params, header{k, val})
}

func (v via) String() string {
	var b strings.Builder
	b.WriteString("SIP/2.0/" + v.transport + " ")
	if v.port != "" {
		b.WriteString(net.JoinHostPort(v.host, v.port))
	} else if strings.Contains(v.host, ":") {
		b.WriteString("[" + v.host + "]")
	} else {
		b.WriteString(v.host)
	}
	for _, p := range v.params {
		b.WriteString(";" + p.name)
		if p.value != "" {
			b.WriteString("=" + p.value)
		}
	}
	return b.String()
}

// replyTo is where a response to this Via goes: received/rport when present (RFC 3581).
func (v via) replyTo() string {
	host, port := v.host, v.port
	if r, ok := v.param("received"); ok && r != "" {
		host = r
	}
	if p, ok := v.param("rport"); ok && p != "" {
		port = p
	}
	if port == "" {
		port = "5060"
	}
	return net.JoinHostPort(host, port)
}

// sipURI is the routing part of a SIP URI: host, port and transport.
type sipURI struct {
	addr      string // host:port
	transport string // UDP, TCP or "" when unspecified
	params    map[string]string
}

// parseURI parses "sip:user@host:port;params" or a name-addr "<sip:...>".
func parseURI(v string) (sipURI, error) {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return sipURI{}, fmt.Errorf("%w: URI %q", errMalformed, v)
		}
		v = v[i+1 : i+j]
	}
	scheme, rest, ok := strings.Cut(v, ":")
	if !ok || !strings.EqualFold(scheme, "sip") {
		return sipURI{}, fmt.Errorf("%w: URI %q is not sip:", errMalformed, v)
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	parts := strings.Split(rest, ";")
	out := sipURI{params: map[string]string{}}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(p, "=")
		out.params[strings.ToLower(k)] = val
	}
	out.transport = strings.ToUpper(out.params["transport"])
	hostport := parts[0]
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		out.addr = net.JoinHostPort(h, p)
	} else {
		h := strings.Trim(hostport, "[]")
		if h == "" {
			return sipURI{}, fmt.Errorf("%w: URI %q has no host", errMalformed, v)
		}
		out.addr = net.JoinHostPort(h, "5060")
	}
	return out, nil
}

// response builds a stateless response to req (RFC 3261 8.2.6).
func response(req *sipMsg, code int, reason string, extra ...header) *sipMsg {
	r := &sipMsg{first: fmt.Sprintf("SIP/2.0 %d %s", code, reason), resp: true, status: code, method: req.method}
	for _, h := range req.hdrs {
		switch h.name {
		case "Via", "From", "Call-ID", "CSeq":
			r.hdrs = append(r.hdrs, h)
		case "To":
			v := h.value
			if !req.toTag() && code > 100 {
				v += ";tag=vmgw" + shortHash(req.get("Call-ID"))
			}
			r.hdrs = append(r.hdrs, header{"To", v})
		}
	}
	r.hdrs = append(r.hdrs, extra...)
	return r
}
