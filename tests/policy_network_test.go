package tests

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/policy/rules"
)

// polNetworkCases break the fixture the way a deployment meets the stores' network settings:
// a data-plane write from outside their networks, firewall rules Azure refuses, a registry
// that refuses the documented image import, and a replication policy naming an account alone.
func polNetworkCases() []polCase {
	return []polCase{
		{"secret written through the vault's data plane", polAppend(rules.Resource{Type: "azure:keyvault/secret:Secret", Name: "token-dp", Inputs: map[string]any{
			"name": "operator-token", "keyVaultId": polSub + "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/vm-kv-weu"}}), "deploy-control-plane-only"},
		{"blob uploaded by the program", polAppend(rules.Resource{Type: "azure-native:storage/v20220901:Blob", Name: "state-blob", Inputs: map[string]any{
			"accountName": "vmweust", "containerName": "state", "blobName": "eastus2-z1-v1"}}), "deploy-control-plane-only"},
		{"storage IP rule as a /32 range", polEdit("st-neu", []any{map[string]any{"iPAddressOrRange": "203.0.113.7/32"}}, "networkRuleSet", "ipRules"), "firewall-ip-rules"},
		{"storage IP rule for a private range", polEdit("st-neu", []any{map[string]any{"iPAddressOrRange": "10.1.0.0/24"}}, "networkRuleSet", "ipRules"), "firewall-ip-rules"},
		{"key vault IP rule for a private address", polEdit("kv-weu", []any{map[string]any{"value": "192.168.1.4"}}, "properties", "networkAcls", "ipRules"), "firewall-ip-rules"},
		{"registry refuses trusted services", polEdit("acr", "None", "networkRuleBypassOptions"), "acr-trusted-services-import"},
		{"replication policy names its source by account name", polEdit("orp-weu-neu", "vmweust", "sourceAccount"), "storage-replication-resource-ids"},
		{"replication policy names its destination by account name", polEdit("orp-weu-neu", "vmneust", "destinationAccount"), "storage-replication-resource-ids"},
	}
}

// The README's rule table is where operators read what a failed preview means: every rule of
// the pack has its row.
func TestPolicyREADMEListsEveryRule(t *testing.T) {
	b, err := os.ReadFile("../policy/README.md")
	require.NoError(t, err)
	readme := string(b)
	for _, r := range rules.ResourceRules() {
		assert.Contains(t, readme, "| `"+r.ID+"`", "policy/README.md has no row for %s", r.ID)
	}
	for _, r := range rules.StackRules() {
		assert.Contains(t, readme, "| `"+r.ID+"` (stack)", "policy/README.md has no row for stack rule %s", r.ID)
	}
}
