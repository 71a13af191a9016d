package monitoring_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/topology"
	"github.com/voicemail-platform/voicemail/monitoring"
)

// Tables the health model reads, with the columns it uses, as the Azure Monitor table
// reference lists them (https://learn.microsoft.com/azure/azure-monitor/reference/tables/).
var tables = map[string]string{
	"KubePodInventory":       "(TimeGenerated:datetime, Namespace:string, Name:string, ContainerName:string, PodStatus:string, ContainerStatus:string)",
	"KubeNodeInventory":      "(TimeGenerated:datetime, Computer:string, Status:string)",
	"ContainerLogV2":         "(TimeGenerated:datetime, PodNamespace:string, PodName:string, ContainerName:string, LogMessage:dynamic, LogLevel:string)",
	"AppAvailabilityResults": "(TimeGenerated:datetime, Name:string, Location:string, Success:bool, Message:string, DurationMs:real)",
	"CDBDataPlaneRequests":   "(TimeGenerated:datetime, StatusCode:int, OperationName:string, DatabaseName:string, CollectionName:string)",
	"AZKVAuditLogs":          "(TimeGenerated:datetime, OperationName:string, Id:string, _ResourceId:string, ResultType:string)",
}

// outputs is each function's contract: the columns alerts, the workbook and other functions
// rely on.
var outputs = map[string][]string{
	"StampPodHealth":    {"Component:string", "HealthScore:real", "Detail:string"},
	"StampNodeHealth":   {"Component:string", "HealthScore:real", "Detail:string"},
	"StampAppHealth":    {"Component:string", "HealthScore:real", "Detail:string"},
	"StampHealthStatus": {"Stamp:string", "Region:string", "HealthScore:real", "State:string", "Components:dynamic"},
	"StampAvailability": {"Stamp:string", "HealthScore:real"},
	"CosmosHealth":      {"Component:string", "HealthScore:real", "Detail:string"},
	"StampHealth":       {"Stamp:string", "Region:string", "HealthScore:real", "State:string"},
	"RegionHealth":      {"Region:string", "HealthScore:real", "State:string"},
	"WholeHealth":       {"Scope:string", "HealthScore:real", "State:string"},
	"KeyVaultExpiry":    {"TimeGenerated:datetime", "Vault:string", "OperationName:string", "Object:string"},
	"EdgeCertificates":  {"PodName:string", "ContainerName:string", "Subject:string", "Serial:string", "NotAfter:datetime", "DaysLeft:real"},
	"IMAPLateArrivals":  {"TimeGenerated:datetime", "PodName:string", "Mailbox:string", "Id:string", "Outcome:string"},
}

type analysis struct {
	Name        string   `json:"name"`
	Diagnostics []string `json:"diagnostics"`
	Columns     []string `json:"columns"`
}

// kusto analyzes functions and queries with Microsoft's Kusto language service. The test
// fails (never skips) when node or the package is missing: .ci/run installs both.
func kusto(t *testing.T, fns []monitoring.Function, queries []string) map[string]analysis {
	t.Helper()
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is required (.ci/run installs the Kusto language service with npm)")
	root, err := exec.Command("npm", "root", "-g").Output()
	require.NoError(t, err, "npm root -g")
	pkg := filepath.Join(strings.TrimSpace(string(root)), "@kusto", "language-service-next")
	_, err = os.Stat(filepath.Join(pkg, "Kusto.Language.Bridge.js"))
	require.NoError(t, err, "install it: npm install -g @kusto/language-service-next@12.4.1")

	in := map[string]any{"tables": tables, "functions": map[string]string{}, "queries": queries}
	for _, f := range fns {
		in["functions"].(map[string]string)[f.Name] = f.Query
	}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "in.json")
	require.NoError(t, os.WriteFile(file, b, 0o600))
	cmd := exec.Command(node, filepath.Join("testdata", "kqlcheck.js"), file)
	cmd.Env = append(os.Environ(), "KUSTO_LANGUAGE_SERVICE="+pkg)
	out, err := cmd.Output()
	require.NoError(t, err, "kqlcheck: %s", out)
	var res []analysis
	require.NoError(t, json.Unmarshal(out, &res))
	m := map[string]analysis{}
	for _, r := range res {
		m[r.Name] = r
	}
	return m
}

