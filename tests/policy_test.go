package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/policy/rules"
)

func polRuleIDs(vs []rules.Violation) []string {
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.Rule)
	}
	return ids
}

func TestPolicyCompliantFixturePasses(t *testing.T) {
	vs := rules.Evaluate(polCompliant(t))
	assert.Empty(t, vs, "violations: %v", vs)
}

// polEdit changes one resource's inputs in the compliant fixture.
func polEdit(name string, value any, path ...any) func(*testing.T, []rules.Resource) []rules.Resource {
	return func(t *testing.T, rs []rules.Resource) []rules.Resource {
		polSet(t, polFind(t, rs, name).Inputs, value, path...)
		return rs
	}
}

// polWithout drops resources by logical name.
func polWithout(names ...string) func(*testing.T, []rules.Resource) []rules.Resource {
	return func(_ *testing.T, rs []rules.Resource) []rules.Resource {
		drop := map[string]bool{}
		for _, n := range names {
			drop[n] = true
		}
		var out []rules.Resource
		for _, r := range rs {
			if !drop[r.Name] {
				out = append(out, r)
			}
		}
		return out
	}
}

// polCase breaks the fixture one way and names the rule that must catch it.
type polCase struct {
	name    string
	breakIt func(*testing.T, []rules.Resource) []rules.Resource
	rule    string
}

