package sip

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// peers is the set of trusted SIP peers: the stamp's dispatcher and the operator's SBCs. Only
// they may start calls and subscriptions when the set is configured, and only their identity
// headers (P-Asserted-Identity, RFC 3325's "trust domain") are believed. An empty set is the
// open mode of a local run: anyone may call, nobody's identity headers count.
type peers []netip.Prefix

// parsePeers reads "10.0.0.0/16, 192.0.2.7" (addresses or CIDR prefixes).
func parsePeers(v string) (peers, error) {
	var out peers
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("VOICEMAIL_SIP_TRUSTED_PEERS: %q is not an address or prefix", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("VOICEMAIL_SIP_TRUSTED_PEERS: %q is not an address or prefix", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (ps peers) String() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// contains reports whether ip is a trusted peer.
func (ps peers) contains(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// sourceIP is the address a request came from (its transport source, never a header).
func sourceIP(req *sip.Request) netip.Addr {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		host = req.Source()
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// trusted reports whether the request came from a trusted peer.
func (s *Server) trusted(req *sip.Request) bool { return s.cfg.TrustedPeers.contains(sourceIP(req)) }

// admitted reports whether the request may start a call or subscription: always in open mode,
// otherwise only from a trusted peer.
func (s *Server) admitted(req *sip.Request) bool {
	return len(s.cfg.TrustedPeers) == 0 || s.trusted(req)
}

// loginSource is whom a wrong PIN on this call slows down: the caller a trusted peer asserted
// (every caller shares the SBC's address), else the address the call came from.
func (s *Server) loginSource(req *sip.Request, r routing) string {
	if r.Asserted && s.trusted(req) && r.Caller != "" {
		return "sip:" + r.Caller
	}
	return "ip:" + sourceIP(req).String()
}

// refuse answers a request from a stranger when only trusted peers are admitted: 403, the same
// for every number, so nothing about mailboxes is learnt. Strangers are not logged one line per
// request (a flood would fill the log); the refusal counter is the record.
func (s *Server) refuse(tx sip.ServerTransaction, req *sip.Request) {
	s.refused.Add(1)
	s.respond(tx, req, 403, "Forbidden")
}

// overRate reports (and answers 503 with Retry-After) a new dialog from an untrusted source
// that is over its rate. No log line per refusal: the counter is the record.
func (s *Server) overRate(tx sip.ServerTransaction, req *sip.Request) bool {
	if s.trusted(req) || s.pike.allow(sourceIP(req), time.Now()) {
		return false
	}
	s.limited.Add(1)
	s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
	return true
}

// callSlot bounds the calls one untrusted source, or one caller asserted by a trusted peer,
// has in progress, so one of them cannot take every media port.
func (s *Server) callSlot(req *sip.Request, r routing) (func(), bool) {
	if s.trusted(req) {
		if !r.Asserted || r.Caller == "" {
			return func() {}, true // the peer vouches for the call but names nobody to bound
		}
		return s.callsBy.take("caller:"+r.Caller, s.cfg.MaxCallsPerCaller)
	}
	return s.callsBy.take("ip:"+sourceIP(req).String(), s.cfg.MaxCallsPerSource)
}
