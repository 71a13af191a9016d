package tests

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/naming"
	"github.com/voicemail-platform/voicemail/policy/rules"
)

// The compliant fixture's part for the deploy-time rules (policy/rules/deploy.go): a Table
// account with its table role assignment, diagnostic settings, a Functions app with its Key
// Vault reference and telemetry role, an AKS cluster's deployer grant and autoscaled pool,
// and a stamp's ConfigMap, HPA, Service and secret provider. Built in Go because assignment
// names are GUIDs of their inputs.
const (
	polSub     = "/subscriptions/s"
	polAcct    = polSub + "/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/vmcosmos"
	polCluster = polSub + "/resourceGroups/rg-weu-1/providers/Microsoft.ContainerService/managedClusters/aks-weu-1"
	polAppi    = polSub + "/resourceGroups/rg/providers/Microsoft.Insights/components/appi-weu"
)

func polRoleDef(id string) string {
	return polSub + "/providers/Microsoft.Authorization/roleDefinitions/" + id
}

func polAssignment(name, parent, scope, principal, roleDef string) rules.Resource {
	return rules.Resource{Type: "azure-native:authorization/v20220401:RoleAssignment", Name: name, Parent: parent, Inputs: map[string]any{
		"scope": scope, "principalId": principal, "roleDefinitionId": roleDef,
		"roleAssignmentName": naming.GUID(strings.ToLower(scope), strings.ToLower(principal), strings.ToLower(roleDef)),
	}}
}

