package sip

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Cause is why a call was forwarded to voicemail; it picks the greeting.
type Cause int

const (
	CauseUnavailable Cause = iota // no answer, unreachable, unconditional: the unavailable greeting
	CauseBusy                     // 486 / user-busy: the busy greeting
)

func (c Cause) String() string {
	if c == CauseBusy {
		return "busy"
	}
	return "unavailable"
}

// routing is what a new INVITE asks for, read from its headers.
type routing struct {
	Mailbox   string // whose mailbox; empty when the headers name none
	Cause     Cause
	Forwarded bool   // some header says the call was diverted (so it is a deposit, never a login)
	Caller    string // From user, the caller id stored with a message
	Asserted  bool   // Caller came from P-Asserted-Identity
}

// routeOf reads the target mailbox and cause from, in order of precedence: the RFC 4458
// target=/cause= parameters of the Request-URI, History-Info entries (RFC 7044, last wins),
// the top Diversion header (RFC 5806), and finally the Request-URI user itself. The caller is
// the From user, or the P-Asserted-Identity when trustIdentity says a trusted peer sent it.
func routeOf(req *sip.Request, trustIdentity bool) routing {
	r := routing{Mailbox: req.Recipient.User}
	if from := req.From(); from != nil {
		r.Caller = from.Address.User
	}
	// A trusted network asserts the caller (RFC 3325); From may be anonymous or a display value.
	if pai := req.GetHeader("P-Asserted-Identity"); pai != nil && trustIdentity {
		if vals := splitTopLevel(pai.Value()); len(vals) > 0 {
			v := vals[0]
			if i, j := strings.IndexByte(v, '<'), strings.IndexByte(v, '>'); i >= 0 && j > i {
				v = v[i+1 : j]
			}
			if u := userOf(v); u != "" {
				r.Caller, r.Asserted = u, true
			}
		}
	}
	if c, ok := uriCause(req.Recipient.UriParams); ok {
		r.Cause, r.Forwarded = c, true
	}
	if t := uriTarget(req.Recipient.UriParams); t != "" {
		r.Mailbox, r.Forwarded = t, true
		return r
	}

	if hi := historyInfo(req); len(hi) > 0 {
		// The last entry carrying target= names the mailbox; otherwise the first entry is
		// the originally called party, which is whose voicemail this is.
		target := ""
		for _, e := range hi {
			if t := uriTarget(e.params); t != "" {
				target = t
			}
			if c, ok := uriCause(e.params); ok {
				r.Cause, r.Forwarded = c, true
			}
		}
		if target == "" && len(hi) > 1 {
			target = hi[0].user
		}
		if target != "" {
			r.Mailbox, r.Forwarded = target, true
			return r
		}
	}

	if user, reason, ok := diversion(req); ok {
		r.Mailbox, r.Forwarded = user, true
		if reason == "user-busy" {
			r.Cause = CauseBusy
		}
	}
	return r
}

func uriTarget(p sip.HeaderParams) string {
	v, ok := p.Get("target")
	if !ok || v == "" {
		return ""
	}
	if u, err := url.PathUnescape(v); err == nil {
		v = u
	}
	return userOf(v)
}

func uriCause(p sip.HeaderParams) (Cause, bool) {
	v, ok := p.Get("cause")
	if !ok {
		return CauseUnavailable, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return CauseUnavailable, false
	}
	if n == 486 || n == 600 {
		return CauseBusy, true
	}
	return CauseUnavailable, true
}

// userOf takes the user part of "sip:user@host", "tel:+123;params", "user@host" or "user".
func userOf(s string) string {
	s = strings.Trim(strings.TrimSpace(s), "<>")
	for _, scheme := range []string{"sips:", "sip:", "tel:"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			s = s[len(scheme):]
			break
		}
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexAny(s, ";?"); i >= 0 {
		s = s[:i]
	}
	return s
}

type hiEntry struct {
	user   string
	params sip.HeaderParams
}

// historyInfo parses every History-Info value, in order. Unparseable entries are skipped: a
// broken optional header must not stop a caller from leaving a message.
func historyInfo(req *sip.Request) []hiEntry {
	var out []hiEntry
	for _, h := range req.GetHeaders("History-Info") {
		for _, v := range splitTopLevel(h.Value()) {
			var a sip.Uri
			raw := v
			if i, j := strings.IndexByte(v, '<'), strings.IndexByte(v, '>'); i >= 0 && j > i {
				raw = v[i+1 : j]
			}
			// Embedded headers (?Reason=SIP%3Bcause%3D486) carry the cause of the previous hop.
			var reason string
			if k := strings.IndexByte(raw, '?'); k >= 0 {
				reason, raw = raw[k+1:], raw[:k]
			}
			if err := sip.ParseUri(raw, &a); err != nil {
				continue
			}
			e := hiEntry{user: a.User, params: a.UriParams}
			if e.params == nil {
				e.params = sip.NewParams()
			}
			if _, ok := e.params.Get("cause"); !ok && reason != "" {
				if dec, err := url.QueryUnescape(reason); err == nil {
					if i := strings.Index(dec, "cause="); i >= 0 {
						c := dec[i+len("cause="):]
						if k := strings.IndexAny(c, ";&"); k >= 0 {
							c = c[:k]
						}
						e.params.Add("cause", c)
					}
				}
			}
			out = append(out, e)
		}
	}
	return out
}

// diversion returns the user and reason of the top-most (most recent) Diversion entry.
func diversion(req *sip.Request) (user, reason string, ok bool) {
	h := req.GetHeader("Diversion")
	if h == nil {
		return "", "", false
	}
	vals := splitTopLevel(h.Value())
	if len(vals) == 0 {
		return "", "", false
	}
	v := vals[0]
	i, j := strings.IndexByte(v, '<'), strings.IndexByte(v, '>')
	if i < 0 || j < i {
		return "", "", false
	}
	user = userOf(v[i+1 : j])
	for _, p := range strings.Split(v[j+1:], ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "reason") {
			reason = strings.ToLower(strings.Trim(val, `"`))
		}
	}
	return user, reason, user != ""
}

// splitTopLevel splits a header value on commas outside <> and quotes.
func splitTopLevel(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case '<':
			if !quoted {
				depth++
			}
		case '>':
			if !quoted && depth > 0 {
				depth--
			}
		case ',':
			if !quoted && depth == 0 {
				if s := strings.TrimSpace(v[start:i]); s != "" {
					out = append(out, s)
				}
				start = i + 1
			}
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}
