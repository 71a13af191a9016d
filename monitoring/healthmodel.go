// Package monitoring is the health model as code: KQL functions kept as files under kql/
// (one folder per workspace kind), rendered with the stack's thresholds and saved in every
// stamp, region and the global Log Analytics workspace; the alerts on the model's root and on
// the failures the app cannot see itself, routed to the configured action groups; standard
// availability tests per stamp and one global; and a workbook with a traffic light per
// stamp, region and the whole deployment.
package monitoring

import (
	"embed"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

//go:embed kql
var kqlFiles embed.FS

// Function sets, one per kind of workspace.
const (
	SetStamp  = "stamp"
	SetRegion = "region"
	SetGlobal = "global"
)

// ErrorBudget is how many logged errors in five minutes a stamp may have and stay healthy.
const ErrorBudget = 10

// Function is one rendered KQL function: its alias is the file name.
type Function struct {
	Name        string
	Query       string
	Description string // the file's leading comment
}

var placeholder = regexp.MustCompile(`\{\{[A-Za-z]+\}\}`)

// Render reads a set's .kql files and fills in their {{placeholders}}; a placeholder without
// a value is an error, so a file cannot reach Azure half-rendered.
func Render(set string, vars map[string]string) ([]Function, error) {
	entries, err := kqlFiles.ReadDir(path.Join("kql", set))
	if err != nil {
		return nil, fmt.Errorf("kql set %s: %w", set, err)
	}
	var out []Function
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".kql") {
			continue
		}
		b, err := kqlFiles.ReadFile(path.Join("kql", set, e.Name()))
		if err != nil {
			return nil, err
		}
		q := string(b)
		for k, v := range vars {
			q = strings.ReplaceAll(q, "{{"+k+"}}", v)
		}
		if m := placeholder.FindString(q); m != "" {
			return nil, fmt.Errorf("kql %s/%s: no value for %s", set, e.Name(), m)
		}
		var desc []string
		for _, line := range strings.Split(q, "\n") {
			if !strings.HasPrefix(line, "//") {
				break
			}
			desc = append(desc, strings.TrimSpace(strings.TrimPrefix(line, "//")))
		}
		out = append(out, Function{Name: strings.TrimSuffix(e.Name(), ".kql"), Query: strings.TrimSpace(q), Description: strings.Join(desc, " ")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// thresholds are the placeholders every set shares.
func thresholds(t topology.Topology) map[string]string {
	m := t.Config.Monitoring
	return map[string]string{
		"healthThreshold":   num(m.HealthThreshold),
		"degradedThreshold": num(m.DegradedThreshold),
		// Errors alone degrade a stamp: halfway between the two thresholds.
		"degradedScore": num((m.HealthThreshold + m.DegradedThreshold) / 2),
		"errorBudget":   strconv.Itoa(ErrorBudget),
		// The log line every edge-certificate server writes (contract, shared with the app).
		"edgeCertificateMessage": contract.EdgeCertificateLogMessage,
		// The line a stamp logs for a message that reached IMAP after the visibility delay.
		"imapLateArrivalMessage": contract.IMAPLateArrivalLogMessage,
		"lateArrivalPlaced":      contract.IMAPLateArrivalPlaced,
		"lateArrivalRaised":      contract.IMAPLateArrivalUIDValidityRaised,
	}
}

// StampFunctions renders the stamp set for one stamp.
func StampFunctions(t topology.Topology, s topology.Stamp) ([]Function, error) {
	v := thresholds(t)
	v["stamp"], v["region"] = s.ID, s.Region
	return Render(SetStamp, v)
}

// RegionFunctions renders the region set.
func RegionFunctions(t topology.Topology) ([]Function, error) {
	return Render(SetRegion, thresholds(t))
}

// GlobalFunctions renders the global set; it lists every stamp so one that stops reporting
// still appears, scored 0.
func GlobalFunctions(t topology.Topology) ([]Function, error) {
	v := thresholds(t)
	var rows []string
	for _, s := range t.Stamps {
		rows = append(rows, strconv.Quote(s.ID), strconv.Quote(s.Region))
	}
	v["stampRows"] = strings.Join(rows, ", ")
	return Render(SetGlobal, v)
}

// QueryAlert is a scheduled query alert on a workspace: it fires when Query returns rows.
type QueryAlert struct {
	Name        string
	Set         string // which workspace kind's functions the query uses
	Scope       string // "global", a region name or a stamp id
	Severity    int
	Query       string
	Description string
	Window      string // ISO 8601 evaluation window and frequency
}

// QueryAlerts are the health model's log alerts: its root (the whole deployment), each region,
// each stamp seen from inside, the edge certificates and IMAP late arrivals of each stamp, and
// secret and certificate expiry in each region's Key Vault.
func QueryAlerts(t topology.Topology) []QueryAlert {
	out := []QueryAlert{
		{Name: "health-root", Set: SetGlobal, Scope: "global", Severity: 0, Window: "PT5M",
			Query:       `WholeHealth() | where State == "Unhealthy" | project Scope, HealthScore, State`,
			Description: "The deployment's health score is below the unhealthy threshold."},
		{Name: "health-degraded", Set: SetGlobal, Scope: "global", Severity: 2, Window: "PT5M",
			Query:       `WholeHealth() | where State == "Degraded" | project Scope, HealthScore, State`,
			Description: "The deployment is degraded (a region or stamps lost; capacity headroom in use)."},
		{Name: "region-unhealthy", Set: SetGlobal, Scope: "global", Severity: 1, Window: "PT5M",
			Query:       `RegionHealth() | where State == "Unhealthy" | project Region, HealthScore, State`,
			Description: "A region's stamps fail their availability tests."},
		{Name: "stamp-unreachable", Set: SetGlobal, Scope: "global", Severity: 2, Window: "PT5M",
			Query:       `StampHealth() | where State != "Healthy" | project Stamp, Region, HealthScore, State`,
			Description: "A stamp fails its availability test from outside."},
	}
	for _, s := range t.Stamps {
		out = append(out, QueryAlert{Name: "stamp-health-" + s.Key, Set: SetStamp, Scope: s.ID, Severity: 1, Window: "PT5M",
			Query:       `StampHealthStatus() | where State == "Unhealthy" | project Stamp, Region, HealthScore, State`,
			Description: "The stamp's pods, nodes or app report unhealthy from inside the cluster."})
	}
	// The edge certificate is a Key Vault secret (key and chain), which the certificate
	// lifecycle events below never see; these watch what every container of each stamp presents
	// (HTTPS, IMAPS and STARTTLS in the pods, SIP over TLS at the dispatchers), from their logs.
	// A log search alert rule (https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-create-log-alert-rule)
	// over Container insights' ContainerLogV2, whose LogMessage holds a JSON log line's fields
	// (https://learn.microsoft.com/azure/azure-monitor/containers/container-insights-logs-schema).
	for _, s := range t.Stamps {
		out = append(out, QueryAlert{Name: "edge-certificate-expiry-" + s.Key, Set: SetStamp, Scope: s.ID, Severity: 2, Window: "PT1H",
			Query: fmt.Sprintf(`EdgeCertificates() | where DaysLeft < %d | project PodName, ContainerName, Subject, Serial, NotAfter, DaysLeft`,
				t.Config.Monitoring.CertificateExpiryDays),
			Description: fmt.Sprintf("An edge TLS certificate served in the stamp expires within %d days (monitoring.certificateExpiryDays): store the renewed chain as a new version of the edge-tls secret.",
				t.Config.Monitoring.CertificateExpiryDays)})
	}
	// The watch above sees only containers that report; one that stops (TLS not loaded, a log
	// level above info) would leave its certificate unwatched without a word. Every running pod
	// of the namespace serves TLS (the voicemail pods, and the dispatchers through their
	// sidecar) and reports on start and every 15 minutes.
	for _, s := range t.Stamps {
		out = append(out, QueryAlert{Name: "edge-certificate-unreported-" + s.Key, Set: SetStamp, Scope: s.ID, Severity: 3, Window: "PT1H",
			Query: `let reporting = EdgeCertificates() | distinct PodName;
KubePodInventory
| where TimeGenerated > ago(15m) and Namespace == "voicemail" and PodStatus == "Running"
| distinct Name
| where Name !in (reporting)
| project PodName = Name`,
			Description: "A running pod of the stamp has not reported the edge certificate it serves for an hour (TLS not loaded, or its log level above info), so that certificate's expiry is not watched."})
	}
	// A message that reaches INBOX later than the visibility delay lands beneath UIDs clients may
	// have synced past (or makes the stamp raise UIDVALIDITY, and clients resync): the delay is
	// below cross-region replication lag plus clock skew. Cosmos DB sends a region's writes to
	// the others asynchronously (https://learn.microsoft.com/azure/cosmos-db/multi-region-writes)
	// and its ReplicationLatency metric (the cosmos-replication-lag alert) shows how late.
	cause := "cross-region replication lag plus clock skew exceeded the delay"
	remedy := "Raise voicemail:imap.visibilityDelay above the lag (Cosmos DB ReplicationLatency)."
	if len(t.Regions) == 1 {
		// Nothing arrives from another region. A deposit stored more than a second after its
		// id's time is ordered at its store time, so only a delay below a second plus clock
		// skew between the stamp's processes lets one arrive late.
		cause = "the delay is below the store's write time (up to a second) plus clock skew between processes"
		remedy = "Raise voicemail:imap.visibilityDelay above a second plus clock skew."
	}
	for _, s := range t.Stamps {
		out = append(out, QueryAlert{Name: "imap-late-arrivals-" + s.Key, Set: SetStamp, Scope: s.ID, Severity: 2, Window: "PT1H",
			Query: fmt.Sprintf(`IMAPLateArrivals() | summarize Arrivals = count(), UIDValidityRaised = countif(Outcome == %q), Mailboxes = dcount(Mailbox) by PodName`,
				contract.IMAPLateArrivalUIDValidityRaised),
			Description: fmt.Sprintf("Messages reached IMAP in this stamp later than imap.visibilityDelay (%s) after they joined the mailbox: %s. Each was placed above UIDNEXT (clients of a stamp that had already shown it see it expunged and added again, once), or, where no record of what IMAP showed could name it, UIDVALIDITY was raised and clients resync fully. %s",
				t.Config.IMAP.Delay(), cause, remedy)})
	}
	for _, r := range t.Regions {
		out = append(out, QueryAlert{Name: "key-vault-expiry-" + r.Short, Set: SetRegion, Scope: r.Name, Severity: 2, Window: "PT1H",
			Query: `KeyVaultExpiry() | project TimeGenerated, Vault, OperationName, Object`,
			Description: "A secret or certificate in the region's Key Vault is within 30 days of the expiry its current version was stored with, or past it. " +
				"For edge-tls, store the renewed certificate (az keyvault secret set --expires); edge-certificate-expiry alerts watch what the pods present."})
	}
	return out
}

// WorkbookQuery is one traffic-light grid of the workbook.
type WorkbookQuery struct {
	Title string
	Query string
}

// WorkbookQueries are the workbook's grids, run against the global workspace.
func WorkbookQueries() []WorkbookQuery {
	return []WorkbookQuery{
		{"Deployment", `WholeHealth() | project Scope, HealthScore, State`},
		{"Regions", `RegionHealth() | project Region, HealthScore, State | order by Region asc`},
		{"Stamps", `StampHealth() | project Stamp, Region, HealthScore, State | order by Region asc, Stamp asc`},
		{"Cosmos DB", `CosmosHealth() | project Component, HealthScore, Detail`},
	}
}
