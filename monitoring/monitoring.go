package monitoring

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	appinsights "github.com/pulumi/pulumi-azure-native-sdk/insights/v2/v20200202"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/global"
	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/naming"
	"github.com/voicemail-platform/voicemail/internal/topology"
	"github.com/voicemail-platform/voicemail/regional"
)

// Type is the component's Pulumi type token.
const Type = "voicemail:monitoring:HealthModel"

// Type tokens of the monitoring resources, registered by token (each API-version package
// would be compiled for one resource type).
const (
	SavedSearchType        = "azure-native:operationalinsights/v20200801:SavedSearch"
	ActionGroupType        = "azure-native:insights/v20230101:ActionGroup"
	ScheduledQueryRuleType = "azure-native:insights/v20231201:ScheduledQueryRule"
	MetricAlertType        = "azure-native:insights/v20180301:MetricAlert"
	WebTestType            = "azure-native:insights/v20220615:WebTest"
	WorkbookType           = "azure-native:insights/v20230601:Workbook"
)

// Probe locations of the availability tests: five US points of presence, the minimum
// Microsoft recommends to tell an outage from one location's trouble
// (https://learn.microsoft.com/azure/azure-monitor/app/availability-standard-tests).
var probeLocations = []string{"us-va-ash-azr", "us-il-ch1-azr", "us-tx-sn1-azr", "us-ca-sjc-azr", "us-az-phx-azr"}

// Args is what the health model needs: the plan and the layers it watches.
type Args struct {
	Topology topology.Topology
	Global   *global.Global
	Regions  map[string]*regional.Regional
}

// HealthModel is the component.
type HealthModel struct {
	pulumi.ResourceState
	WorkbookName pulumi.StringOutput
}