func polDeployResources() []rules.Resource {
	tableDef := polAcct + "/tableRoleDefinitions/00000000-0000-0000-0000-000000000002"
	return []rules.Resource{
		{Type: "azure-native:documentdb/v20230415:TableResourceTable", Name: "table", Inputs: map[string]any{"accountName": "vmcosmos", "tableName": "voicemail"}},
		{Type: "azure-native:documentdb/v20241201preview:TableResourceTableRoleAssignment", Name: "app-cosmos", Inputs: map[string]any{
			"accountName": "vmcosmos", "scope": polAcct, "principalId": "p-app", "roleDefinitionId": tableDef,
			"roleAssignmentId": naming.GUID(strings.ToLower(polAcct), "p-app", strings.ToLower(tableDef)),
		}},
		polAssignment("acr-pull", "aks-weu-1", polSub+"/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr", "p-kubelet", polRoleDef("7f951dda-4ed3-4680-a7ca-43fe172d538d")),
		polAssignment("aks-deployer", "aks-weu-1", polCluster, "p-deployer", polRoleDef("b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b")),
		polAssignment("aks-neu-deployer", "aks-neu-2", polSub+"/resourceGroups/rg-neu-2/providers/Microsoft.ContainerService/managedClusters/aks-neu-2", "p-deployer", polRoleDef("b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b")),
		polAssignment("func-appinsights", "func-weu", polAppi, "p-func", polRoleDef("3913510d-42f4-4e42-8a64-420c390055eb")),
		{Type: "azure-native:insights/v20210501preview:DiagnosticSetting", Name: "st-weu-diag", Inputs: map[string]any{
			"resourceUri": polSub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/vmweust/blobServices/default",
			"metrics":     []any{map[string]any{"category": "Transaction", "enabled": true}}}},
		{Type: "azure-native:insights/v20210501preview:DiagnosticSetting", Name: "cosmos-diag", Inputs: map[string]any{
			"resourceUri": polAcct, "metrics": []any{map[string]any{"category": "Requests", "enabled": true}}}},
		{Type: "azure-native:insights/v20210501preview:DiagnosticSetting", Name: "acr-diag", Inputs: map[string]any{
			"resourceUri": polSub + "/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr",
			"metrics":     []any{map[string]any{"category": "AllMetrics", "enabled": true}}}},
		{Type: "azure-native:insights/v20200202:Component", Name: "appi-weu", Inputs: map[string]any{"disableLocalAuth": true}},
		{Type: "azure-native:keyvault/v20230201:Secret", Name: "kv-operator-token", Inputs: map[string]any{
			"vaultName": "kv-weu", "secretName": "operator-token", "properties": map[string]any{"value": "[secret]"}}},
		{Type: "azure-native:web/v20181101:WebApp", Name: "func-weu", Inputs: map[string]any{"siteConfig": map[string]any{"appSettings": []any{
			map[string]any{"name": "APPLICATIONINSIGHTS_CONNECTION_STRING", "value": "InstrumentationKey=x"},
			map[string]any{"name": "VOICEMAIL_MANAGER_OPERATOR_TOKEN", "value": "@Microsoft.KeyVault(SecretUri=https://kv-weu.vault.azure.net/secrets/operator-token/)"},
		}}}},
		{Type: "azure-native:containerservice/v20230601:AgentPool", Name: "aks-weu-1-user", Parent: "aks-weu-1", Inputs: map[string]any{
			"resourceName": "aks-weu-1", "availabilityZones": []any{"1"}, "enableAutoScaling": true, "minCount": 3.0, "maxCount": 9.0}},
		{Type: "kubernetes:core/v1:ConfigMap", Name: "weu-config", Inputs: map[string]any{
			"metadata": map[string]any{"namespace": "voicemail", "name": "voicemail-config"},
			"data": map[string]any{
				"VOICEMAIL_TABLE": "voicemail", "VOICEMAIL_REGION": "westeurope", "VOICEMAIL_AUDIO_CONTAINER": "audio",
				"VOICEMAIL_TABLE_ENDPOINT": "https://vmcosmos-westeurope.table.cosmos.azure.com:443/",
			}}},
		{Type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", Name: "weu-hpa", Inputs: map[string]any{
			"metadata": map[string]any{"namespace": "voicemail", "name": "voicemail"},
			"spec":     map[string]any{"scaleTargetRef": map[string]any{"kind": "Deployment", "name": "voicemail"}, "minReplicas": 3.0, "maxReplicas": 9.0}}},
		{Type: "kubernetes:core/v1:Service", Name: "weu-service", Inputs: map[string]any{"spec": map[string]any{
			"type": "LoadBalancer", "ports": polPorts(254)}}},
		{Type: "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass", Name: "weu-secretprovider", Inputs: map[string]any{"spec": map[string]any{
			"parameters": map[string]any{"keyvaultName": "kv-weu", "objects": "array:\n  - |\n    objectName: operator-token\n    objectType: secret\n"}}}},
		// A stamp VNet's subnets, created one after another.
		{Type: "azure-native:network/v20190601:VirtualNetwork", Name: "weu-vnet", Inputs: map[string]any{"virtualNetworkName": "vnet-weu-1"}},
		{Type: "azure-native:network/v20190601:Subnet", Name: "weu-snet-aks", Inputs: map[string]any{"virtualNetworkName": "vnet-weu-1", "subnetName": "snet-aks", "networkSecurityGroup": map[string]any{"id": polSub + "/resourceGroups/rg-weu-1/providers/Microsoft.Network/networkSecurityGroups/nsg-aks"}}},
		{Type: "azure-native:network/v20190601:Subnet", Name: "weu-snet-pe", DependsOn: []string{"weu-snet-aks"}, Inputs: map[string]any{"virtualNetworkName": "vnet-weu-1", "subnetName": "snet-pe", "networkSecurityGroup": map[string]any{"id": polSub + "/resourceGroups/rg-weu-1/providers/Microsoft.Network/networkSecurityGroups/nsg-pe"}}},
		{Type: "azure-native:network/v20190601:Subnet", Name: "weu-snet-pods", DependsOn: []string{"weu-snet-pe"}, Inputs: map[string]any{"virtualNetworkName": "vnet-weu-1", "subnetName": "snet-pods", "networkSecurityGroup": map[string]any{"id": polSub + "/resourceGroups/rg-weu-1/providers/Microsoft.Network/networkSecurityGroups/nsg-pods"}}},
	}
}

func polPorts(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"port": float64(10000 + i), "protocol": "UDP"}
	}
	return out
}

// polAppend adds a resource to the fixture.
func polAppend(r rules.Resource) func(*testing.T, []rules.Resource) []rules.Resource {
	return func(_ *testing.T, rs []rules.Resource) []rules.Resource { return append(rs, r) }
}

