package tests

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/privatenet"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Every stamp VNet resolves each data store its pods use through its own private endpoint
// and its own private DNS zones; data stores are closed to the internet.
func TestPrivateDataPlanes(t *testing.T) {
	forEachStack(t, func(t *testing.T, st string, cfg map[string]string, topo topology.Topology, m *mocks) {
		for _, r := range m.ofType("DatabaseAccount") {
			assert.Equal(t, "Disabled", r.Inputs["publicNetworkAccess"], r.Name)
		}
		for _, kind := range []string{"StorageAccount", "Registry"} {
			for _, r := range m.ofType(kind) {
				assert.Equal(t, "Disabled", r.Inputs["publicNetworkAccess"], r.Name)
			}
		}
		for _, r := range m.ofType("Vault") {
			assert.Equal(t, "Disabled", get(r.Inputs, "properties", "publicNetworkAccess"), r.Name)
		}
		for _, s := range topo.Stamps {
			groups := map[string]int{}
			for _, r := range m.ofType("PrivateEndpoint") {
				if !strings.HasPrefix(r.Name, s.ID+"-pe-") {
					continue
				}
				assert.Contains(t, get(r.Inputs, "subnet", "id"), "/virtualNetworks/"+s.Names.VNet+"/subnets/"+topology.PrivateEndpointSubnet)
				groups[get(r.Inputs, "privateLinkServiceConnections", 0, "groupIds", 0).(string)]++
			}
			assert.Equal(t, map[string]int{privatenet.GroupCosmosTable: 1, privatenet.GroupQueue: 1, privatenet.GroupVault: 1,
				privatenet.GroupRegistry: 1, privatenet.GroupBlob: len(topo.Regions)}, groups, s.ID)
			for g, zone := range privatenet.Zones() {
				link, ok := m.byName(s.ID + "-pdns-" + g + "-link")
				require.True(t, ok, "%s links %s", s.ID, zone)
				assert.Equal(t, zone, link.Inputs["privateZoneName"])
				assert.Equal(t, s.Names.ResourceGroup, link.Inputs["resourceGroupName"], "the zone lives with the stamp")
				assert.Contains(t, get(link.Inputs, "virtualNetwork", "id"), "/virtualNetworks/"+s.Names.VNet)
			}
		}
		for _, r := range topo.Regions {
			app, ok := m.byName(r.Name + "-func")
			require.True(t, ok)
			assert.Contains(t, app.Inputs["virtualNetworkSubnetId"], "/subnets/"+topology.FunctionsSubnet)
			assert.Equal(t, true, app.Inputs["vnetRouteAllEnabled"])
		}
	})
}

// Every subnet carries an NSG whose rules each say why they exist.
func TestEverySubnetHasNSG(t *testing.T) {
	forEachStack(t, func(t *testing.T, st string, cfg map[string]string, topo topology.Topology, m *mocks) {
		nsgs := map[string]bool{}
		for _, n := range m.ofType("NetworkSecurityGroup") {
			nsgs[n.ID] = true
			for _, rule := range n.Inputs["securityRules"].([]any) {
				assert.NotEmpty(t, get(rule, "description"), n.Name)
			}
		}
		for _, s := range m.ofType("Subnet") {
			id, _ := get(s.Inputs, "networkSecurityGroup", "id").(string)
			require.NotEmpty(t, id, s.Name)
			assert.True(t, nsgs[id], "%s: NSG %s is in the stack", s.Name, id)
		}
	})
}

// Safe maintenance: each cluster has both windows, the add-ons follow the stack's switches,
// data stores are locked and workspaces capped.
func TestSafeMaintenance(t *testing.T) {
	forEachStack(t, func(t *testing.T, st string, cfg map[string]string, topo topology.Topology, m *mocks) {
		for _, s := range topo.Stamps {
			for _, n := range []string{"aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"} {
				mc, ok := m.byName(s.ID + "-" + n)
				require.True(t, ok, s.ID+" "+n)
				assert.Equal(t, n, mc.Inputs["configName"])
				assert.EqualValues(t, 4, get(mc.Inputs, "maintenanceWindow", "durationHours"))
			}
			aks, _ := m.byName(s.ID + "-aks")
			assert.Equal(t, topo.Config.AKS.Defender, get(aks.Inputs, "securityProfile", "defender", "securityMonitoring", "enabled"), s.ID)
			assert.Equal(t, topo.Config.AKS.AzurePolicy, get(aks.Inputs, "addonProfiles", "azurepolicy", "enabled"), s.ID)
			dcra, ok := m.byName(s.ID + "-dcra-ci")
			require.True(t, ok)
			assert.Equal(t, "ContainerInsightsExtension", dcra.Inputs["associationName"])
		}
		locked := map[string]bool{}
		for _, l := range m.ofType("ManagementLockByScope") {
			assert.Equal(t, "CanNotDelete", l.Inputs["level"])
			locked[l.Inputs["scope"].(string)] = true
		}
		for _, kind := range []string{"DatabaseAccount", "StorageAccount"} {
			for _, r := range m.ofType(kind) {
				assert.True(t, locked[r.ID], "%s is locked", r.Name)
			}
		}
		for _, w := range m.ofType("Workspace") {
			assert.Greater(t, get(w.Inputs, "workspaceCapping", "dailyQuotaGb"), 0.0, w.Name)
		}
	})
}

// Every outgoing audio replication policy is watched: replication metrics on, and a metric
// alert on its pending operations scoped to the source policy, where Azure emits them.
func TestAudioReplicationBacklogAlerts(t *testing.T) {
	g := stackGraph(t, "prod")
	alerts := map[string]map[string]any{}
	for _, a := range g.ofType("MetricAlert") {
		scopes, _ := a.Inputs["scopes"].([]any)
		require.Len(t, scopes, 1, a.Name)
		alerts[scopes[0].(string)] = a.Inputs
	}
	sources := 0
	for _, p := range g.ofType("ObjectReplicationPolicy") {
		assert.Equal(t, map[string]any{"enabled": true}, p.Inputs["metrics"], p.Name)
		if !strings.HasSuffix(p.Name, "-or-src") {
			continue
		}
		sources++
		a, ok := alerts[p.ID]
		require.True(t, ok, "no metric alert scoped to %s (%s)", p.Name, p.ID)
		crit := a["criteria"].(map[string]any)["allOf"].([]any)[0].(map[string]any)
		assert.Equal(t, "Microsoft.Storage/storageAccounts/objectReplicationPolicies", crit["metricNamespace"], p.Name)
		assert.Equal(t, "PendingOperationsForReplication", crit["metricName"], p.Name)
		assert.Equal(t, 1000.0, crit["threshold"], p.Name)
	}
	assert.Positive(t, sources)
}
