package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/naming"
)

// The rules in this file encode what Azure and Kubernetes accept and how they behave, each
// after the documentation it cites: a stack that breaks one is rejected at `pulumi up` or
// deploys a service that does not work.

// More types the rules look at.
var (
	roleAssignment      = azure("authorization", "RoleAssignment")
	diagnosticSetting   = azure("insights", "DiagnosticSetting")
	appInsights         = azure("insights", "Component")
	cosmosTable         = azure("documentdb", "TableResourceTable")
	cosmosSQLAssignment = azure("documentdb", "SqlResourceSqlRoleAssignment")
	cosmosTableAssign   = azure("documentdb", "TableResourceTableRoleAssignment")
	keyVaultSecret      = azure("keyvault", "Secret")
	webApp              = azure("web", "WebApp")
	hpa                 = k8s("autoscaling", "HorizontalPodAutoscaler")
	secretProvider      = k8s("secrets-store.csi.x-k8s.io", "SecretProviderClass")
)

// BuiltinRoles are the Azure built-in role definitions the stack may assign, by GUID, as
// https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles lists them.
// A GUID that is not a built-in role makes the assignment fail (RoleDefinitionDoesNotExist).
var BuiltinRoles = map[string]string{
	"4d97b98b-1d4f-4787-a291-c67834d212e7": "Network Contributor",
	"ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
	"b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
	"2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
	"974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
	"4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
	"7f951dda-4ed3-4680-a7ca-43fe172d538d": "AcrPull",
	"3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
	"b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b": "Azure Kubernetes Service RBAC Cluster Admin",
	"3498e952-d568-435e-9b2c-8d77e338d7f7": "Azure Kubernetes Service RBAC Admin",
	"a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb": "Azure Kubernetes Service RBAC Writer",
}

// aksDataPlaneRoles are the built-in roles that let a principal create objects through the
// Kubernetes API of a cluster that uses Azure RBAC for Kubernetes authorization.
var aksDataPlaneRoles = []string{
	"b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b", "3498e952-d568-435e-9b2c-8d77e338d7f7", "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb",
}

// roleMonitoringMetricsPublisher is what an Entra-authenticated Application Insights client needs.
const roleMonitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb"

// metricCategories are the diagnostic-setting metric categories each resource type offers
// (Azure Monitor "Supported metrics" pages); a setting asking for another is rejected.
// Types not listed offer AllMetrics.
var metricCategories = []struct {
	armType    *regexp.Regexp
	categories []string
}{
	{regexp.MustCompile(`(?i)/providers/Microsoft\.Storage/storageAccounts/[^/]+(/(blob|queue|table|file)Services/default)?$`), []string{"Transaction", "Capacity"}},
	{regexp.MustCompile(`(?i)/providers/Microsoft\.DocumentDB/databaseAccounts/[^/]+$`), []string{"Requests", "SLI"}},
}

// apiVersionFeatures are input values an API version of a resource type accepts only from a
// given version on; the pinned version comes from the type token.
var apiVersionFeatures = []struct {
	ref     TypeRef
	path    []string
	value   string
	since   string // yyyymmdd
	feature string
}{
	{managedCluster, []string{"autoUpgradeProfile", "nodeOSUpgradeChannel"}, "SecurityPatch", "20240501", "nodeOSUpgradeChannel SecurityPatch"},
}

// apiVersion returns the yyyymmdd of a versioned type token ("" when un-versioned).
func apiVersion(token string) string {
	parts := strings.Split(token, ":")
	if len(parts) != 3 {
		return ""
	}
	_, v, ok := strings.Cut(parts[1], "/")
	if !ok || len(v) < 9 || v[0] != 'v' {
		return ""
	}
	return v[1:9]
}

