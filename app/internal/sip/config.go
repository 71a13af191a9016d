package sip

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config tunes the SIP front end. Zero values take the defaults noted on each field.
type Config struct {
	// MediaIP is the address written into SDP answers (c=). Empty: the local address that
	// routes to the caller's media address, which is right unless the pod sits behind NAT.
	MediaIP string
	// RTPBindIP is where RTP sockets listen. Default all interfaces.
	RTPBindIP string
	// RTPPortMin and RTPPortMax bound the RTP ports (even ports only). Default 10000-20000.
	RTPPortMin, RTPPortMax int
	// AccessNumbers are the Request-URI users that reach the retrieval menu (e.g. "8500").
	// Calling one's own mailbox number from that number also reaches it.
	AccessNumbers []string
	// Domain is the host in MWI Message-Account and Contact. Default the listen host.
	Domain string
	// SilenceTimeout ends a recording after this much silence. Default 10 s.
	SilenceTimeout time.Duration
	// RTPTimeout ends a call whose media stopped (caller vanished without BYE). Default 30 s.
	RTPTimeout time.Duration
	// DigitTimeout is how long menus wait for a key. Default 6 s.
	DigitTimeout time.Duration
	// MaxMessageSeconds is used when a mailbox sets no limit. Default 180.
	MaxMessageSeconds int
	// MaxGreetingSeconds limits greetings recorded by phone. Default 60.
	MaxGreetingSeconds int
	// MWIExpires caps SUBSCRIBE expiry (seconds). Default 3600.
	MWIExpires int
	// MaxCalls rejects new calls with 503 beyond this many. Default 1000.
	MaxCalls int
	// MaxCallDuration hangs up any call after this long (a stuck menu, a forgotten line).
	// Default 1 h.
	MaxCallDuration time.Duration
	// TrustedPeers are the addresses (the stamp's dispatcher, the operator's SBCs) that may
	// start calls and subscriptions and whose P-Asserted-Identity is believed. Empty: anyone
	// may call (local runs) and no identity header is believed.
	TrustedPeers peers
	// DrainTimeout is how long calls in progress may go on once the server is told to stop
	// (Serve's context ends): new INVITEs and SUBSCRIBEs and OPTIONS probes get 503 meanwhile,
	// so a dispatcher moves new dialogs to other replicas. Default the longest deposit: the
	// greeting, the message and 15 s of prompts and storing (MaxGreetingSeconds +
	// MaxMessageSeconds + 15 s).
	DrainTimeout time.Duration
	// DialogRate and DialogBurst limit new dialogs (INVITE, SUBSCRIBE) per second from one
	// untrusted source (defaults 5 and 20).
	DialogRate, DialogBurst int
	// MaxCallsPerSource caps concurrent calls from one untrusted source (default 8);
	// MaxCallsPerCaller caps concurrent calls of one caller asserted by a trusted peer (default 4).
	MaxCallsPerSource, MaxCallsPerCaller int
	// MaxSubsPerMailbox and MaxSubsPerSource bound MWI subscriptions (defaults 8 and 64; a
	// trusted peer's subscriptions are bounded per mailbox only).
	MaxSubsPerMailbox, MaxSubsPerSource int
	// VoiceLevel is the RMS level (16-bit scale) that counts as speech for the silence timeout.
	// Default 300.
	VoiceLevel float64
}

