package contract

import "time"

// The stamp binary's TLS and metrics variables: one certificate for the stamp's public name
// serves the HTTP API (and the Traffic Manager probe) and IMAP. SIP over TLS ends at the stamp's
// dispatcher, which reads the same Key Vault certificate (see app/deploy).
var (
	EnvTLSCert          = Var{"VOICEMAIL_TLS_CERT", "", "PEM certificate chain file of the stamp's public name; set, the HTTP API serves HTTPS only and IMAP offers STARTTLS and refuses login before TLS (LOGINDISABLED); may be the same file as the key (Key Vault's PEM export)"}
	EnvTLSKey           = Var{"VOICEMAIL_TLS_KEY", "", "PEM private key file of the certificate"}
	EnvTLSCheckInterval = Var{"VOICEMAIL_TLS_CHECK_INTERVAL", "10s", "the certificate files are re-read at most this often (on a handshake): a renewed certificate is served without a restart (0s-10m)"}
	EnvMetricsAddr      = Var{"VOICEMAIL_METRICS_ADDR", "", "plain-HTTP listener of " + MetricsPath + " (Prometheus), kept off the public API listener and Service (deployed pods: :9090); empty disables metrics"}
)

// MetricsPath is where the metrics listener serves Prometheus' text format.
const MetricsPath = "/metrics"

// Expiry monitoring of the certificate actually served. Every process that serves the edge
// certificate (the stamp binary; the dispatcher pod's sip-targets sidecar for Kamailio's copy)
// logs EdgeCertificateLogMessage at info level when it starts and every
// EdgeCertificateReportInterval, with the fields "notAfter" (RFC 3339) and "daysLeft"; the
// health model's KQL (monitoring/kql/stamp) reads the newest line of each container from
// Container insights' ContainerLogV2, and an alert fires monitoring.certificateExpiryDays ahead.
// The stamp binary also exports EdgeCertificateMetric (Unix seconds) for Prometheus.
const (
	EdgeCertificateLogMessage     = "edge certificate"
	EdgeCertificateReportInterval = 15 * time.Minute
	EdgeCertificateMetric         = "voicemail_tls_certificate_not_after_seconds"
)

func tlsVars() []Var {
	return []Var{EnvTLSCert, EnvTLSKey, EnvTLSCheckInterval, EnvMetricsAddr}
}

// TLS is the edge certificate's configuration. Both files empty: no TLS (plain HTTP, IMAP
// without STARTTLS), for tests and runs that bring their own terminator.
type TLS struct {
	CertFile, KeyFile string
	CheckInterval     time.Duration
}

// Enabled reports whether a certificate is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" }

func (r *reader) tls() TLS {
	t := TLS{
		CertFile:      r.str(EnvTLSCert),
		KeyFile:       r.str(EnvTLSKey),
		CheckInterval: r.dur(EnvTLSCheckInterval, 0, 10*time.Minute),
	}
	if (t.CertFile != "") != (t.KeyFile != "") {
		r.bad(EnvTLSCert, "%s and %s must be set together", EnvTLSCert.Name, EnvTLSKey.Name)
	}
	return t
}

func (t TLS) environ(e *environ) {
	e.str(EnvTLSCert, t.CertFile)
	e.str(EnvTLSKey, t.KeyFile)
	e.dur(EnvTLSCheckInterval, t.CheckInterval)
}