func deployRules() []ResourceRule {
	return []ResourceRule{
		{
			ID:          "rbac-builtin-role",
			Description: "Role assignments use a built-in role definition that exists (verified GUIDs).",
			Doc:         "https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles",
			Types:       []TypeRef{roleAssignment},
			Check:       checkBuiltinRole,
		},
		{
			ID:          "rbac-assignment-name",
			Description: "A role assignment's name is the GUID of its scope, principal and role, so it is unique in the Entra tenant across stacks.",
			Doc:         "https://learn.microsoft.com/en-us/azure/azure-resource-manager/bicep/scenarios-rbac#name",
			Types:       []TypeRef{roleAssignment, cosmosTableAssign},
			Check:       checkAssignmentName,
		},
		{
			ID:          "diagnostics-metric-category",
			Description: "Diagnostic settings ask only for metric categories the resource type offers (storage: Transaction; Cosmos DB: Requests; others: AllMetrics).",
			Doc:         "https://learn.microsoft.com/en-us/azure/azure-monitor/reference/supported-metrics/microsoft-storage-storageaccounts-metrics",
			Types:       []TypeRef{diagnosticSetting},
			Check:       checkMetricCategory,
		},
		{
			ID:          "aks-autoscaled-pool-count",
			Description: "Autoscaled AKS pools are separate agent pools without a count; an inline pool sent with every cluster update has a fixed size.",
			Doc:         "https://learn.microsoft.com/en-us/azure/aks/cluster-autoscaler",
			Types:       []TypeRef{managedCluster, agentPool},
			Check:       checkAutoscaledCount,
		},
		{
			ID:          "api-version-features",
			Description: "Inputs use only values the resource's pinned API version accepts.",
			Doc:         "https://learn.microsoft.com/en-us/rest/api/aks/managed-clusters/create-or-update",
			Types:       []TypeRef{managedCluster},
			Check:       checkAPIVersionFeatures,
		},
		{
			ID:          "k8s-loadbalancer-rules",
			Description: "A LoadBalancer Service has at most 300 ports: each is a load-balancing rule on every node NIC, and Azure allows 300 per NIC.",
			Doc:         "https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/azure-subscription-service-limits#load-balancer",
			Types:       []TypeRef{service},
			Check:       checkServicePorts,
		},
	}
}

