package contract

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The stamp binary's SIP variables (read when EnvSIPAddr is set, validated always).
var (
	EnvSIPMediaIP           = Var{"VOICEMAIL_SIP_MEDIA_IP", "", "IP written in SDP c= and Contact; empty: the local address that routes to the caller"}
	EnvSIPRTPBindIP         = Var{"VOICEMAIL_SIP_RTP_BIND_IP", "", "where RTP sockets bind; empty: all interfaces"}
	EnvSIPRTPPorts          = Var{"VOICEMAIL_SIP_RTP_PORTS", "10000-20000", "RTP port range (even ports; one per call)"}
	EnvSIPAccessNumbers     = Var{"VOICEMAIL_SIP_ACCESS_NUMBERS", "", "comma-separated numbers that reach the retrieval menu"}
	EnvSIPDomain            = Var{"VOICEMAIL_SIP_DOMAIN", "", "host in MWI Message-Account and Contact; empty: the listen host"}
	EnvSIPSilenceTimeout    = Var{"VOICEMAIL_SIP_SILENCE_TIMEOUT", "10s", "a recording ends after this much silence"}
	EnvSIPRTPTimeout        = Var{"VOICEMAIL_SIP_RTP_TIMEOUT", "30s", "a call whose media stopped (caller vanished without BYE) ends"}
	EnvSIPDigitTimeout      = Var{"VOICEMAIL_SIP_DIGIT_TIMEOUT", "6s", "how long menus wait for a key"}
	EnvSIPMaxMessageSeconds = Var{"VOICEMAIL_SIP_MAX_MESSAGE_SECONDS", "180", "longest message when a mailbox sets no limit"}
	EnvSIPMaxCalls          = Var{"VOICEMAIL_SIP_MAX_CALLS", "1000", "further INVITEs get 503"}
	EnvSIPMaxCallDuration   = Var{"VOICEMAIL_SIP_MAX_CALL_DURATION", "1h", "any call is hung up after this long"}
	EnvSIPMWIExpires        = Var{"VOICEMAIL_SIP_MWI_EXPIRES", "3600", "longest SUBSCRIBE expiry granted (seconds)"}
	EnvSIPTrustedPeers      = Var{"VOICEMAIL_SIP_TRUSTED_PEERS", "", "addresses or CIDR prefixes (the stamp's dispatcher, the operator's SBCs) that may start calls and subscriptions and whose P-Asserted-Identity is believed; empty: anyone may call and no identity header is believed"}
	EnvSIPDialogRate        = Var{"VOICEMAIL_SIP_DIALOG_RATE", "5", "new dialogs (INVITE, SUBSCRIBE) per second from one untrusted source"}
	EnvSIPDialogBurst       = Var{"VOICEMAIL_SIP_DIALOG_BURST", "20", "burst of new dialogs from one untrusted source"}
	EnvSIPMaxCallsPerSource = Var{"VOICEMAIL_SIP_MAX_CALLS_PER_SOURCE", "8", "concurrent calls from one untrusted source"}
	EnvSIPMaxCallsPerCaller = Var{"VOICEMAIL_SIP_MAX_CALLS_PER_CALLER", "4", "concurrent calls of one caller asserted by a trusted peer"}
	EnvSIPMaxSubsPerMailbox = Var{"VOICEMAIL_SIP_MAX_SUBSCRIPTIONS_PER_MAILBOX", "8", "MWI subscriptions per mailbox"}
	EnvSIPMaxSubsPerSource  = Var{"VOICEMAIL_SIP_MAX_SUBSCRIPTIONS_PER_SOURCE", "64", "MWI subscriptions per untrusted source"}
	EnvSIPDrainTimeout      = Var{"VOICEMAIL_SIP_DRAIN_TIMEOUT", "", "how long calls in progress may go on once the server is told to stop; empty: the longest deposit (greeting + message + 15 s)"}
)

func sipVars() []Var {
	return []Var{
		EnvSIPMediaIP, EnvSIPRTPBindIP, EnvSIPRTPPorts, EnvSIPAccessNumbers, EnvSIPDomain,
		EnvSIPSilenceTimeout, EnvSIPRTPTimeout, EnvSIPDigitTimeout, EnvSIPMaxMessageSeconds,
		EnvSIPMaxCalls, EnvSIPMaxCallDuration, EnvSIPMWIExpires, EnvSIPTrustedPeers,
		EnvSIPDialogRate, EnvSIPDialogBurst, EnvSIPMaxCallsPerSource, EnvSIPMaxCallsPerCaller,
		EnvSIPMaxSubsPerMailbox, EnvSIPMaxSubsPerSource, EnvSIPDrainTimeout, EnvSIPMWIDomains,
	}
}

