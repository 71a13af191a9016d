package imap

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors, registered on Config.Registerer when set.
type metrics struct {
	sessions prometheus.Gauge
	commands *prometheus.CounterVec
	logins   *prometheus.CounterVec
	evicted  prometheus.Counter
	late     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "voicemail_imap_sessions", Help: "Open IMAP connections.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "voicemail_imap_commands_total", Help: "IMAP commands by command and result (OK, NO, BAD).",
		}, []string{"command", "status"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "voicemail_imap_logins_total", Help: "IMAP logins by result (ok, failed, throttled, locked).",
		}, []string{"result"}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "voicemail_imap_preauth_evicted_total", Help: "Connections that had not logged in, closed to make room for a new one.",
		}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "voicemail_imap_late_arrivals_total",
			Help: "INBOX messages that arrived beneath UIDs already shown (replication lag above the visibility delay), by outcome: placed (above UIDNEXT) or uidvalidity-raised (no record could name the message).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.sessions, m.commands, m.logins, m.evicted, m.late)
	}
	return m
}

// knownCommands bounds the command label's cardinality; anything else counts as OTHER.
var knownCommands = map[string]bool{
	"CAPABILITY": true, "NOOP": true, "CHECK": true, "LOGOUT": true, "STARTTLS": true, "LOGIN": true,
	"AUTHENTICATE": true, "ID": true, "ENABLE": true, "SELECT": true, "EXAMINE": true, "STATUS": true,
	"LIST": true, "LSUB": true, "NAMESPACE": true, "SUBSCRIBE": true, "UNSUBSCRIBE": true,
	"APPEND": true, "GETQUOTAROOT": true, "GETQUOTA": true, "XCHANGE_TUI_PWD": true,
	"XCHANGE_VM_LANG": true, "IDLE": true, "FETCH": true, "UID FETCH": true, "STORE": true,
	"UID STORE": true, "SEARCH": true, "UID SEARCH": true, "EXPUNGE": true, "CLOSE": true, "UNSELECT": true,
}

func (m *metrics) command(name, status string) {
	if !knownCommands[name] {
		name = "OTHER"
	}
	m.commands.WithLabelValues(name, status).Inc()
}