func deployStackRules() []StackRule {
	return []StackRule{
		{
			ID:          "cosmos-table-rbac",
			Description: "Data-plane access to a Cosmos DB for Table account is granted with table role assignments of table role definitions, not SQL ones.",
			Doc:         "https://learn.microsoft.com/en-us/azure/cosmos-db/table/security/how-to-grant-data-plane-role-based-access",
			Check:       checkCosmosTableRBAC,
		},
		{
			ID:          "cosmos-no-unused-tables",
			Description: "Every provisioned Cosmos DB table is one a stamp uses (" + contract.EnvTable.Name + "): each is billed for its throughput in every region.",
			Doc:         "https://learn.microsoft.com/en-us/azure/cosmos-db/provision-throughput-autoscale",
			Check:       checkUnusedTables,
		},
		{
			ID:          "cosmos-stamp-regional-endpoint",
			Description: "Each stamp talks to its own region's endpoint of the multi-region account; the global endpoint sends every request to one write region.",
			Doc:         "https://learn.microsoft.com/en-us/azure/cosmos-db/how-to-multi-master",
			Check:       checkRegionalEndpoint,
		},
		{
			ID: "imap-visibility-delay-regions",
			Description: "In a stack of more than one region, every stamp holds INBOX messages back for a visibility delay above zero (" +
				contract.EnvIMAPVisibilityDelay.Name + ", stack imap.visibilityDelay): Cosmos DB replicates writes between regions asynchronously, so without it a message deposited elsewhere can appear beneath IMAP UIDs already shown.",
			// A satellite region's write is committed locally, then sent to the hub region
			// asynchronously; the page states no upper bound for the lag.
			Doc:   "https://learn.microsoft.com/en-us/azure/cosmos-db/multi-region-writes",
			Check: checkVisibilityDelay,
		},
		{
			ID:          "appinsights-entra-publisher",
			Description: "An app that sends telemetry with Entra ID (local auth off) holds Monitoring Metrics Publisher, or its telemetry is rejected.",
			Doc:         "https://learn.microsoft.com/en-us/azure/azure-monitor/app/azure-ad-authentication",
			Check:       checkAppInsightsPublisher,
		},
		{
			ID:          "keyvault-secrets-provisioned",
			Description: "Every Key Vault secret a workload mounts (CSI SecretProviderClass) or an app setting references exists as a Secret of the stack.",
			Doc:         "https://learn.microsoft.com/en-us/azure/app-service/app-service-key-vault-references",
			Check:       checkSecretsProvisioned,
		},
		{
			ID:          "aks-deployer-data-plane-role",
			Description: "A cluster with Azure RBAC for Kubernetes authorization and local accounts off grants a Kubernetes data-plane role to someone when the stack deploys Kubernetes objects.",
			Doc:         "https://learn.microsoft.com/en-us/azure/aks/manage-azure-rbac",
			Check:       checkDeployerRole,
		},
		{
			ID:          "k8s-hpa-owns-replicas",
			Description: "A Deployment scaled by an HPA does not set spec.replicas, or every change of it resets the scale.",
			Doc:         "https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#migrating-deployments-and-statefulsets-to-horizontal-autoscaling",
			Check:       checkHPAReplicas,
		},
		{
			ID:          "k8s-version-pod-features",
			Description: "Clusters run a Kubernetes version on which the workload's pod spec features are enabled (preStop sleep: 1.30).",
			Doc:         "https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/#hook-handler-implementations",
			Check:       checkPodFeatures,
		},
		{
			ID:          "storage-replication-destinations",
			Description: "Object replication destination containers are read-only: none is also a source, none is where a stamp writes, and no account sends or receives more than two policies.",
			Doc:         "https://learn.microsoft.com/en-us/azure/storage/blobs/object-replication-overview",
			Check:       checkReplicationDestinations,
		},
		{
			ID:          "network-subnets-one-at-a-time",
			Description: "The subnets of one virtual network are created one after another: Azure rejects a subnet change while another one of the same VNet is in progress (AnotherOperationInProgress), which fails the first deploy.",
			// ARM lists AnotherOperationInProgress as "wait for the concurrent operation to
			// complete"; the provider does not wait (https://github.com/pulumi/pulumi-azure-native/issues/699).
			Doc:   "https://learn.microsoft.com/en-us/azure/azure-resource-manager/troubleshooting/common-deployment-errors",
			Check: checkSubnetsSerialized,
		},
	}
}

// checkSubnetsSerialized requires every two subnets of one virtual network to be
// ordered by the dependency graph (one waits, directly or not, for the other).
func checkSubnetsSerialized(rs []Resource) []Violation {
	vnets := newIndex(rs, virtualNetwork, "virtualNetworkName", "name")
	deps := map[string][]string{}
	for _, r := range rs {
		deps[r.Name] = append(deps[r.Name], r.DependsOn...)
		for _, ns := range r.Deps {
			deps[r.Name] = append(deps[r.Name], ns...)
		}
	}
	waitsFor := func(from, to string) bool {
		seen := map[string]bool{}
		stack := []string{from}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, d := range deps[n] {
				if d == to {
					return true
				}
				if !seen[d] {
					seen[d] = true
					stack = append(stack, d)
				}
			}
		}
		return false
	}
	byVNet := map[string][]Resource{}
	var keys []string
	for _, r := range rs {
		if !subnet.Matches(r.Type) {
			continue
		}
		key, ok := vnets.resolve(r, "virtualNetworkName")
		if !ok {
			continue
		}
		if _, seen := byVNet[key]; !seen {
			keys = append(keys, key)
		}
		byVNet[key] = append(byVNet[key], r)
	}
	var out []Violation
	for _, key := range keys {
		subs := byVNet[key]
		for i := range subs {
			for j := i + 1; j < len(subs); j++ {
				a, b := subs[i], subs[j]
				if !waitsFor(a.Name, b.Name) && !waitsFor(b.Name, a.Name) {
					out = append(out, Violation{Type: b.Type, Name: b.Name,
						Message: fmt.Sprintf("subnet %s and subnet %s of virtual network %s may be created at the same time: make one depend on the other", a.Name, b.Name, display(key))})
				}
			}
		}
	}
	return out
}

