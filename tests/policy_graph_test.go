package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/policy/rules"
)

// polGraph runs the real program under mocks for a stack and returns what the
// policy pack would see: every resource's inputs (Analyze) and, separately, the
// state the mocks returned (AnalyzeStack sees outputs).
func polGraph(t *testing.T, name string) (inputs, outputs []rules.Resource) {
	t.Helper()
	for _, r := range stackGraph(t, name).sorted() {
		inputs = append(inputs, rules.Resource{Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: r.Inputs, DependsOn: r.DependsOn})
		outputs = append(outputs, rules.Resource{Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: r.Outputs, DependsOn: r.DependsOn})
	}
	return inputs, outputs
}

// polCount counts resources of a type, API version ignored.
func polCount(rs []rules.Resource, ref rules.TypeRef) int {
	n := 0
	for _, r := range rs {
		if ref.Matches(r.Type) {
			n++
		}
	}
	return n
}

func TestPolicyStackGraphsPassEveryRule(t *testing.T) {
	for _, name := range []string{"dev", "prod"} {
		t.Run(name, func(t *testing.T) {
			inputs, outputs := polGraph(t, name)
			require.NotEmpty(t, inputs)

			// Passing only means something if the guarded resources are there.
			for _, ref := range []rules.TypeRef{
				{Package: "azure-native", Module: "documentdb", Name: "DatabaseAccount"},
				{Package: "azure-native", Module: "storage", Name: "StorageAccount"},
				{Package: "azure-native", Module: "storage", Name: "BlobServiceProperties"},
				{Package: "azure-native", Module: "containerregistry", Name: "Registry"},
				{Package: "azure-native", Module: "keyvault", Name: "Vault"},
				{Package: "azure-native", Module: "containerservice", Name: "ManagedCluster"},
				{Package: "azure-native", Module: "network", Name: "Profile"},
			} {
				assert.Positive(t, polCount(inputs, ref), "%s graph has no %s", name, ref)
			}
			if name == "prod" {
				assert.Positive(t, polCount(inputs, rules.TypeRef{Package: "azure-native", Module: "storage", Name: "ObjectReplicationPolicy"}))
			}

			// Every rule, resource and stack level, over the inputs the engine analyzes.
			vs := rules.Evaluate(inputs)
			assert.Empty(t, vs, "%s violations:\n%v", name, vs)
			// The stack rules also run after the update, over outputs.
			for _, rule := range rules.StackRules() {
				assert.Empty(t, rule.Run(outputs), "%s: %s over outputs", name, rule.ID)
			}

			// The rules bite on the real graph too: drop the last Cosmos location and
			// that region's stamps are no longer a write location.
			assert.Contains(t, polRuleIDs(rules.Evaluate(polDropLastCosmosLocation(t, inputs))),
				"cosmos-stamp-regions-writable")
		})
	}
}

// polDropLastCosmosLocation returns a copy of rs whose Cosmos account lost its
// last location.
func polDropLastCosmosLocation(t *testing.T, rs []rules.Resource) []rules.Resource {
	t.Helper()
	cosmos := rules.TypeRef{Package: "azure-native", Module: "documentdb", Name: "DatabaseAccount"}
	out := append([]rules.Resource(nil), rs...)
	for i, r := range out {
		if !cosmos.Matches(r.Type) {
			continue
		}
		locs, ok := r.Inputs["locations"].([]any)
		require.True(t, ok)
		require.NotEmpty(t, locs)
		broken := map[string]any{}
		for k, v := range r.Inputs {
			broken[k] = v
		}
		broken["locations"] = locs[:len(locs)-1]
		out[i].Inputs = broken
	}
	return out
}

// The committed inventory snapshots are what reviewers read; they comply too.
func TestPolicyInventorySnapshotsPassEveryRule(t *testing.T) {
	for _, name := range []string{"dev", "prod"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "inventory-"+name+".json"))
			require.NoError(t, err)
			var rs []rules.Resource
			require.NoError(t, json.Unmarshal(data, &rs))
			require.NotEmpty(t, rs)
			vs := rules.Evaluate(rs)
			assert.Empty(t, vs, "%s snapshot violations:\n%v", name, vs)
		})
	}
}