func TestPolicyRulesCatchBrokenInputs(t *testing.T) {
	cases := []polCase{
		{"object replication without metrics", polEdit("orp-weu-neu", false, "metrics", "enabled"), "storage-replication-metrics"},
		{"cosmos single write region", polEdit("cosmos", false, "enableMultipleWriteLocations"), "cosmos-multi-region-write"},
		{"cosmos multi-write unset", polEdit("cosmos", nil, "enableMultipleWriteLocations"), "cosmos-multi-region-write"},
		{"cosmos location not zone redundant", polEdit("cosmos", false, "locations", 1, "isZoneRedundant"), "cosmos-zone-redundant"},
		{"cosmos without locations", polEdit("cosmos", []any{}, "locations"), "cosmos-zone-redundant"},
		{"cosmos key auth on", polEdit("cosmos", false, "disableLocalAuth"), "cosmos-local-auth-disabled"},
		{"cosmos key auth unset", polEdit("cosmos", nil, "disableLocalAuth"), "cosmos-local-auth-disabled"},
		{"stamp region not in cosmos", polEdit("cosmos", []any{map[string]any{"locationName": "westeurope", "failoverPriority": 0.0, "isZoneRedundant": true}}, "locations"), "cosmos-stamp-regions-writable"},
		{"second region read-only without multi-write", polEdit("cosmos", false, "enableMultipleWriteLocations"), "cosmos-stamp-regions-writable"},
		{"stamps but no cosmos account", polWithout("cosmos"), "cosmos-stamp-regions-writable"},
		{"storage LRS", polEdit("st-weu", "Standard_LRS", "sku", "name"), "storage-zone-redundant"},
		{"storage GRS is not zone redundant", polEdit("st-neu", "Standard_RAGRS", "sku", "name"), "storage-zone-redundant"},
		{"storage shared key on", polEdit("st-weu", true, "allowSharedKeyAccess"), "storage-shared-key-disabled"},
		{"storage shared key unset (Azure default on)", polEdit("st-weu", nil, "allowSharedKeyAccess"), "storage-shared-key-disabled"},
		{"storage TLS 1.0", polEdit("st-weu", "TLS1_0", "minimumTlsVersion"), "storage-tls12"},
		{"storage public blob access", polEdit("st-neu", true, "allowBlobPublicAccess"), "storage-no-public-blob"},
		{"container public", polEdit("audio-weu", "Blob", "publicAccess"), "storage-no-public-blob"},
		{"replication source without versioning", polEdit("blob-weu", false, "isVersioningEnabled"), "storage-versioning-for-replication"},
		{"replication destination without versioning", polEdit("blob-neu", nil, "isVersioningEnabled"), "storage-versioning-for-replication"},
		{"replication source without change feed", polEdit("blob-weu", false, "changeFeed", "enabled"), "storage-versioning-for-replication"},
		{"replication with no blob service at all", polWithout("blob-weu"), "storage-versioning-for-replication"},
		{"acr standard", polEdit("acr", "Standard", "sku", "name"), "acr-premium"},
		{"acr not zone redundant", polEdit("acr", "Disabled", "zoneRedundancy"), "acr-zone-redundant"},
		{"acr replica not zone redundant", polEdit("acr-neu", nil, "zoneRedundancy"), "acr-zone-redundant"},
		{"acr admin user on", polEdit("acr", true, "adminUserEnabled"), "acr-admin-disabled"},
		{"key vault without purge protection", polEdit("kv-weu", nil, "properties", "enablePurgeProtection"), "keyvault-purge-protection"},
		{"key vault access policies", polEdit("kv-weu", false, "properties", "enableRbacAuthorization"), "keyvault-rbac"},
		{"aks pool spans zones", polEdit("aks-weu-1", []any{"1", "2", "3"}, "agentPoolProfiles", 1, "availabilityZones"), "aks-single-zone"},
		{"aks pool without zone", polEdit("aks-neu-2", nil, "agentPoolProfiles", 0, "availabilityZones"), "aks-single-zone"},
		{"aks pools in different zones", polEdit("aks-weu-1", []any{"2"}, "agentPoolProfiles", 1, "availabilityZones"), "aks-single-zone"},
		{"aks separate pool in two zones", polEdit("aks-weu-1-extra", []any{"1", "3"}, "availabilityZones"), "aks-single-zone"},
		{"aks separate pool in another zone", polEdit("aks-weu-1-extra", []any{"3"}, "availabilityZones"), "aks-stamp-one-zone"},
		{"aks local accounts on", polEdit("aks-weu-1", false, "disableLocalAccounts"), "aks-local-accounts-disabled"},
		{"aks workload identity off", polEdit("aks-neu-2", false, "securityProfile", "workloadIdentity", "enabled"), "aks-workload-identity"},
		{"aks oidc issuer off", polEdit("aks-neu-2", nil, "oidcIssuerProfile"), "aks-workload-identity"},
		{"traffic manager ttl 60", polEdit("tm", 60.0, "dnsConfig", "ttl"), "trafficmanager-ttl"},
		{"traffic manager ttl unset", polEdit("tm", nil, "dnsConfig", "ttl"), "trafficmanager-ttl"},
		{"traffic manager no path", polEdit("tm", nil, "monitorConfig", "path"), "trafficmanager-monitor-path"},
		{"traffic manager tcp probe", polEdit("tm", "TCP", "monitorConfig", "protocol"), "trafficmanager-monitor-path"},
		{"deployment without non-root", polEdit("voicemail", map[string]any{}, "spec", "template", "spec", "securityContext"), "k8s-non-root"},
		{"container overrides to root", polEdit("voicemail", map[string]any{"runAsUser": 0.0}, "spec", "template", "spec", "containers", 0, "securityContext"), "k8s-non-root"},
		{"deployment without liveness", polEdit("voicemail", nil, "spec", "template", "spec", "containers", 0, "livenessProbe"), "k8s-probes"},
		{"deployment without readiness", polEdit("voicemail", nil, "spec", "template", "spec", "containers", 0, "readinessProbe"), "k8s-probes"},
		{"pdb selects other pods", polEdit("voicemail", map[string]any{"app": "other"}, "spec", "template", "metadata", "labels"), "k8s-pdb"},
		{"one media address for all pods", polEdit("voicemail-config", "20.0.0.1", "data", "VOICEMAIL_SIP_MEDIA_IP"), "sip-no-shared-media-ip"},
		{"rtp through the load balancer", polEdit("voicemail-svc", map[string]any{"name": "rtp-10000", "port": 10000.0, "protocol": "UDP"}, "spec", "ports", 0), "sip-no-media-through-lb"},
		{"cosmos public", polEdit("cosmos", "Enabled", "publicNetworkAccess"), "data-plane-public-access-off"},
		{"storage firewall open", polEdit("st-neu", "Allow", "networkRuleSet", "defaultAction"), "data-plane-public-access-off"},
		{"key vault public access unset", polEdit("kv-weu", nil, "properties", "publicNetworkAccess"), "data-plane-public-access-off"},
		{"registry public", polEdit("acr", "Enabled", "publicNetworkAccess"), "data-plane-public-access-off"},
		{"subnet without nsg", polEdit("snet", nil, "networkSecurityGroup"), "subnet-nsg"},
		{"inline subnet without nsg", polEdit("vnet", nil, "subnets", 1, "networkSecurityGroup"), "subnet-nsg"},
		{"workspace without daily cap", polEdit("log", nil, "workspaceCapping"), "workspace-daily-cap"},
		{"key vault without private endpoint", polWithout("pe-kv", "pe-kv-dns"), "data-store-private-endpoint"},
		{"private endpoint without dns zone group", polWithout("pe-acr-dns"), "data-store-private-endpoint"},
		{"cluster without node-os window", polWithout("mc-weu-nodeos"), "aks-maintenance-window"},
		{"two regions in maintenance at once", polEdit("mc-neu-auto", "Monday", "maintenanceWindow", "schedule", "weekly", "dayOfWeek"), "aks-maintenance-window"},
		{"storage account without lock", polWithout("lock-st-weu"), "data-store-lock"},
		{"cosmos lock that only warns", polEdit("lock-cosmos", "NotSpecified", "level"), "data-store-lock"},
		{"query alert without action group", polEdit("alert-health", []any{}, "actions", "actionGroups"), "alert-routed"},
		{"metric alert without action", polEdit("alert-429", nil, "actions"), "alert-routed"},
		{"pdb in another namespace", polEdit("voicemail", map[string]any{"namespace": "other"}, "metadata"), "k8s-pdb"},
	}
	cases = append(append(cases, polDeployCases()...), polNetworkCases()...)
	cases = append(cases, polIdentityCases()...)
	fired := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs := rules.Evaluate(tc.breakIt(t, polCompliant(t)))
			assert.Contains(t, polRuleIDs(vs), tc.rule, "violations: %v", vs)
			for _, v := range vs {
				assert.NotEmpty(t, v.Message)
			}
			fired[tc.rule] = true
		})
	}
	t.Run("every rule has a failing case", func(t *testing.T) {
		for _, r := range rules.ResourceRules() {
			assert.True(t, fired[r.ID], "no failing case for %s", r.ID)
		}
		for _, r := range rules.StackRules() {
			assert.True(t, fired[r.ID], "no failing case for %s", r.ID)
		}
	})
}

