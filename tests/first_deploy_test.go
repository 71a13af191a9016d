package tests

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/stack"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// The operator token exists before anything reads it on a first deployment: the program
// creates it in each region's vault, the Functions app (Key Vault reference) waits for it, and
// so does each stamp's workload, whose first object is the namespace (the CSI driver mounts the
// secret into pods that would otherwise never start).
func TestOperatorTokenExistsBeforeItsReaders(t *testing.T) {
	forEachStack(t, func(t *testing.T, st string, cfg map[string]string, topo topology.Topology, m *mocks) {
		for _, r := range topo.Regions {
			secret := r.Name + "-kv-operator-token"
			s, ok := m.byName(secret)
			require.True(t, ok, "%s creates %s", st, secret)
			assert.Equal(t, topology.OperatorTokenSecret, s.Inputs["secretName"])
			assert.Equal(t, r.Names.KeyVault, s.Inputs["vaultName"])
			if app, ok := m.byName(r.Name + "-func"); ok {
				assert.True(t, slices.Contains(app.DependsOn, secret), "%s waits for %s (depends on %v)", app.Name, secret, app.DependsOn)
			}
			for _, s := range topo.StampsIn(r.Name) {
				ns, ok := m.byName(s.ID + "-app-ns")
				require.True(t, ok, s.ID)
				assert.True(t, slices.Contains(ns.DependsOn, secret), "%s waits for %s (depends on %v)", ns.Name, secret, ns.DependsOn)
			}
		}
	})
}

// Key Vault names are fixed and purge protection reserves a deleted vault's name for 90 days,
// so re-creating a removed region needs the vault recovered: recoverKeyVault sends createMode
// "recover" for that region; every other vault is created in the default mode.
func TestRecoverKeyVaultRecreatesARegion(t *testing.T) {
	kv, ok := stackGraph(t, "dev").byName("eastus2-kv")
	require.True(t, ok)
	assert.Equal(t, "default", get(kv.Inputs, "properties", "createMode"))

	cfg := maps.Clone(stackConfig(t, "dev"))
	cfg["voicemail:regions"] = `[{"name":"eastus2","zones":[1,2],"recoverKeyVault":true}]`
	m, err := run(t, "dev", cfg, stack.Run)
	require.NoError(t, err)
	kv, ok = m.byName("eastus2-kv")
	require.True(t, ok)
	assert.Equal(t, "recover", get(kv.Inputs, "properties", "createMode"))
}