// Settings of the SIP front end that no variable sets.
const (
	defaultMaxGreetingSeconds = 60
	defaultVoiceLevel         = 300
)

// SIP tunes the SIP front end. Zero values take the defaults (WithDefaults); LoadStamp returns
// them filled in.
type SIP struct {
	// MediaIP is the address written into SDP answers (c=). Empty: the local address that
	// routes to the caller's media address, which is right unless the pod sits behind NAT.
	MediaIP string
	// RTPBindIP is where RTP sockets listen. Default all interfaces.
	RTPBindIP string
	// RTPPortMin and RTPPortMax bound the RTP ports (even ports only).
	RTPPortMin, RTPPortMax int
	// AccessNumbers are the Request-URI users that reach the retrieval menu (e.g. "8500").
	// Calling one's own mailbox number from that number also reaches it.
	AccessNumbers []string
	// Domain is the host in MWI Message-Account and Contact. Default the listen host.
	Domain string
	// SilenceTimeout ends a recording after this much silence.
	SilenceTimeout time.Duration
	// RTPTimeout ends a call whose media stopped (caller vanished without BYE).
	RTPTimeout time.Duration
	// DigitTimeout is how long menus wait for a key.
	DigitTimeout time.Duration
	// MaxMessageSeconds is used when a mailbox sets no limit.
	MaxMessageSeconds int
	// MaxGreetingSeconds limits greetings recorded by phone.
	MaxGreetingSeconds int
	// MWIExpires caps SUBSCRIBE expiry (seconds).
	MWIExpires int
	// MaxCalls rejects new calls with 503 beyond this many.
	MaxCalls int
	// MaxCallDuration hangs up any call after this long (a stuck menu, a forgotten line).
	MaxCallDuration time.Duration
	// TrustedPeers are the addresses (the stamp's dispatcher, the operator's SBCs) that may
	// start calls and subscriptions and whose P-Asserted-Identity is believed. Empty: anyone
	// may call (local runs) and no identity header is believed.
	TrustedPeers []netip.Prefix
	// MWIDomains are the hosts a mailbox's MWI target may name (MWITargetAllowed): the
	// operator's SBCs or MWI servers. Empty: no MWI targets, no out-of-dialog NOTIFYs.
	MWIDomains []string
	// DrainTimeout is how long calls in progress may go on once the server is told to stop:
	// new INVITEs and SUBSCRIBEs and OPTIONS probes get 503 meanwhile, so a dispatcher moves
	// new dialogs to other replicas. Default DefaultDrainTimeout of the message and greeting
	// limits.
	DrainTimeout time.Duration
	// DialogRate and DialogBurst limit new dialogs (INVITE, SUBSCRIBE) per second from one
	// untrusted source.
	DialogRate, DialogBurst int
	// MaxCallsPerSource caps concurrent calls from one untrusted source; MaxCallsPerCaller caps
	// concurrent calls of one caller asserted by a trusted peer.
	MaxCallsPerSource, MaxCallsPerCaller int
	// MaxSubsPerMailbox and MaxSubsPerSource bound MWI subscriptions (a trusted peer's
	// subscriptions are bounded per mailbox only).
	MaxSubsPerMailbox, MaxSubsPerSource int
	// VoiceLevel is the RMS level (16-bit scale) that counts as speech for the silence timeout.
	VoiceLevel float64
}

// LoadSIP reads only the SIP variables (the one-call sip.ListenAndServe uses it).
func LoadSIP(getenv func(string) string) (SIP, error) {
	r := &reader{getenv: getenv}
	c := r.sip()
	return c, r.err()
}

// defaultSIP is the SIP configuration with every variable unset.
func defaultSIP() SIP {
	r := &reader{getenv: func(string) string { return "" }}
	return r.sip()
}