func TestPolicyDeploymentWithoutPDB(t *testing.T) {
	rs := polCompliant(t)
	var kept []rules.Resource
	for _, r := range rs {
		if r.Type != "kubernetes:policy/v1:PodDisruptionBudget" || r.Name != "voicemail" {
			kept = append(kept, r)
		}
	}
	vs := rules.Evaluate(kept)
	require.Len(t, vs, 1)
	assert.Equal(t, "k8s-pdb", vs[0].Rule)
	assert.Equal(t, "voicemail", vs[0].Name)
}

func TestPolicyUnknownValuesDoNotFire(t *testing.T) {
	rs := polCompliant(t)
	// During preview an output-derived input is unknown; the engine re-checks at apply.
	polSet(t, polFind(t, rs, "cosmos").Inputs, rules.Unknown{}, "locations")
	polSet(t, polFind(t, rs, "st-weu").Inputs, rules.Unknown{}, "allowSharedKeyAccess")
	polSet(t, polFind(t, rs, "voicemail").Inputs, rules.Unknown{}, "metadata", "namespace")
	assert.Empty(t, rules.Evaluate(rs))
}

func TestPolicyTypeMatchIgnoresAPIVersion(t *testing.T) {
	ref := rules.TypeRef{Package: "azure-native", Module: "documentdb", Name: "DatabaseAccount"}
	for token, want := range map[string]bool{
		"azure-native:documentdb/v20230415:DatabaseAccount":        true,
		"azure-native:documentdb:DatabaseAccount":                  true,
		"azure-native:documentdb/v20240515preview:DatabaseAccount": true,
		"azure-native:documentdb/v20230415:DatabaseAccountX":       false,
		"azure-native:cosmosdb:DatabaseAccount":                    false,
		"azure:documentdb:DatabaseAccount":                         false,
		"documentdb:DatabaseAccount":                               false,
	} {
		assert.Equal(t, want, ref.Matches(token), token)
	}
}