var guidRe = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func checkBuiltinRole(r Resource) []string {
	v := lookup(r.Inputs, "roleDefinitionId")
	if isUnknown(v) {
		return nil
	}
	s, _ := asString(v)
	id := strings.ToLower(guidRe.FindString(s))
	if _, ok := BuiltinRoles[id]; ok && strings.Contains(strings.ToLower(s), "/providers/microsoft.authorization/roledefinitions/") {
		return nil
	}
	return []string{fmt.Sprintf("roleDefinitionId %s is not a known built-in role definition", show(v))}
}

func checkAssignmentName(r Resource) []string {
	key := "roleAssignmentName"
	if cosmosTableAssign.Matches(r.Type) {
		key = "roleAssignmentId"
	}
	vals := []any{lookup(r.Inputs, key), lookup(r.Inputs, "scope"), lookup(r.Inputs, "principalId"), lookup(r.Inputs, "roleDefinitionId")}
	var s []string
	for _, v := range vals {
		if isUnknown(v) {
			return nil
		}
		str, _ := asString(v)
		s = append(s, strings.ToLower(str))
	}
	if want := naming.GUID(s[1], s[2], s[3]); s[0] != want {
		return []string{fmt.Sprintf("%s %s must be the GUID of scope, principal and role (%s): a name that does not depend on them collides across stacks of one tenant", key, show(vals[0]), want)}
	}
	return nil
}

func checkMetricCategory(r Resource) []string {
	uri := lookup(r.Inputs, "resourceUri")
	metrics := lookup(r.Inputs, "metrics")
	if isUnknown(uri) || isUnknown(metrics) {
		return nil
	}
	target, _ := asString(uri)
	allowed := []string{"AllMetrics"}
	for _, mc := range metricCategories {
		if mc.armType.MatchString(target) {
			allowed = mc.categories
		}
	}
	var out []string
	for _, m := range asSlice(metrics) {
		c, _ := asString(lookup(asMap(m), "category"))
		ok := false
		for _, a := range allowed {
			ok = ok || strings.EqualFold(a, c)
		}
		if !ok {
			out = append(out, fmt.Sprintf("metric category %q is not offered by %s (offered: %s)", c, target, strings.Join(allowed, ", ")))
		}
	}
	return out
}

func checkAutoscaledCount(r Resource) []string {
	if agentPool.Matches(r.Type) {
		if b, _ := lookup(r.Inputs, "enableAutoScaling").(bool); b && lookup(r.Inputs, "count") != nil {
			return []string{"an autoscaled agent pool must not send count: once the autoscaler moved it, every update fails"}
		}
		return nil
	}
	var out []string
	for i, p := range asSlice(lookup(r.Inputs, "agentPoolProfiles")) {
		if b, _ := lookup(asMap(p), "enableAutoScaling").(bool); b {
			name, _ := asString(lookup(asMap(p), "name"))
			out = append(out, fmt.Sprintf("inline pool %d (%s) is autoscaled: the cluster's every update sends its count and fails once the autoscaler moved it; make it a separate agent pool", i, name))
		}
	}
	return out
}

func checkAPIVersionFeatures(r Resource) []string {
	v := apiVersion(r.Type)
	if v == "" {
		return nil
	}
	var out []string
	for _, f := range apiVersionFeatures {
		if !f.ref.Matches(r.Type) {
			continue
		}
		got, _ := asString(lookup(r.Inputs, f.path...))
		if strings.EqualFold(got, f.value) && v < f.since {
			out = append(out, fmt.Sprintf("%s needs API version %s or later; %s pins %s", f.feature, f.since, r.Type, v))
		}
	}
	return out
}