// polDeployCases break the fixture the way each deploy-time defect did.
func polDeployCases() []polCase {
	return []polCase{
		// A mistyped built-in role GUID (the AcrPull id the program used to send).
		{"role GUID that is no built-in role", polEdit("acr-pull", polRoleDef("7f951dda-4ed3-4680-a71e-0cc81ed8c6f4"), "roleDefinitionId"), "rbac-builtin-role"},
		// A name from a stack-independent key collides across stacks of one tenant.
		{"role assignment name not derived from scope, principal and role", polEdit("aks-deployer", naming.GUID("role", "weu-1/aks-deployer", "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"), "roleAssignmentName"), "rbac-assignment-name"},
		{"table role assignment id not derived", polEdit("app-cosmos", naming.GUID("cosmos", "weu-1/app"), "roleAssignmentId"), "rbac-assignment-name"},
		{"storage service asked for AllMetrics", polEdit("st-weu-diag", []any{map[string]any{"category": "AllMetrics", "enabled": true}}, "metrics"), "diagnostics-metric-category"},
		{"cosmos asked for AllMetrics", polEdit("cosmos-diag", []any{map[string]any{"category": "AllMetrics", "enabled": true}}, "metrics"), "diagnostics-metric-category"},
		{"autoscaled agent pool sends a count", polEdit("aks-weu-1-user", 3.0, "count"), "aks-autoscaled-pool-count"},
		{"inline pool autoscaled", polEdit("aks-weu-1", true, "agentPoolProfiles", 1, "enableAutoScaling"), "aks-autoscaled-pool-count"},
		{"node OS channel the pinned API lacks", func(t *testing.T, rs []rules.Resource) []rules.Resource {
			for i := range rs {
				if rs[i].Name == "aks-weu-1" {
					rs[i].Type = "azure-native:containerservice/v20230601:ManagedCluster"
					rs[i].Inputs["autoUpgradeProfile"] = map[string]any{"nodeOSUpgradeChannel": "SecurityPatch"}
				}
			}
			return rs
		}, "api-version-features"},
		{"more service ports than load-balancer rules per NIC", polEdit("weu-service", polPorts(301), "spec", "ports"), "k8s-loadbalancer-rules"},
		{"SQL role assignment on a Table account", polAppend(rules.Resource{Type: "azure-native:documentdb/v20230415:SqlResourceSqlRoleAssignment", Name: "sql", Inputs: map[string]any{
			"accountName": "vm-cosmos", "roleDefinitionId": polAcct + "/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002"}}), "cosmos-table-rbac"},
		{"table assignment of a SQL role definition", polEdit("app-cosmos", polAcct+"/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002", "roleDefinitionId"), "cosmos-table-rbac"},
		{"table nobody uses", polAppend(rules.Resource{Type: "azure-native:documentdb/v20230415:TableResourceTable", Name: "mailboxes", Inputs: map[string]any{"tableName": "mailboxes"}}), "cosmos-no-unused-tables"},
		{"stamp on the global table endpoint", polEdit("weu-config", "https://vmcosmos.table.cosmos.azure.com:443/", "data", "VOICEMAIL_TABLE_ENDPOINT"), "cosmos-stamp-regional-endpoint"},
		{"stamp on another region's endpoint", polEdit("weu-config", "https://vmcosmos-northeurope.table.cosmos.azure.com:443/", "data", "VOICEMAIL_TABLE_ENDPOINT"), "cosmos-stamp-regional-endpoint"},
		{"stamp shows deposits at once in a two-region stack", polEdit("weu-config", "0s", "data", "VOICEMAIL_IMAP_VISIBILITY_DELAY"), "imap-visibility-delay-regions"},
		{"visibility delay the binary refuses", polEdit("weu-config", "10m", "data", "VOICEMAIL_IMAP_VISIBILITY_DELAY"), "imap-visibility-delay-regions"},
		{"functions app without Monitoring Metrics Publisher", polWithout("func-appinsights"), "appinsights-entra-publisher"},
		{"Key Vault reference to a secret nobody creates", polWithout("kv-operator-token"), "keyvault-secrets-provisioned"},
		{"secret provider mounts a secret nobody creates", polEdit("weu-secretprovider", "array:\n  - |\n    objectName: sip-key\n", "spec", "parameters", "objects"), "keyvault-secrets-provisioned"},
		{"Azure RBAC cluster nobody may deploy into", polWithout("aks-deployer"), "aks-deployer-data-plane-role"},
		{"deployer granted a control-plane role only", polEdit("aks-deployer", polRoleDef("4d97b98b-1d4f-4787-a291-c67834d212e7"), "roleDefinitionId"), "aks-deployer-data-plane-role"},
		{"deployment sets replicas under an HPA", polEdit("voicemail", 3.0, "spec", "replicas"), "k8s-hpa-owns-replicas"},
		{"pod spec feature newer than the cluster", polEdit("voicemail", map[string]any{"preStop": map[string]any{"sleep": map[string]any{"seconds": 10.0}}}, "spec", "template", "spec", "containers", 0, "lifecycle"), "k8s-version-pod-features"},
		// The ring: every region's audio container is a source and a destination.
		{"replication ring writes into a destination", polEdit("orp-weu-neu", []any{map[string]any{"sourceContainer": "audio", "destinationContainer": "audio"}}, "rules"), "storage-replication-destinations"},
		{"replication to three accounts", polReplicateToMany(3), "storage-replication-destinations"},
		// The stamp's pod and private-endpoint subnets both waited only for the node subnet.
		{"two subnets of one VNet created at once", func(t *testing.T, rs []rules.Resource) []rules.Resource {
			for i := range rs {
				if rs[i].Name == "weu-snet-pods" {
					rs[i].DependsOn = []string{"weu-snet-aks"}
				}
			}
			return rs
		}, "network-subnets-one-at-a-time"},
	}
}