// polOutputsStack is how the stack rules see resources after an update: azure-native
// outputs carry no path parameters (accountName, resourceName), so children are
// linked to their parents through the engine's property dependencies.
func polOutputsStack(versioning bool, poolZone string) []rules.Resource {
	return []rules.Resource{
		{Type: "azure-native:storage/v20230501:StorageAccount", Name: "blob-weu",
			Inputs: map[string]any{"name": "vmpweublob", "sku": map[string]any{"name": "Standard_ZRS"}}},
		{Type: "azure-native:storage/v20230501:StorageAccount", Name: "blob-neu",
			Inputs: map[string]any{"name": "vmpneublob", "sku": map[string]any{"name": "Standard_ZRS"}}},
		{Type: "azure-native:storage/v20230501:BlobServiceProperties", Name: "blob-weu-svc",
			Inputs: map[string]any{"name": "default", "isVersioningEnabled": versioning, "changeFeed": map[string]any{"enabled": true}},
			Deps:   map[string][]string{"accountName": {"blob-weu"}, "resourceGroupName": {"rg-weu"}}},
		{Type: "azure-native:storage/v20230501:BlobServiceProperties", Name: "blob-neu-svc",
			Inputs: map[string]any{"name": "default", "isVersioningEnabled": true, "changeFeed": map[string]any{"enabled": true}},
			Deps:   map[string][]string{"accountName": {"blob-neu"}}},
		{Type: "azure-native:storage/v20230501:ObjectReplicationPolicy", Name: "weu-to-neu-or-dst",
			Inputs: map[string]any{
				"sourceAccount":      "/subscriptions/s/resourceGroups/rg-weu/providers/Microsoft.Storage/storageAccounts/vmpweublob",
				"destinationAccount": "/subscriptions/s/resourceGroups/rg-neu/providers/Microsoft.Storage/storageAccounts/vmpneublob"},
			Deps: map[string][]string{"sourceAccount": {"blob-weu"}, "destinationAccount": {"blob-neu"}}},
		{Type: "azure-native:containerservice/v20240801:ManagedCluster", Name: "aks-weu-1",
			Inputs: map[string]any{"name": "vmp-aks-weu-1", "location": "westeurope",
				"agentPoolProfiles": []any{map[string]any{"name": "system", "availabilityZones": []any{"1"}}}}},
		{Type: "azure-native:containerservice/v20240801:AgentPool", Name: "aks-weu-1-user",
			Inputs: map[string]any{"name": "user", "availabilityZones": []any{poolZone}},
			Deps:   map[string][]string{"resourceName": {"aks-weu-1"}}},
	}
}

func TestPolicyStackRulesFollowPropertyDependencies(t *testing.T) {
	run := func(rs []rules.Resource) []string {
		var ids []string
		for _, rule := range rules.StackRules() {
			if rule.ID != "storage-versioning-for-replication" && rule.ID != "aks-stamp-one-zone" {
				continue // the fixture holds only what these two rules relate
			}
			ids = append(ids, polRuleIDs(rule.Run(rs))...)
		}
		return ids
	}
	assert.Empty(t, run(polOutputsStack(true, "1")))
	assert.Equal(t, []string{"storage-versioning-for-replication"}, run(polOutputsStack(false, "1")))
	assert.Equal(t, []string{"aks-stamp-one-zone"}, run(polOutputsStack(true, "2")))

	// Unknown during preview: no judgement yet.
	rs := polOutputsStack(true, "1")
	rs[2].Inputs["isVersioningEnabled"] = rules.Unknown{}
	assert.Empty(t, run(rs))
}