func checkServicePorts(r Resource) []string {
	if t, _ := asString(lookup(r.Inputs, "spec", "type")); t != "LoadBalancer" {
		return nil
	}
	if n := len(asSlice(lookup(r.Inputs, "spec", "ports"))); n > 300 {
		return []string{fmt.Sprintf("%d ports: each is a load-balancing rule on every node NIC, and Azure allows 300 per NIC", n)}
	}
	return nil
}

// byType returns the resources of one type.
func byType(rs []Resource, ref TypeRef) []Resource {
	var out []Resource
	for _, r := range rs {
		if ref.Matches(r.Type) {
			out = append(out, r)
		}
	}
	return out
}

func checkCosmosTableRBAC(rs []Resource) []Violation {
	tableAccounts := map[string]bool{}
	for _, a := range byType(rs, cosmosAccount) {
		for _, c := range asSlice(lookup(a.Inputs, "capabilities")) {
			if n, _ := asString(lookup(asMap(c), "name")); n == "EnableTable" {
				if name, ok := azureName(lookup(a.Inputs, "accountName")); ok {
					tableAccounts[name] = true
				}
				tableAccounts[a.Name] = true
			}
		}
	}
	var out []Violation
	for _, r := range byType(rs, cosmosSQLAssignment) {
		acct, _ := azureName(lookup(r.Inputs, "accountName"))
		if tableAccounts[acct] || len(tableAccounts) > 0 && acct == "" {
			out = append(out, Violation{Type: r.Type, Name: r.Name, Message: "a SQL role assignment grants nothing on a Cosmos DB for Table account; use a table role assignment"})
		}
	}
	for _, r := range byType(rs, cosmosTableAssign) {
		def := lookup(r.Inputs, "roleDefinitionId")
		if s, ok := asString(def); ok && !strings.Contains(s, "/tableRoleDefinitions/") {
			out = append(out, Violation{Type: r.Type, Name: r.Name, Message: fmt.Sprintf("roleDefinitionId %q is not a table role definition", s)})
		}
	}
	return out
}

// configMapData returns every ConfigMap's data.
func configMapData(rs []Resource) []map[string]any {
	var out []map[string]any
	for _, r := range byType(rs, configMap) {
		if d := asMap(lookup(r.Inputs, "data")); d != nil {
			out = append(out, d)
		}
	}
	return out
}

func checkUnusedTables(rs []Resource) []Violation {
	used := map[string]bool{}
	maps := configMapData(rs)
	for _, d := range maps {
		if t, ok := asString(d[contract.EnvTable.Name]); ok {
			used[t] = true
		}
	}
	if len(maps) == 0 {
		return nil // no workload in this stack to judge by
	}
	var out []Violation
	for _, r := range byType(rs, cosmosTable) {
		n, _ := asString(lookup(r.Inputs, "tableName"))
		if !used[n] {
			out = append(out, Violation{Type: r.Type, Name: r.Name, Message: fmt.Sprintf("table %q is provisioned (and billed in every region) but no stamp uses it", n)})
		}
	}
	return out
}

func checkRegionalEndpoint(rs []Resource) []Violation {
	var out []Violation
	for _, r := range byType(rs, configMap) {
		d := asMap(lookup(r.Inputs, "data"))
		ep, ok1 := asString(d[contract.EnvTableEndpoint.Name])
		region, ok2 := asString(d[contract.EnvRegion.Name])
		if !ok1 || !ok2 || !strings.Contains(ep, ".table.cosmos.azure.com") {
			continue
		}
		if !strings.Contains(ep, "-"+region+".table.cosmos.azure.com") {
			out = append(out, Violation{Type: r.Type, Name: r.Name, Message: fmt.Sprintf("%s %s is not the account's %s endpoint: without it every request goes to one write region", contract.EnvTableEndpoint.Name, ep, region)})
		}
	}
	return out
}

