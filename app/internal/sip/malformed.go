package sip

import (
	"bytes"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// filter sees every datagram before sipgo parses it. sipgo drops UDP messages it cannot
// parse without a word, which leaves the sender retransmitting; we answer requests with a
// stateless 400 built from whatever headers can be salvaged (RFC 3261 §8.2, §21.4.1).
func (s *Server) filter(p sip.TransportReadProps, data []byte) ([]byte, error) {
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
