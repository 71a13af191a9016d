package tests

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/stack"
)

// Invalid config stops the program before any resource is registered, naming the key.
func TestInvalidConfigRegistersNothing(t *testing.T) {
	cases := map[string]struct{ key, value, wantKey, stack string }{ // stack "" is dev
		"zone the region lacks": {"voicemail:stamps", `[{"region":"eastus2","zone":3}]`, "voicemail:stamps[0].zone", ""},
		"no regions":            {"voicemail:regions", `[]`, "voicemail:regions", ""},
		"ttl above 30":          {"voicemail:trafficManager", `{"ttl":300}`, "voicemail:trafficManager.ttl", ""},
		"name breaks rules":     {"voicemail:namePrefix", "VM_P", "voicemail:namePrefix", ""},
		"package in a folder":   {"voicemail:functions", `{"package":"builds/manager.zip"}`, "voicemail:functions.package", ""},
		"visibility delay 10m":  {"voicemail:imap", `{"visibilityDelay":"10m"}`, "voicemail:imap.visibilityDelay", ""},
		"prod shows at once":    {"voicemail:imap", `{"visibilityDelay":"0s"}`, "voicemail:imap.visibilityDelay", "prod"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st := tc.stack
			if st == "" {
				st = "dev"
			}
			cfg := maps.Clone(stackConfig(t, st))
			cfg[tc.key] = tc.value
			m, err := run(t, st, cfg, stack.Run)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantKey+":")
			assert.Empty(t, m.sorted(), "no resource may be registered before config is valid")
		})
	}
}

// A stamp replacement in progress: v2 beside v1 in the same zone, Weighted routing moving
// traffic, v1 drained but still deployed until it leaves the config.
func TestStampReplacementInProgress(t *testing.T) {
	cfg := maps.Clone(stackConfig(t, "dev"))
	stamps := []map[string]any{
		{"region": "eastus2", "zone": 1, "version": "v1", "weight": 1, "drained": true},
		{"region": "eastus2", "zone": 1, "version": "v2", "weight": 999},
		{"region": "eastus2", "zone": 2, "version": "v1", "weight": 500},
	}
	b, err := json.Marshal(stamps)
	require.NoError(t, err)
	cfg["voicemail:stamps"] = string(b)
	cfg["voicemail:trafficManager"] = `{"routingMethod":"Weighted"}`
	m, err := run(t, "dev", cfg, stack.Run)
	require.NoError(t, err)

	assert.Len(t, m.ofType("ManagedCluster"), 3, "the drained stamp stays deployed")
	want := map[string]struct {
		weight float64
		status string
	}{
		"eastus2-z1-v1": {1, "Disabled"},
		"eastus2-z1-v2": {999, "Enabled"},
		"eastus2-z2-v1": {500, "Enabled"},
	}
	for id, w := range want {
		ep, ok := m.byName(id + "-tm-endpoint")
		require.True(t, ok, id)
		assert.Equal(t, w.weight, ep.Inputs["weight"], id)
		assert.Equal(t, w.status, ep.Inputs["endpointStatus"], id)
		pip, _ := m.byName(id + "-pip")
		assert.Equal(t, pip.ID, ep.Inputs["targetResourceId"])
		aks, _ := m.byName(id + "-aks")
		assert.Equal(t, []any{id[len("eastus2-z") : len("eastus2-z")+1]}, get(aks.Inputs, "agentPoolProfiles", 0, "availabilityZones"))
	}
	p := m.ofType("Profile")[0]
	assert.Equal(t, "Weighted", p.Inputs["trafficRoutingMethod"])
	// Two stamps in one zone get separate address spaces and names.
	v1, _ := m.byName("eastus2-z1-v1-vnet")
	v2, _ := m.byName("eastus2-z1-v2-vnet")
	assert.NotEqual(t, get(v1.Inputs, "addressSpace", "addressPrefixes"), get(v2.Inputs, "addressSpace", "addressPrefixes"))
}

func TestFeatureSwitches(t *testing.T) {
	cfg := maps.Clone(stackConfig(t, "dev"))
	cfg["voicemail:functions"] = `{"enabled":false}`
	cfg["voicemail:jumpbox"] = `{"enabled":false}`
	cfg["voicemail:storage"] = `{"sku":"Premium_ZRS"}`
	m, err := run(t, "dev", cfg, stack.Run)
	require.NoError(t, err)
	assert.Empty(t, m.ofType("WebApp"))
	assert.Empty(t, m.ofType("AppServicePlan"))
	assert.Empty(t, m.ofType("VirtualMachineScaleSet"))
	blob, _ := m.byName("eastus2-st-blob")
	assert.Equal(t, "BlockBlobStorage", blob.Inputs["kind"])
	assert.Equal(t, "Premium_ZRS", get(blob.Inputs, "sku", "name"))
	assert.Nil(t, blob.Inputs["accessTier"])
	queue, _ := m.byName("eastus2-st-queue")
	assert.Equal(t, "StorageV2", queue.Inputs["kind"], "queues stay on a standard account")
	assert.Equal(t, "Standard_ZRS", get(queue.Inputs, "sku", "name"))
}

// BenchmarkProdProgram measures one mocked run of the prod program.
func BenchmarkProdProgram(b *testing.B) {
	cfg := stackConfig(b, "prod")
	for b.Loop() {
		if _, err := run(b, "prod", cfg, stack.Run); err != nil {
			b.Fatal(err)
		}
	}
}