// checkVisibilityDelay reads every stamp's ConfigMap (the ones naming a region): when the stack
// spans several regions (stamps' regions and the Cosmos DB account's locations), a delay of
// zero, or one the binary would refuse, is a violation. An absent variable is the contract's
// default.
func checkVisibilityDelay(rs []Resource) []Violation {
	regions := map[string]bool{}
	var stamps []Resource
	for _, r := range byType(rs, configMap) {
		if region, ok := asString(lookup(r.Inputs, "data", contract.EnvRegion.Name)); ok {
			regions[region] = true
			stamps = append(stamps, r)
		}
	}
	for _, a := range byType(rs, cosmosAccount) {
		for _, l := range asSlice(lookup(a.Inputs, "locations")) {
			if n, ok := asString(lookup(asMap(l), "locationName")); ok {
				regions[n] = true
			}
		}
	}
	if len(regions) < 2 {
		return nil
	}
	var out []Violation
	for _, r := range stamps {
		v := lookup(r.Inputs, "data", contract.EnvIMAPVisibilityDelay.Name)
		if isUnknown(v) {
			continue
		}
		d := contract.DefaultIMAP().VisibilityDelay
		if v != nil {
			s, _ := asString(v)
			var err error
			if d, err = time.ParseDuration(s); err != nil || d < 0 || d > contract.MaxIMAPVisibilityDelay {
				out = append(out, Violation{Type: r.Type, Name: r.Name, Message: fmt.Sprintf("%s %s is not a duration in 0s..%s", contract.EnvIMAPVisibilityDelay.Name, show(v), contract.MaxIMAPVisibilityDelay)})
				continue
			}
		}
		if d <= 0 {
			out = append(out, Violation{Type: r.Type, Name: r.Name, Message: fmt.Sprintf("%s is %s in a stack of %d regions: a message deposited in another region can appear beneath IMAP UIDs already shown; set imap.visibilityDelay above cross-region replication lag plus clock skew", contract.EnvIMAPVisibilityDelay.Name, d, len(regions))})
		}
	}
	return out
}

// appSettings returns a WebApp's app settings by name.
func appSettings(r Resource) map[string]any {
	out := map[string]any{}
	for _, s := range asSlice(lookup(r.Inputs, "siteConfig", "appSettings")) {
		if n, ok := asString(lookup(asMap(s), "name")); ok {
			out[n] = lookup(asMap(s), "value")
		}
	}
	return out
}

// roleOf returns the role GUID of an assignment's roleDefinitionId.
func roleOf(r Resource) string {
	s, _ := asString(lookup(r.Inputs, "roleDefinitionId"))
	return strings.ToLower(guidRe.FindString(s))
}

// grantedTo reports whether an assignment is the app's: parented to it, or its principal
// taken from it.
func grantedTo(ra Resource, app string) bool {
	if ra.Parent == app {
		return true
	}
	for _, d := range ra.Deps["principalId"] {
		if d == app {
			return true
		}
	}
	return false
}

func checkAppInsightsPublisher(rs []Resource) []Violation {
	entraOnly := false
	for _, c := range byType(rs, appInsights) {
		if b, _ := lookup(c.Inputs, "disableLocalAuth").(bool); b {
			entraOnly = true
		}
	}
	if !entraOnly {
		return nil
	}
	var out []Violation
	for _, app := range byType(rs, webApp) {
		if _, sends := appSettings(app)["APPLICATIONINSIGHTS_CONNECTION_STRING"]; !sends {
			continue
		}
		ok := false
		for _, ra := range byType(rs, roleAssignment) {
			ok = ok || grantedTo(ra, app.Name) && roleOf(ra) == roleMonitoringMetricsPublisher
		}
		if !ok {
			out = append(out, Violation{Type: app.Type, Name: app.Name, Message: "sends telemetry to an Application Insights resource with local auth off but holds no Monitoring Metrics Publisher role"})
		}
	}
	return out
}

