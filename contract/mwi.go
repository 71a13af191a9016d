package contract

import (
	"net"
	"net/netip"
	"regexp"
	"strings"
)

// EnvSIPMWIDomains restricts where unsolicited message-waiting NOTIFYs may go. It is a SIP
// variable (see sip.go).
var EnvSIPMWIDomains = Var{"VOICEMAIL_SIP_MWI_DOMAINS", "", "hosts a mailbox's notify.mwiTarget may name, comma-separated: domains (each also matches its subdomains) or IP addresses; empty: no mailbox may set an MWI target and no out-of-dialog NOTIFY is sent"}

// MWITargetHost is the host of a sip: or sips: URI such as "sip:1001@mwi.sbc.example;transport=tcp"
// (lower case, without port or brackets).
func MWITargetHost(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "sip:")
	if !ok {
		if rest, ok = strings.CutPrefix(uri, "sips:"); !ok {
			return "", false
		}
	}
	if i := strings.IndexAny(rest, ";?"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	host := rest
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", false
		}
		host = rest[1:end]
	} else if h, _, err := net.SplitHostPort(rest); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host, host != ""
}

// MWITargetAllowed reports whether uri names a host of domains: an IP address listed
// exactly, or a name equal to a listed domain or below it ("mwi.sbc.example" for
// "sbc.example", never "evilsbc.example" or "sbc.example.evil").
func MWITargetAllowed(uri string, domains []string) bool {
	host, ok := MWITargetHost(uri)
	if !ok {
		return false
	}
	ip, ipErr := netip.ParseAddr(host)
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if ipErr == nil {
			if a, err := netip.ParseAddr(d); err == nil && a == ip {
				return true
			}
			continue
		}
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

var dnsNameRe = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// ValidMWIDomain reports whether d is a DNS name or an IP address.
func ValidMWIDomain(d string) bool {
	if _, err := netip.ParseAddr(d); err == nil {
		return true
	}
	return dnsNameRe.MatchString(d)
}
