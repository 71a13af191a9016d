package tests

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/stack"
	"github.com/voicemail-platform/voicemail/policy/rules"
)

// With network.deployRunnerIpRanges set, the registry and each region's package account admit
// exactly the runners' ranges behind a Deny firewall (a single address as storage spells it),
// Cosmos DB, audio storage and Key Vault stay private, and the graph passes every rule.
func TestDeployRunnersReachRegistryAndPackageAccounts(t *testing.T) {
	cfg := maps.Clone(stackConfig(t, "dev"))
	network := map[string]any{}
	if s := cfg["voicemail:network"]; s != "" {
		require.NoError(t, json.Unmarshal([]byte(s), &network))
	}
	network["deployRunnerIpRanges"] = []string{"203.0.113.0/24", "198.51.100.7/32"}
	b, err := json.Marshal(network)
	require.NoError(t, err)
	cfg["voicemail:network"] = string(b)
	m, err := run(t, "dev", cfg, stack.Run)
	require.NoError(t, err)

	acr, ok := m.byName("acr")
	require.True(t, ok)
	assert.Equal(t, "Enabled", acr.Inputs["publicNetworkAccess"])
	assert.Equal(t, "Deny", get(acr.Inputs, "networkRuleSet", "defaultAction"))
	assert.Equal(t, "AzureServices", acr.Inputs["networkRuleBypassOptions"], "az acr import needs trusted services")
	assert.Equal(t, []any{
		map[string]any{"action": "Allow", "iPAddressOrRange": "203.0.113.0/24"},
		map[string]any{"action": "Allow", "iPAddressOrRange": "198.51.100.7/32"},
	}, get(acr.Inputs, "networkRuleSet", "ipRules"))

	queue, ok := m.byName("eastus2-st-queue")
	require.True(t, ok)
	assert.Equal(t, "Enabled", queue.Inputs["publicNetworkAccess"])
	assert.Equal(t, "Deny", get(queue.Inputs, "networkRuleSet", "defaultAction"))
	assert.Equal(t, []any{
		map[string]any{"action": "Allow", "iPAddressOrRange": "203.0.113.0/24"},
		map[string]any{"action": "Allow", "iPAddressOrRange": "198.51.100.7"},
	}, get(queue.Inputs, "networkRuleSet", "ipRules"), "storage takes a /32 only as a single address")

	blob, _ := m.byName("eastus2-st-blob")
	assert.Equal(t, "Disabled", blob.Inputs["publicNetworkAccess"])
	kv, _ := m.byName("eastus2-kv")
	assert.Equal(t, "Disabled", get(kv.Inputs, "properties", "publicNetworkAccess"))
	for _, r := range m.ofType("DatabaseAccount") {
		assert.Equal(t, "Disabled", r.Inputs["publicNetworkAccess"], r.Name)
	}

	var inputs []rules.Resource
	for _, r := range m.sorted() {
		inputs = append(inputs, rules.Resource{Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: r.Inputs, DependsOn: r.DependsOn})
	}
	assert.Empty(t, rules.Evaluate(inputs))
}

// The jobs that push to the registry and upload to the package accounts run where the
// repository variable DEPLOY_RUNNER says: runners inside network.deployRunnerIpRanges or a
// peered network. GitHub's standard hosted runners have no fixed addresses to admit.
func TestDeployJobsRunOnTheConfiguredRunners(t *testing.T) {
	wf := wfParse(t, "main.yml")
	for _, name := range []string{"image", "deploy-dev", "deploy-prod"} {
		j := wf.Jobs[name]
		require.NotNil(t, j, name)
		require.NotNil(t, j.RunsOn, name)
		var labels []string
		if j.RunsOn.LabelsExpr != nil {
			labels = append(labels, wfStr(j.RunsOn.LabelsExpr))
		}
		for _, l := range j.RunsOn.Labels {
			labels = append(labels, wfStr(l))
		}
		require.Len(t, labels, 1, name)
		assert.Contains(t, labels[0], "vars.DEPLOY_RUNNER", name)
	}
}