var kvRefRe = regexp.MustCompile(`(?i)^@Microsoft\.KeyVault\(SecretUri=https://([a-z0-9-]+)\.vault\.azure\.net/secrets/([A-Za-z0-9-]+)/?[^)]*\)$`)

func checkSecretsProvisioned(rs []Resource) []Violation {
	have := map[string]bool{} // vault/secret, and "*/secret" when the vault is unknown
	for _, s := range byType(rs, keyVaultSecret) {
		name, ok := asString(lookup(s.Inputs, "secretName"))
		if !ok {
			continue
		}
		have["*/"+name] = true
		if v, ok := azureName(lookup(s.Inputs, "vaultName")); ok {
			have[v+"/"+name] = true
		}
	}
	var out []Violation
	missing := func(r Resource, vault, secret, via string) {
		key := "*/" + secret
		if vault != "" {
			key = strings.ToLower(vault) + "/" + secret
		}
		if !have[key] {
			out = append(out, Violation{Type: r.Type, Name: r.Name, Message: fmt.Sprintf("%s reads Key Vault secret %s/%s, which the stack does not create: nothing else writes it on a first deployment", via, vault, secret)})
		}
	}
	for _, app := range byType(rs, webApp) {
		for name, v := range appSettings(app) {
			if s, ok := asString(v); ok {
				if m := kvRefRe.FindStringSubmatch(s); m != nil {
					missing(app, m[1], m[2], "app setting "+name)
				}
			}
		}
	}
	objRe := regexp.MustCompile(`objectName:\s*([A-Za-z0-9-]+)`)
	for _, spc := range byType(rs, secretProvider) {
		vault, _ := asString(lookup(spc.Inputs, "spec", "parameters", "keyvaultName"))
		objects, _ := asString(lookup(spc.Inputs, "spec", "parameters", "objects"))
		for _, m := range objRe.FindAllStringSubmatch(objects, -1) {
			missing(spc, vault, m[1], "SecretProviderClass")
		}
	}
	return out
}

func checkDeployerRole(rs []Resource) []Violation {
	k8sObjects := false
	for _, r := range rs {
		k8sObjects = k8sObjects || strings.HasPrefix(r.Type, "kubernetes:") && !strings.HasPrefix(r.Type, "kubernetes:index:")
	}
	if !k8sObjects {
		return nil
	}
	var out []Violation
	for _, c := range byType(rs, managedCluster) {
		rbac, _ := lookup(c.Inputs, "aadProfile", "enableAzureRBAC").(bool)
		local, _ := lookup(c.Inputs, "disableLocalAccounts").(bool)
		if !rbac || !local {
			continue
		}
		name, _ := azureName(lookup(c.Inputs, "resourceName"))
		ok := false
		for _, ra := range byType(rs, roleAssignment) {
			scope, _ := asString(lookup(ra.Inputs, "scope"))
			onCluster := ra.Parent == c.Name || name != "" && strings.HasSuffix(strings.ToLower(scope), "/managedclusters/"+name)
			for _, id := range aksDataPlaneRoles {
				ok = ok || onCluster && roleOf(ra) == id
			}
		}
		if !ok {
			out = append(out, Violation{Type: c.Type, Name: c.Name, Message: "Azure RBAC authorises its Kubernetes API and local accounts are off, but no principal is granted a Kubernetes data-plane role on it: creating the first object returns 403"})
		}
	}
	return out
}