// polReplicateToMany adds policies from vmweust to n more accounts.
func polReplicateToMany(n int) func(*testing.T, []rules.Resource) []rules.Resource {
	return func(_ *testing.T, rs []rules.Resource) []rules.Resource {
		for i := range n {
			dst := "vmdst" + string(rune('a'+i))
			rs = append(rs, rules.Resource{Type: "azure-native:storage/v20230501:ObjectReplicationPolicy", Name: "orp-" + dst, Inputs: map[string]any{
				"sourceAccount": "vmweust", "destinationAccount": dst,
				"rules": []any{map[string]any{"sourceContainer": "audio", "destinationContainer": "audio-westeurope"}}}})
		}
		return rs
	}
}

func TestPolicyRulesCiteTheirDocs(t *testing.T) {
	check := func(id, doc string) {
		assert.True(t, strings.HasPrefix(doc, "https://learn.microsoft.com/") || strings.HasPrefix(doc, "https://kubernetes.io/"),
			"rule %s must cite the documentation of the behaviour it encodes (Doc)", id)
	}
	for _, r := range rules.ResourceRules() {
		check(r.ID, r.Doc)
	}
	for _, r := range rules.StackRules() {
		check(r.ID, r.Doc)
	}
}

// Role assignment names are unique in the whole Entra tenant, so two stacks deployed into one
// tenant must not share a single name (dev and prod used to, for every stamp).
func TestRoleAssignmentNamesUniqueAcrossStacks(t *testing.T) {
	owner := map[string]string{}
	for _, st := range []string{"dev", "prod"} {
		for _, kind := range []string{"RoleAssignment", "TableResourceTableRoleAssignment"} {
			for _, r := range stackGraph(t, st).ofType(kind) {
				name, _ := r.Inputs["roleAssignmentName"].(string)
				if name == "" {
					name, _ = r.Inputs["roleAssignmentId"].(string)
				}
				assert.NotEmpty(t, name, "%s %s", st, r.Name)
				prev, dup := owner[name]
				assert.False(t, dup, "%s %s reuses the name of %s", st, r.Name, prev)
				owner[name] = st + " " + r.Name
			}
		}
	}
}

// The policy pack's table of built-in roles and the program's roles are the same facts: the
// pack must not reject a role the program grants, nor accept a GUID the program mistyped.
func TestPolicyBuiltinRolesMatchTheProgram(t *testing.T) {
	for _, r := range arm.Roles() {
		if r == arm.CosmosTableDataContributor {
			continue // a Cosmos DB table role definition, not an Azure RBAC one
		}
		assert.Equal(t, r.Name, rules.BuiltinRoles[r.ID], "role %s", r.Name)
	}
}

// A zero visibility delay is right for one region (nothing arrives from elsewhere) and wrong as
// soon as the Cosmos DB account or the stamps span a second one.
func TestPolicyVisibilityDelayNeedsOneRegion(t *testing.T) {
	const rule = "imap-visibility-delay-regions"
	oneRegion := func(t *testing.T, rs []rules.Resource) []rules.Resource {
		rs = polEdit("weu-config", "0s", "data", "VOICEMAIL_IMAP_VISIBILITY_DELAY")(t, rs)
		cosmos := polFind(t, rs, "cosmos")
		cosmos.Inputs["locations"] = cosmos.Inputs["locations"].([]any)[:1]
		return rs
	}
	assert.NotContains(t, polRuleIDs(rules.Evaluate(oneRegion(t, polCompliant(t)))), rule)

	// A second stamp in another region, its account still listing one location.
	rs := oneRegion(t, polCompliant(t))
	rs = append(rs, rules.Resource{Type: "kubernetes:core/v1:ConfigMap", Name: "neu-config", Inputs: map[string]any{
		"data": map[string]any{"VOICEMAIL_REGION": "northeurope", "VOICEMAIL_IMAP_VISIBILITY_DELAY": "5s"}}})
	vs := rules.Evaluate(rs)
	assert.Contains(t, polRuleIDs(vs), rule)
	for _, v := range vs {
		if v.Rule == rule {
			assert.Equal(t, "weu-config", v.Name, "only the stamp at 0s")
			assert.Contains(t, v.Message, "imap.visibilityDelay")
		}
	}
}