func prodTopology(t *testing.T) topology.Topology {
	t.Helper()
	c, err := config.LoadStackFile(filepath.Join("..", "Pulumi.prod.yaml"))
	require.NoError(t, err)
	topo, err := topology.Build(c)
	require.NoError(t, err)
	return topo
}

// rejected is a query the analyzer must reject: RegionHealth returns no Stamp column.
const rejected = `RegionHealth() | project Region, Stamp`

// analyzed runs the language service once over every function set (their names differ, so
// they share one database) and every alert and workbook query.
func analyzed(t *testing.T) (map[string][]monitoring.Function, map[string][]string, map[string]analysis) {
	t.Helper()
	topo := prodTopology(t)
	stampFns, err := monitoring.StampFunctions(topo, topo.Stamps[0])
	require.NoError(t, err)
	regionFns, err := monitoring.RegionFunctions(topo)
	require.NoError(t, err)
	globalFns, err := monitoring.GlobalFunctions(topo)
	require.NoError(t, err)
	sets := map[string][]monitoring.Function{monitoring.SetStamp: stampFns, monitoring.SetRegion: regionFns, monitoring.SetGlobal: globalFns}
	users := map[string][]string{}
	for _, a := range monitoring.QueryAlerts(topo) {
		users[a.Set] = append(users[a.Set], a.Query)
	}
	for _, w := range monitoring.WorkbookQueries() {
		users[monitoring.SetGlobal] = append(users[monitoring.SetGlobal], w.Query)
	}
	var all []monitoring.Function
	queries := []string{rejected}
	for set, fns := range sets {
		all = append(all, fns...)
		queries = append(queries, users[set]...)
	}
	return sets, users, kusto(t, all, queries)
}

// Every KQL file parses and analyzes without errors against the tables' schemas, returns
// its documented columns, and every alert and workbook query over it is valid; a query that
// asks a function for a column it lacks is rejected.
func TestKQLFunctionsAndTheirUsers(t *testing.T) {
	sets, users, res := analyzed(t)
	seen := 0
	for set, fns := range sets {
		for _, f := range fns {
			r, ok := res["function "+f.Name]
			require.True(t, ok, f.Name)
			assert.Empty(t, r.Diagnostics, "%s/%s.kql", set, f.Name)
			want, ok := outputs[f.Name]
			require.True(t, ok, "%s has no documented output columns in this test", f.Name)
			assert.Equal(t, want, r.Columns, "%s/%s.kql output columns", set, f.Name)
			seen++
		}
		require.NotEmpty(t, users[set], "every function set is used by an alert or the workbook")
		for _, q := range users[set] {
			r, ok := res[q]
			require.True(t, ok, q)
			assert.Empty(t, r.Diagnostics, "%s: %s", set, q)
		}
	}
	assert.Equal(t, len(outputs), seen, "every documented function exists")

	require.NotEmpty(t, res[rejected].Diagnostics, "the analyzer rejects an unknown column")
	assert.Contains(t, res[rejected].Diagnostics[0], "'Stamp'")
}