func (c Config) withDefaults() Config {
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
	def(&c.RTPPortMin, 10000)
	def(&c.RTPPortMax, 20000)
	def(&c.MaxMessageSeconds, 180)
	def(&c.MaxGreetingSeconds, 60)
	def(&c.MWIExpires, 3600)
	def(&c.MaxCalls, 1000)
	def(&c.DialogRate, 5)
	def(&c.DialogBurst, 20)
	def(&c.MaxCallsPerSource, 8)
	def(&c.MaxCallsPerCaller, 4)
	def(&c.MaxSubsPerMailbox, 8)
	def(&c.MaxSubsPerSource, 64)
	defD(&c.SilenceTimeout, 10*time.Second)
	defD(&c.RTPTimeout, 30*time.Second)
	defD(&c.DigitTimeout, 6*time.Second)
	defD(&c.MaxCallDuration, time.Hour)
	defD(&c.DrainTimeout, DefaultDrainTimeout(c.MaxMessageSeconds, c.MaxGreetingSeconds))
	if c.VoiceLevel == 0 {
		c.VoiceLevel = 300
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

func (c Config) validate() error {
	switch {
	case c.RTPPortMin < 1024 || c.RTPPortMax > 65535 || c.RTPPortMin >= c.RTPPortMax:
		return fmt.Errorf("VOICEMAIL_SIP_RTP_PORTS: range %d-%d must be within 1024-65535 and not empty", c.RTPPortMin, c.RTPPortMax)
	case c.MediaIP != "" && net.ParseIP(c.MediaIP) == nil:
		return fmt.Errorf("VOICEMAIL_SIP_MEDIA_IP: %q is not an IP address", c.MediaIP)
	case c.RTPBindIP != "" && net.ParseIP(c.RTPBindIP) == nil:
		return fmt.Errorf("VOICEMAIL_SIP_RTP_BIND_IP: %q is not an IP address", c.RTPBindIP)
	case c.SilenceTimeout < 0 || c.RTPTimeout < 0 || c.DigitTimeout < 0 || c.MaxCallDuration < 0 || c.DrainTimeout < 0:
		return fmt.Errorf("VOICEMAIL_SIP_*_TIMEOUT: timeouts must be positive")
	}
	for _, n := range c.AccessNumbers {
		if n == "" || strings.ContainsAny(n, "@;: ") {
			return fmt.Errorf("VOICEMAIL_SIP_ACCESS_NUMBERS: %q is not a number", n)
		}
	}
	return nil
}

// ConfigFromEnv reads the VOICEMAIL_SIP_* variables through getenv (os.Getenv in main). Errors
// name the offending variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	c.MediaIP = getenv("VOICEMAIL_SIP_MEDIA_IP")
	c.RTPBindIP = getenv("VOICEMAIL_SIP_RTP_BIND_IP")
	c.Domain = getenv("VOICEMAIL_SIP_DOMAIN")
	if v := getenv("VOICEMAIL_SIP_RTP_PORTS"); v != "" {
		lo, hi, ok := strings.Cut(v, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if !ok || err1 != nil || err2 != nil {
			return c, fmt.Errorf("VOICEMAIL_SIP_RTP_PORTS: %q is not a range like 10000-20000", v)
		}
		c.RTPPortMin, c.RTPPortMax = a, b
	}
	if v := getenv("VOICEMAIL_SIP_TRUSTED_PEERS"); v != "" {
		ps, err := parsePeers(v)
		if err != nil {
			return c, err
		}
		c.TrustedPeers = ps
	}
	if v := getenv("VOICEMAIL_SIP_ACCESS_NUMBERS"); v != "" {
		for _, n := range strings.Split(v, ",") {
			c.AccessNumbers = append(c.AccessNumbers, strings.TrimSpace(n))
		}
	}
	durations := []struct {
		key string
		dst *time.Duration
	}{
		{"VOICEMAIL_SIP_SILENCE_TIMEOUT", &c.SilenceTimeout},
		{"VOICEMAIL_SIP_RTP_TIMEOUT", &c.RTPTimeout},
		{"VOICEMAIL_SIP_DIGIT_TIMEOUT", &c.DigitTimeout},
		{"VOICEMAIL_SIP_MAX_CALL_DURATION", &c.MaxCallDuration},
		{"VOICEMAIL_SIP_DRAIN_TIMEOUT", &c.DrainTimeout},
	}
	for _, d := range durations {
		if v := getenv(d.key); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x <= 0 {
				return c, fmt.Errorf("%s: %q is not a positive duration like 10s", d.key, v)
			}
			*d.dst = x
		}
	}
	ints := []struct {
		key string
		dst *int
	}{
		{"VOICEMAIL_SIP_MAX_CALLS", &c.MaxCalls},
		{"VOICEMAIL_SIP_MWI_EXPIRES", &c.MWIExpires},
		{"VOICEMAIL_SIP_MAX_MESSAGE_SECONDS", &c.MaxMessageSeconds},
		{"VOICEMAIL_SIP_DIALOG_RATE", &c.DialogRate},
		{"VOICEMAIL_SIP_DIALOG_BURST", &c.DialogBurst},
		{"VOICEMAIL_SIP_MAX_CALLS_PER_SOURCE", &c.MaxCallsPerSource},
		{"VOICEMAIL_SIP_MAX_CALLS_PER_CALLER", &c.MaxCallsPerCaller},
		{"VOICEMAIL_SIP_MAX_SUBSCRIPTIONS_PER_MAILBOX", &c.MaxSubsPerMailbox},
		{"VOICEMAIL_SIP_MAX_SUBSCRIPTIONS_PER_SOURCE", &c.MaxSubsPerSource},
	}
	for _, d := range ints {
		if v := getenv(d.key); v != "" {
			x, err := strconv.Atoi(v)
			if err != nil || x <= 0 {
				return c, fmt.Errorf("%s: %q is not a positive integer", d.key, v)
			}
			*d.dst = x
		}
	}
	if err := c.withDefaults().validate(); err != nil {
		return c, err
	}
	return c, nil
}