// New builds the health model.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*HealthModel, error) {
	h := &HealthModel{}
	if err := ctx.RegisterComponentResource(Type, name, h, opts...); err != nil {
		return nil, err
	}
	t, g := args.Topology, args.Global
	parent := pulumi.Parent(h)
	monRG := t.Global.MonitoringResourceGroup
	tags := pulumi.ToStringMap(map[string]string{"project": topology.Project, "environment": t.Environment, "managed-by": "pulumi"})

	// KQL functions, applied to each workspace from the files.
	// The workspace's name comes from its id, so each function waits for its workspace.
	save := func(prefix, rg string, workspaceID pulumi.StringOutput, fns []Function) error {
		workspace := workspaceID.ApplyT(func(id string) string { return id[strings.LastIndex(id, "/")+1:] }).(pulumi.StringOutput)
		for _, f := range fns {
			var r arm.Resource
			if err := ctx.RegisterResource(SavedSearchType, prefix+"-kql-"+f.Name, pulumi.Map{
				"savedSearchId": pulumi.String(f.Name), "resourceGroupName": pulumi.String(rg), "workspaceName": workspace,
				"category": pulumi.String("voicemail-health"), "displayName": pulumi.String(f.Name),
				"functionAlias": pulumi.String(f.Name), "query": pulumi.String(f.Query),
			}, &r, parent); err != nil {
				return err
			}
		}
		return nil
	}
	gfns, err := GlobalFunctions(t)
	if err != nil {
		return nil, err
	}
	if err := save("global", monRG, g.WorkspaceID, gfns); err != nil {
		return nil, err
	}
	rfns, err := RegionFunctions(t)
	if err != nil {
		return nil, err
	}
	for _, r := range t.Regions {
		if err := save(r.Name, r.Names.ResourceGroup, args.Regions[r.Name].WorkspaceID, rfns); err != nil {
			return nil, err
		}
	}
	for _, s := range t.Stamps {
		sfns, err := StampFunctions(t, s)
		if err != nil {
			return nil, err
		}
		if err := save(s.ID, monRG, g.StampWorkspaceIDs[s.ID], sfns); err != nil {
			return nil, err
		}
	}

	// Action groups from config; an alert of severity s notifies every group listing s.
	groups := map[string]pulumi.StringOutput{}
	for _, ag := range t.Config.Monitoring.ActionGroups {
		var emails, hooks pulumi.Array
		for i, e := range ag.Emails {
			emails = append(emails, pulumi.Map{"name": pulumi.String(fmt.Sprintf("email-%d", i)), "emailAddress": pulumi.String(e), "useCommonAlertSchema": pulumi.Bool(true)})
		}
		for i, w := range ag.Webhooks {
			hooks = append(hooks, pulumi.Map{"name": pulumi.String(fmt.Sprintf("webhook-%d", i)), "serviceUri": pulumi.String(w), "useCommonAlertSchema": pulumi.Bool(true)})
		}
		var r arm.Resource
		if err := ctx.RegisterResource(ActionGroupType, "ag-"+ag.Name, pulumi.Map{
			"actionGroupName": pulumi.String("ag-" + t.Prefix + "-" + t.Environment + "-" + ag.Name), "resourceGroupName": pulumi.String(monRG),
			"location": pulumi.String("Global"), "groupShortName": pulumi.String(ag.ShortName), "enabled": pulumi.Bool(true),
			"emailReceivers": emails, "webhookReceivers": hooks, "tags": tags,
		}, &r, parent); err != nil {
			return nil, err
		}
		groups[ag.Name] = r.ID().ToStringOutput()
	}
	routeTo := func(sev int) pulumi.StringArray {
		var out pulumi.StringArray
		for _, n := range t.Config.Monitoring.ActionGroupsFor(sev) {
			out = append(out, groups[n])
		}
		return out
	}

	// Log alerts on the health model.
	workspaceID := func(a QueryAlert) (pulumi.StringInput, string) {
		switch a.Set {
		case SetStamp:
			s, _ := t.Stamp(a.Scope)
			return g.StampWorkspaceIDs[a.Scope], s.Region
		case SetRegion:
			return args.Regions[a.Scope].WorkspaceID, a.Scope
		}
		return g.WorkspaceID, t.Global.HomeRegion
	}
	for _, a := range QueryAlerts(t) {
		scope, loc := workspaceID(a)
		var r arm.Resource
		if err := ctx.RegisterResource(ScheduledQueryRuleType, "alert-"+a.Name, pulumi.Map{
			"ruleName": pulumi.String("alert-" + t.Prefix + "-" + t.Environment + "-" + a.Name), "resourceGroupName": pulumi.String(monRG),
			"location": pulumi.String(loc), "description": pulumi.String(a.Description), "severity": pulumi.Float64(float64(a.Severity)),
			"enabled": pulumi.Bool(true), "scopes": pulumi.Array{scope}, "kind": pulumi.String("LogAlert"),
			"evaluationFrequency": pulumi.String(a.Window), "windowSize": pulumi.String(a.Window), "autoMitigate": pulumi.Bool(true),
			"criteria": pulumi.Map{"allOf": pulumi.Array{pulumi.Map{
				"query": pulumi.String(a.Query), "timeAggregation": pulumi.String("Count"),
				"operator": pulumi.String("GreaterThan"), "threshold": pulumi.Float64(0),
				"failingPeriods": pulumi.Map{"numberOfEvaluationPeriods": pulumi.Float64(1), "minFailingPeriodsToAlert": pulumi.Float64(1)},
			}}},
			"actions": pulumi.Map{"actionGroups": routeTo(a.Severity)},
			"tags":    tags,
		}, &r, parent); err != nil {
			return nil, err
		}
	}

	// Metric alerts on what the app cannot see: the deposit queue's backlog, Cosmos DB's
	// throttling and replication latency.
	m := t.Config.Monitoring
	metric := func(name, desc string, sev int, scope pulumi.StringInput, ns, metricName, agg string, threshold float64, window string, dims pulumi.Array) error {
		crit := pulumi.Map{
			"criterionType": pulumi.String("StaticThresholdCriterion"), "name": pulumi.String(metricName),
			"metricName": pulumi.String(metricName), "metricNamespace": pulumi.String(ns),
			"operator": pulumi.String("GreaterThan"), "threshold": pulumi.Float64(threshold), "timeAggregation": pulumi.String(agg),
		}
		if len(dims) > 0 {
			crit["dimensions"] = dims
		}
		var actions pulumi.Array
		for _, id := range routeTo(sev) {
			actions = append(actions, pulumi.Map{"actionGroupId": id})
		}
		var r arm.Resource
		return ctx.RegisterResource(MetricAlertType, "alert-"+name, pulumi.Map{
			"ruleName": pulumi.String("alert-" + t.Prefix + "-" + t.Environment + "-" + name), "resourceGroupName": pulumi.String(monRG),
			"location": pulumi.String("global"), "description": pulumi.String(desc), "severity": pulumi.Float64(float64(sev)),
			"enabled": pulumi.Bool(true), "scopes": pulumi.Array{scope}, "autoMitigate": pulumi.Bool(true),
			"evaluationFrequency": pulumi.String(window), "windowSize": pulumi.String(window),
			"criteria": pulumi.Map{"odataType": pulumi.String("Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"), "allOf": pulumi.Array{crit}},
			"actions":  actions, "tags": tags,
		}, &r, parent)
	}
	for _, reg := range t.Regions {
		// Queue capacity metrics are emitted hourly
		// (https://learn.microsoft.com/azure/storage/queues/monitor-queue-storage-reference).
		if err := metric("queue-backlog-"+reg.Short, "Deposits wait in the queue: the primary store is failing or the drainer is behind.", 2,
			pulumi.Sprintf("%s/queueServices/default", args.Regions[reg.Name].QueueAccountID), "Microsoft.Storage/storageAccounts/queueServices",
			"QueueMessageCount", "Average", float64(m.QueueBacklog), "PT1H", nil); err != nil {
			return nil, err
		}
	}
	// https://learn.microsoft.com/azure/cosmos-db/monitor-reference
	if err := metric("cosmos-throttled", "Cosmos DB throttles requests (429): autoscale maximum reached.", 2, g.CosmosAccountID,
		"Microsoft.DocumentDB/databaseAccounts", "TotalRequests", "Count", float64(m.ThrottledRequests), "PT5M",
		pulumi.Array{pulumi.Map{"name": pulumi.String("StatusCode"), "operator": pulumi.String("Include"), "values": pulumi.StringArray{pulumi.String("429")}}}); err != nil {
		return nil, err
	}
	// Object replication keeps no SLA; a policy whose pending operations never drop below the
	// backlog for 15 minutes lags, and reads of that region's audio elsewhere fall back to
	// the origin. The metrics exist only on policies with metrics enabled (regional/).
	// https://learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/microsoft-storage-storageaccounts-objectreplicationpolicies-metrics
	for _, reg := range t.Regions {
		for _, to := range reg.ReplicateTo {
			dst, _ := t.Region(to)
			id, ok := args.Regions[reg.Name].ReplicationPolicyIDs[to]
			if !ok {
				return nil, fmt.Errorf("health model: region %s has no replication policy to %s", reg.Name, to)
			}
			if err := metric("audio-replication-"+reg.Short+"-"+dst.Short, "Audio object replication from "+reg.Name+" to "+to+" keeps a backlog: replicas lag.", 2,
				id, "Microsoft.Storage/storageAccounts/objectReplicationPolicies", "PendingOperationsForReplication", "Minimum",
				float64(m.AudioReplicationBacklog), "PT15M", nil); err != nil {
				return nil, err
			}
		}
	}
	if len(t.Regions) > 1 {
		if err := metric("cosmos-replication-lag", "Cosmos DB replication between regions lags.", 2, g.CosmosAccountID,
			"Microsoft.DocumentDB/databaseAccounts", "ReplicationLatency", "Average", float64(m.ReplicationLagMinutes*60*1000), "PT15M", nil); err != nil {
			return nil, err
		}
	}

	// Availability tests, in one component bound to the global workspace, so the global health
	// functions see every stamp's results.
	appi, err := appinsights.NewComponent(ctx, "health-appi", &appinsights.ComponentArgs{
		ResourceName: pulumi.String(AvailabilityComponent(t)), ResourceGroupName: pulumi.String(monRG), Location: pulumi.String(t.Global.HomeRegion),
		Kind: pulumi.String("web"), ApplicationType: pulumi.String("web"), WorkspaceResourceId: g.WorkspaceID,
		IngestionMode: pulumi.String("LogAnalytics"), DisableLocalAuth: pulumi.Bool(true), Tags: tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	componentID := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/microsoft.insights/components/%s", g.SubscriptionID, monRG, AvailabilityComponent(t))
	scheme := "http"
	if t.Monitor.Protocol == "HTTPS" {
		scheme = "https"
	}
	test := func(logical, name, url string) error {
		var locs pulumi.Array
		for _, l := range probeLocations {
			locs = append(locs, pulumi.Map{"id": pulumi.String(l)})
		}
		rules := pulumi.Map{"expectedHttpStatusCode": pulumi.Int(200), "sSLCheck": pulumi.Bool(scheme == "https")}
		if scheme == "https" {
			rules["sSLCertRemainingLifetimeCheck"] = pulumi.Int(m.CertificateExpiryDays)
		}
		var r arm.Resource
		return ctx.RegisterResource(WebTestType, logical, pulumi.Map{
			"webTestName": pulumi.String(name), "resourceGroupName": pulumi.String(monRG), "location": pulumi.String(t.Global.HomeRegion),
			"kind": pulumi.String("standard"), "webTestKind": pulumi.String("standard"), "syntheticMonitorId": pulumi.String(name),
			"name": pulumi.String(name), "enabled": pulumi.Bool(true), "frequency": pulumi.Int(300), "timeout": pulumi.Int(30),
			"retryEnabled": pulumi.Bool(true), "locations": locs,
			"request":         pulumi.Map{"requestUrl": pulumi.String(url), "httpVerb": pulumi.String("GET"), "parseDependentRequests": pulumi.Bool(false)},
			"validationRules": rules,
			"tags":            pulumi.StringMap{"hidden-link:" + componentID: pulumi.String("Resource")},
		}, &r, pulumi.Parent(appi))
	}
	for _, s := range t.Stamps {
		if err := test("webtest-"+s.ID, "stamp-"+s.ID, fmt.Sprintf("%s://%s:%d%s", scheme, s.FQDN, t.Monitor.Port, topology.HealthPath)); err != nil {
			return nil, err
		}
	}
	if err := test("webtest-global", "global-"+t.Environment, fmt.Sprintf("%s://%s:%d%s", scheme, t.Global.TrafficManagerFQDN, t.Monitor.Port, topology.HealthPath)); err != nil {
		return nil, err
	}

	// The workbook: one traffic light per stamp, region and the whole.
	data, err := WorkbookJSON()
	if err != nil {
		return nil, err
	}
	var wb arm.Resource
	if err := ctx.RegisterResource(WorkbookType, "health-workbook", pulumi.Map{
		"resourceName": pulumi.String(naming.GUID("workbook", t.Prefix, t.Environment)), "resourceGroupName": pulumi.String(monRG),
		"location": pulumi.String(t.Global.HomeRegion), "kind": pulumi.String("shared"), "category": pulumi.String("workbook"),
		"displayName": pulumi.String("Voicemail health (" + t.Environment + ")"), "serializedData": pulumi.String(data),
		"sourceId": g.WorkspaceID, "tags": tags,
	}, &wb, parent); err != nil {
		return nil, err
	}
	h.WorkbookName = wb.Name
	return h, ctx.RegisterResourceOutputs(h, pulumi.Map{"workbookName": wb.Name})
}

// AvailabilityComponent names the Application Insights component that holds the tests.
func AvailabilityComponent(t topology.Topology) string {
	return "appi-" + t.Prefix + "-" + t.Environment + "-health"
}

// WorkbookJSON is the workbook's serialized content: a grid per level whose State column is a
// traffic light (green Healthy, yellow Degraded, red Unhealthy).
func WorkbookJSON() (string, error) {
	items := []any{map[string]any{"type": 1, "name": "title", "content": map[string]any{
		"json": "## Voicemail health model\nScores from the KQL functions in the global workspace; thresholds from stack config.",
	}}}
	for i, q := range WorkbookQueries() {
		items = append(items, map[string]any{
			"type": 3, "name": "grid-" + strconv.Itoa(i),
			"content": map[string]any{
				"version": "KqlItem/1.0", "title": q.Title, "query": q.Query, "size": 1,
				"queryType": 0, "resourceType": "microsoft.operationalinsights/workspaces", "visualization": "table",
				"gridSettings": map[string]any{"formatters": []any{map[string]any{
					"columnMatch": "State", "formatter": 18, "formatOptions": map[string]any{"thresholdsOptions": "icons", "thresholdsGrid": []any{
						map[string]any{"operator": "==", "thresholdValue": "Healthy", "representation": "success", "text": "{0}"},
						map[string]any{"operator": "==", "thresholdValue": "Degraded", "representation": "2", "text": "{0}"},
						map[string]any{"operator": "Default", "representation": "4", "text": "{0}"},
					}},
				}}},
			},
		})
	}
	b, err := json.Marshal(map[string]any{"version": "Notebook/1.0", "items": items, "isLocked": false})
	return string(b), err
}