func TestRenderFailsOnMissingPlaceholder(t *testing.T) {
	_, err := monitoring.Render(monitoring.SetStamp, map[string]string{"stamp": "x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no value for {{")
}

// The global function lists every stamp, so a stamp that stops reporting still scores 0.
func TestGlobalFunctionsListEveryStamp(t *testing.T) {
	topo := prodTopology(t)
	fns, err := monitoring.GlobalFunctions(topo)
	require.NoError(t, err)
	for _, f := range fns {
		if f.Name == "StampHealth" {
			for _, s := range topo.Stamps {
				assert.Contains(t, f.Query, `"`+s.ID+`", "`+s.Region+`"`)
			}
			assert.Contains(t, f.Query, "HealthScore < 0.5")
			return
		}
	}
	t.Fatal("no StampHealth function")
}

// Every stamp has an alert on the edge certificate its containers present, firing
// monitoring.certificateExpiryDays ahead (the Key Vault certificate events never see the edge
// certificate, which is a secret).
func TestEdgeCertificateExpiryAlertPerStamp(t *testing.T) {
	topo := prodTopology(t)
	days := topo.Config.Monitoring.CertificateExpiryDays
	require.Positive(t, days)
	got := map[string]monitoring.QueryAlert{}
	for _, a := range monitoring.QueryAlerts(topo) {
		if strings.HasPrefix(a.Name, "edge-certificate-expiry-") {
			got[a.Scope] = a
		}
	}
	for _, s := range topo.Stamps {
		a, ok := got[s.ID]
		require.True(t, ok, "stamp %s has no edge certificate expiry alert", s.ID)
		assert.Equal(t, monitoring.SetStamp, a.Set)
		assert.Contains(t, a.Query, "EdgeCertificates()")
		assert.Contains(t, a.Query, fmt.Sprintf("DaysLeft < %d", days))
	}
	silent := 0
	for _, a := range monitoring.QueryAlerts(topo) {
		if strings.HasPrefix(a.Name, "edge-certificate-unreported-") {
			silent++
			assert.Contains(t, a.Query, "EdgeCertificates()", "pods that do not report are the ones the expiry watch misses")
		}
	}
	assert.Equal(t, len(topo.Stamps), silent, "one alert per stamp for pods that stopped reporting")
	fns, err := monitoring.StampFunctions(topo, topo.Stamps[0])
	require.NoError(t, err)
	for _, f := range fns {
		if f.Name == "EdgeCertificates" {
			assert.Contains(t, f.Query, `"`+contract.EdgeCertificateLogMessage+`"`, "the line the servers write")
			return
		}
	}
	t.Fatal("no EdgeCertificates function")
}

// Every stamp has a warning on messages that reached IMAP later than the visibility delay: the
// sign that imap.visibilityDelay is below cross-region replication lag. The function reads the
// line the stamp binary writes (contract), and the description names the key and its value.
func TestIMAPLateArrivalAlertPerStamp(t *testing.T) {
	topo := prodTopology(t)
	got := map[string]monitoring.QueryAlert{}
	for _, a := range monitoring.QueryAlerts(topo) {
		if strings.HasPrefix(a.Name, "imap-late-arrivals-") {
			got[a.Scope] = a
		}
	}
	require.Len(t, got, len(topo.Stamps), "one alert per stamp")
	for _, s := range topo.Stamps {
		a, ok := got[s.ID]
		require.True(t, ok, "stamp %s has no IMAP late-arrival alert", s.ID)
		assert.Equal(t, "imap-late-arrivals-"+s.Key, a.Name)
		assert.Equal(t, monitoring.SetStamp, a.Set)
		assert.Equal(t, 2, a.Severity, "a warning: clients keep working, the delay needs raising")
		assert.Contains(t, a.Query, "IMAPLateArrivals()")
		assert.Contains(t, a.Description, "imap.visibilityDelay ("+topo.Config.IMAP.Delay().String()+")")
		assert.Contains(t, a.Description, "cross-region replication lag")
	}
	// One region: nothing replicates in from elsewhere, so the description does not send the
	// operator looking for replication lag.
	c, err := config.LoadStackFile(filepath.Join("..", "Pulumi.dev.yaml"))
	require.NoError(t, err)
	dev, err := topology.Build(c)
	require.NoError(t, err)
	require.Len(t, dev.Regions, 1)
	n := 0
	for _, a := range monitoring.QueryAlerts(dev) {
		if strings.HasPrefix(a.Name, "imap-late-arrivals-") {
			n++
			assert.NotContains(t, a.Description, "cross-region")
			assert.Contains(t, a.Description, "voicemail:imap.visibilityDelay")
		}
	}
	assert.Equal(t, len(dev.Stamps), n)
	fns, err := monitoring.StampFunctions(topo, topo.Stamps[0])
	require.NoError(t, err)
	for _, f := range fns {
		if f.Name == "IMAPLateArrivals" {
			assert.Contains(t, f.Query, `"`+contract.IMAPLateArrivalLogMessage+`"`, "the line the stamp binary writes")
			for _, attr := range []string{"mailbox", "id", "outcome"} {
				assert.Contains(t, f.Query, "LogMessage."+attr)
			}
			return
		}
	}
	t.Fatal("no IMAPLateArrivals function")
}