// WithDefaults fills every zero field with its default.
func (c SIP) WithDefaults() SIP {
	d := defaultSIP()
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.RTPPortMin, d.RTPPortMin)
	def(&c.RTPPortMax, d.RTPPortMax)
	def(&c.MaxMessageSeconds, d.MaxMessageSeconds)
	def(&c.MaxGreetingSeconds, d.MaxGreetingSeconds)
	def(&c.MWIExpires, d.MWIExpires)
	def(&c.MaxCalls, d.MaxCalls)
	def(&c.DialogRate, d.DialogRate)
	def(&c.DialogBurst, d.DialogBurst)
	def(&c.MaxCallsPerSource, d.MaxCallsPerSource)
	def(&c.MaxCallsPerCaller, d.MaxCallsPerCaller)
	def(&c.MaxSubsPerMailbox, d.MaxSubsPerMailbox)
	def(&c.MaxSubsPerSource, d.MaxSubsPerSource)
	defD(&c.SilenceTimeout, d.SilenceTimeout)
	defD(&c.RTPTimeout, d.RTPTimeout)
	defD(&c.DigitTimeout, d.DigitTimeout)
	defD(&c.MaxCallDuration, d.MaxCallDuration)
	defD(&c.DrainTimeout, DefaultDrainTimeout(c.MaxMessageSeconds, c.MaxGreetingSeconds))
	if c.VoiceLevel == 0 {
		c.VoiceLevel = d.VoiceLevel
	}
	return c
}

// DefaultDrainTimeout is the drain a pod needs so that a deposit that began just before it was
// told to stop still ends normally: a greeting of up to maxGreeting seconds, a message of up
// to maxMessage seconds, and 15 s for prompts and storing. The deployment's termination grace
// period is derived from it.
func DefaultDrainTimeout(maxMessage, maxGreeting int) time.Duration {
	return time.Duration(maxMessage+maxGreeting+15) * time.Second
}

// Validate reports the first problem, naming its variable.
func (c SIP) Validate() error {
	switch {
	case c.RTPPortMin < 1024 || c.RTPPortMax > 65535 || c.RTPPortMin >= c.RTPPortMax:
		return fmt.Errorf("%s: range %d-%d must be within 1024-65535 and not empty", EnvSIPRTPPorts.Name, c.RTPPortMin, c.RTPPortMax)
	case c.MediaIP != "" && net.ParseIP(c.MediaIP) == nil:
		return fmt.Errorf("%s: %q is not an IP address", EnvSIPMediaIP.Name, c.MediaIP)
	case c.RTPBindIP != "" && net.ParseIP(c.RTPBindIP) == nil:
		return fmt.Errorf("%s: %q is not an IP address", EnvSIPRTPBindIP.Name, c.RTPBindIP)
	case c.SilenceTimeout < 0 || c.RTPTimeout < 0 || c.DigitTimeout < 0 || c.MaxCallDuration < 0 || c.DrainTimeout < 0:
		return fmt.Errorf("VOICEMAIL_SIP_*_TIMEOUT: timeouts must be positive")
	}
	for _, n := range c.AccessNumbers {
		if n == "" || strings.ContainsAny(n, "@;: ") {
			return fmt.Errorf("%s: %q is not a number", EnvSIPAccessNumbers.Name, n)
		}
	}
	return nil
}