func checkHPAReplicas(rs []Resource) []Violation {
	scaled := map[string]bool{} // namespace/name of scaled Deployments
	for _, h := range byType(rs, hpa) {
		ns, _ := asString(lookup(h.Inputs, "metadata", "namespace"))
		if kind, _ := asString(lookup(h.Inputs, "spec", "scaleTargetRef", "kind")); kind == "Deployment" {
			n, _ := asString(lookup(h.Inputs, "spec", "scaleTargetRef", "name"))
			scaled[ns+"/"+n] = true
			scaled[ns+"/*"] = scaled[ns+"/*"] || n == ""
		}
	}
	var out []Violation
	for _, d := range byType(rs, deployment) {
		ns, _ := asString(lookup(d.Inputs, "metadata", "namespace"))
		n, _ := asString(lookup(d.Inputs, "metadata", "name"))
		if (scaled[ns+"/"+n] || scaled[ns+"/*"]) && lookup(d.Inputs, "spec", "replicas") != nil {
			out = append(out, Violation{Type: d.Type, Name: d.Name, Message: "sets spec.replicas while an HPA scales it: every change of the Deployment resets the scale"})
		}
	}
	return out
}

func checkReplicationDestinations(rs []Resource) []Violation {
	type container struct{ account, name string }
	sources, dests := map[container]bool{}, map[container]string{}
	sends, receives := map[string]map[string]bool{}, map[string]map[string]bool{}
	add := func(m map[string]map[string]bool, k, v string) {
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][v] = true
	}
	for _, p := range byType(rs, objectReplication) {
		src, ok1 := azureName(lookup(p.Inputs, "sourceAccount"))
		dst, ok2 := azureName(lookup(p.Inputs, "destinationAccount"))
		if !ok1 || !ok2 {
			continue
		}
		add(sends, src, dst)
		add(receives, dst, src)
		for _, rule := range asSlice(lookup(p.Inputs, "rules")) {
			sc, _ := asString(lookup(asMap(rule), "sourceContainer"))
			dc, _ := asString(lookup(asMap(rule), "destinationContainer"))
			sources[container{src, sc}] = true
			dests[container{dst, dc}] = p.Name
		}
	}
	var out []Violation
	written := map[string]bool{}
	for _, d := range configMapData(rs) {
		if c, ok := asString(d[contract.EnvAudioContainer.Name]); ok {
			written[c] = true
		}
	}
	for c, policy := range dests {
		if sources[c] {
			out = append(out, Violation{Type: objectReplication.String(), Name: policy, Message: fmt.Sprintf("container %s of account %s is a replication destination and a source: destinations are read-only, so its own writes fail", c.name, c.account)})
		}
		if written[c.name] {
			out = append(out, Violation{Type: objectReplication.String(), Name: policy, Message: fmt.Sprintf("container %s of account %s is a replication destination, read-only (409), yet stamps write their audio to it", c.name, c.account)})
		}
	}
	for acct, to := range sends {
		if len(to) > 2 {
			out = append(out, Violation{Type: storageAccount.String(), Name: acct, Message: fmt.Sprintf("replicates to %d accounts; a source account may replicate to at most two", len(to))})
		}
	}
	for acct, from := range receives {
		if len(from) > 2 {
			out = append(out, Violation{Type: storageAccount.String(), Name: acct, Message: fmt.Sprintf("is the destination of %d replication sources; at most two", len(from))})
		}
	}
	return out
}

// kubernetesMinor returns the 1.x minor of a version string, or -1.
func kubernetesMinor(v string) int {
	parts := strings.Split(v, ".")
	if len(parts) < 2 || parts[0] != "1" {
		return -1
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		return -1
	}
	return n
}

func checkPodFeatures(rs []Resource) []Violation {
	sleeps := false
	for _, d := range byType(rs, deployment) {
		for _, c := range asSlice(lookup(d.Inputs, "spec", "template", "spec", "containers")) {
			sleeps = sleeps || lookup(asMap(c), "lifecycle", "preStop", "sleep") != nil
		}
	}
	if !sleeps {
		return nil
	}
	var out []Violation
	for _, c := range byType(rs, managedCluster) {
		v, ok := asString(lookup(c.Inputs, "kubernetesVersion"))
		if ok && v != "" && kubernetesMinor(v) < 30 {
			out = append(out, Violation{Type: c.Type, Name: c.Name, Message: fmt.Sprintf("Kubernetes %s: the workload's preStop sleep hook needs 1.30 or later", v)})
		}
	}
	return out
}