func (r *reader) sip() SIP {
	before := len(r.errs)
	c := SIP{
		MediaIP:            r.str(EnvSIPMediaIP),
		RTPBindIP:          r.str(EnvSIPRTPBindIP),
		Domain:             r.str(EnvSIPDomain),
		AccessNumbers:      r.list(EnvSIPAccessNumbers),
		MaxGreetingSeconds: defaultMaxGreetingSeconds,
		VoiceLevel:         defaultVoiceLevel,
	}
	if v := r.str(EnvSIPRTPPorts); v != "" {
		lo, hi, ok := strings.Cut(v, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if !ok || err1 != nil || err2 != nil {
			r.bad(EnvSIPRTPPorts, "%q is not a range like 10000-20000", v)
		} else {
			c.RTPPortMin, c.RTPPortMax = a, b
		}
	}
	c.TrustedPeers = r.prefixes(EnvSIPTrustedPeers)
	for _, d := range r.list(EnvSIPMWIDomains) {
		if !ValidMWIDomain(d) {
			r.bad(EnvSIPMWIDomains, "%q is not a domain name or IP address", d)
			continue
		}
		c.MWIDomains = append(c.MWIDomains, d)
	}
	if v := r.str(EnvSIPDrainTimeout); v != "" {
		x, err := time.ParseDuration(v)
		if err != nil || x <= 0 {
			r.bad(EnvSIPDrainTimeout, "%q is not a positive duration like 10s", v)
		}
		c.DrainTimeout = x
	}
	for _, d := range []struct {
		v   Var
		dst *time.Duration
	}{
		{EnvSIPSilenceTimeout, &c.SilenceTimeout},
		{EnvSIPRTPTimeout, &c.RTPTimeout},
		{EnvSIPDigitTimeout, &c.DigitTimeout},
		{EnvSIPMaxCallDuration, &c.MaxCallDuration},
	} {
		s := r.str(d.v)
		x, err := time.ParseDuration(s)
		if err != nil || x <= 0 {
			r.bad(d.v, "%q is not a positive duration like 10s", s)
			continue
		}
		*d.dst = x
	}
	for _, d := range []struct {
		v   Var
		dst *int
	}{
		{EnvSIPMaxCalls, &c.MaxCalls},
		{EnvSIPMWIExpires, &c.MWIExpires},
		{EnvSIPMaxMessageSeconds, &c.MaxMessageSeconds},
		{EnvSIPDialogRate, &c.DialogRate},
		{EnvSIPDialogBurst, &c.DialogBurst},
		{EnvSIPMaxCallsPerSource, &c.MaxCallsPerSource},
		{EnvSIPMaxCallsPerCaller, &c.MaxCallsPerCaller},
		{EnvSIPMaxSubsPerMailbox, &c.MaxSubsPerMailbox},
		{EnvSIPMaxSubsPerSource, &c.MaxSubsPerSource},
	} {
		s := r.str(d.v)
		x, err := strconv.Atoi(s)
		if err != nil || x <= 0 {
			r.bad(d.v, "%q is not a positive integer", s)
			continue
		}
		*d.dst = x
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout(c.MaxMessageSeconds, c.MaxGreetingSeconds)
	}
	if len(r.errs) == before {
		if err := c.Validate(); err != nil {
			r.errs = append(r.errs, err)
		}
	}
	return c
}

func (c SIP) environ(e *environ) {
	e.str(EnvSIPMediaIP, c.MediaIP)
	e.str(EnvSIPRTPBindIP, c.RTPBindIP)
	if c.RTPPortMin != 0 || c.RTPPortMax != 0 {
		e.str(EnvSIPRTPPorts, fmt.Sprintf("%d-%d", c.RTPPortMin, c.RTPPortMax))
	}
	e.list(EnvSIPAccessNumbers, c.AccessNumbers)
	e.str(EnvSIPDomain, c.Domain)
	e.optDur(EnvSIPSilenceTimeout, c.SilenceTimeout)
	e.optDur(EnvSIPRTPTimeout, c.RTPTimeout)
	e.optDur(EnvSIPDigitTimeout, c.DigitTimeout)
	e.optInt(EnvSIPMaxMessageSeconds, c.MaxMessageSeconds)
	e.optInt(EnvSIPMaxCalls, c.MaxCalls)
	e.optDur(EnvSIPMaxCallDuration, c.MaxCallDuration)
	e.optInt(EnvSIPMWIExpires, c.MWIExpires)
	e.optInt(EnvSIPDialogRate, c.DialogRate)
	e.optInt(EnvSIPDialogBurst, c.DialogBurst)
	e.optInt(EnvSIPMaxCallsPerSource, c.MaxCallsPerSource)
	e.optInt(EnvSIPMaxCallsPerCaller, c.MaxCallsPerCaller)
	e.optInt(EnvSIPMaxSubsPerMailbox, c.MaxSubsPerMailbox)
	e.optInt(EnvSIPMaxSubsPerSource, c.MaxSubsPerSource)
	e.prefixes(EnvSIPTrustedPeers, c.TrustedPeers)
	e.list(EnvSIPMWIDomains, c.MWIDomains)
	// A drain derived from the limits is left derived, so it follows them.
	if c.DrainTimeout != DefaultDrainTimeout(c.MaxMessageSeconds, c.MaxGreetingSeconds) {
		e.optDur(EnvSIPDrainTimeout, c.DrainTimeout)
	}
}

// ParsePeers reads "10.0.0.0/16, 192.0.2.7" (addresses or CIDR prefixes); an address is a
// prefix of its full length.
func ParsePeers(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or prefix", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or prefix", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
