package tests

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/stack"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// forEachStack runs the program under mocks for the dev and prod stacks and hands each graph
// to check as a subtest.
func forEachStack(t *testing.T, check func(t *testing.T, st string, cfg map[string]string, topo topology.Topology, m *mocks)) {
	for _, st := range []string{"dev", "prod"} {
		t.Run(st, func(t *testing.T) {
			cfg := stackConfig(t, st)
			topo := plan(t, cfg)
			check(t, st, cfg, topo, stackGraph(t, st))
		})
	}
}

func plan(t *testing.T, cfg map[string]string) topology.Topology {
	t.Helper()
	c, err := config.Parse(cfg)
	require.NoError(t, err)
	topo, err := topology.Build(c)
	require.NoError(t, err)
	return topo
}

// TestResourceCountsFollowTopology checks that each layer is instantiated once per
// global/region/stamp and nothing is created twice or forgotten.
func TestResourceCountsFollowTopology(t *testing.T) {
	forEachStack(t, func(t *testing.T, st string, cfg map[string]string, topo topology.Topology, m *mocks) {
		R, S := len(topo.Regions), len(topo.Stamps)
		replicated, replicas := 0, 0
		for _, r := range topo.Regions {
			replicated += len(r.ReplicateTo)
			replicas += len(r.ReplicaOf)
		}
		require.Equal(t, replicated, replicas)
		want := map[string]int{
			"voicemail:global:Global":   1,
			"voicemail:regional:Region": R,
			"voicemail:stamp:Stamp":     S,
			"DatabaseAccount":           1,
			"TableResourceTable":        len(topology.Tables()),
			"Registry":                  1,
			"Replication":               R - 1,
			"Profile":                   1,
			"Endpoint":                  S,
			"ResourceGroup":             2 + R + S,
			"Workspace":                 1 + R + S,
			"Component":                 R + 1, // + the availability tests\' component
			"Vault":                     R,
			"StorageAccount":            2 * R,
			"BlobServiceProperties":     R,
			"BlobContainer":             R*len(topology.Containers()) + replicas + R, // + the manager's deployments container
			"ManagementPolicy":          R,
			"Secret":                    2 * R, // operator token and edge certificate
			"AgentPool":                 S,
			"Queue":                     R * len(topology.Queues()),
			"ObjectReplicationPolicy":   2 * replicated,
			"AppServicePlan":            R,
			"WebApp":                    R,
			"VirtualMachineScaleSet":    R,
			"VirtualNetwork":            R + S,
			"Subnet":                    3*R + 3*S, // region: jump box, endpoints, Functions; stamp: nodes, endpoints, pods
			"NetworkSecurityGroup":      3*R + 2*S, // one per subnet; the pod subnet shares the nodes'
			// Region VNet: audio, host blob, host queue, Key Vault, Cosmos, ACR; stamp VNet:
			// Cosmos, queue, Key Vault, ACR and every region's audio account.
			"PrivateEndpoint":     6*R + (4+R)*S,
			"PrivateDnsZoneGroup": 6*R + (4+R)*S,
			// Each VNet its own five data-plane zones, linked to it alone; plus the SIP zone,
			// linked to every stamp VNet, with an A record per stamp and the SRV sets (shared,
			// per region, per stamp; three services each).
			"PrivateZone":                   5*(R+S) + 1,
			"VirtualNetworkLink":            5*(R+S) + S,
			"PrivateRecordSet":              S + 3*(1+R+S),
			"MaintenanceConfiguration":      2 * S, // auto-upgrade and node-OS windows
			"DataCollectionRule":            S,     // Container insights with managed identity
			"DataCollectionRuleAssociation": S,
			"ManagementLockByScope":         1 + 2*R, // Cosmos DB and every storage account
			// The health model (monitoring/): KQL functions per workspace, alerts, tests, workbook.
			"voicemail:monitoring:HealthModel": 1,
			"SavedSearch":                      5 + R + 6*S,
			"ActionGroup":                      len(topo.Config.Monitoring.ActionGroups),
			"ScheduledQueryRule":               4 + R + 4*S,                      // root, degraded, region, stamp-from-outside; certificates per region; each stamp from inside, its edge certificate, pods that stop reporting it and IMAP late arrivals
			"MetricAlert":                      R + 1 + min(R-1, 1) + replicated, // queue backlog per region, Cosmos 429s, Cosmos replication lag (several regions), audio replication backlog per policy
			"WebTest":                          S + 1,
			"Workbook":                         1,
			"ManagedCluster":                   S,
			"PublicIPAddress":                  S,
			"UserAssignedIdentity":             3 * S, // cluster, app, SIP dispatcher
			"FederatedIdentityCredential":      2 * S, // app, SIP dispatcher
			"TableResourceTableRoleAssignment": S,
			// Functions: host blob, host queue, state, Key Vault, App Insights; stamps: cluster
			// network, AcrPull, deployer on the cluster, app blob/queue, the app's read of its two
			// secrets and the dispatcher's of the edge certificate, and read on every other
			// region's audio account, write on every other region's audio container.
			"RoleAssignment":                5*R + 8*S + 2*S*(R-1),
			"pulumi:providers:azure-native": 1,
			// The voicemail workload in every stamp (app/deploy; workload_test.go checks it).
			"voicemail:app:Workload":            S,
			"pulumi:providers:kubernetes":       S,
			"kubernetes:core/v1:Namespace":      S,
			"kubernetes:core/v1:ServiceAccount": 2 * S, // the service's and the dispatcher's
			// The service's and the SIP dispatcher's ConfigMap, Deployment and budget; the
			// public Service, the headless one the dispatcher resolves, and the internal load
			// balancer's SIP and IMAP Services.
			"kubernetes:core/v1:ConfigMap":                                 2 * S,
			"kubernetes:core/v1:Service":                                   4 * S,
			"kubernetes:apps/v1:Deployment":                                2 * S,
			"kubernetes:autoscaling/v2:HorizontalPodAutoscaler":            S,
			"kubernetes:policy/v1:PodDisruptionBudget":                     2 * S,
			"kubernetes:networking.k8s.io/v1:NetworkPolicy":                S,
			"kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass": 2 * S,
			"kubernetes:batch/v1:Job":                                      S,
		}
		for k, v := range want {
			if v == 0 {
				delete(want, k)
			}
		}
		got := map[string]int{}
		for _, r := range m.sorted() {
			k := r.Type
			if strings.HasPrefix(k, "azure-native:") {
				k = k[strings.LastIndex(k, ":")+1:]
			}
			got[k]++
		}
		delete(got, "DiagnosticSetting") // checked in TestDiagnosticSettings
		assert.Equal(t, want, got)
		if st == "prod" {
			assert.Equal(t, 4, R)
			assert.Equal(t, 12, S)
		} else {
			assert.Equal(t, 1, R)
			assert.Equal(t, 2, S)
		}
	})
}

// TestParentStructure: every resource hangs under the component of its layer.
func TestParentStructure(t *testing.T) {
	forEachStack(t, func(t *testing.T, st string, cfg map[string]string, topo topology.Topology, m *mocks) {
		byName := map[string]Resource{}
		for _, r := range m.sorted() {
			_, dup := byName[r.Name]
			require.False(t, dup, "logical name %s used twice", r.Name)
			byName[r.Name] = r
		}
		// root walks up to the top-level component.
		root := func(r Resource) string {
			for r.Parent != "" {
				p, ok := byName[r.Parent]
				require.True(t, ok, "parent %s of %s not registered", r.Parent, r.Name)
				r = p
			}
			return r.Name
		}
		for _, r := range m.sorted() {
			switch {
			case r.Type == "pulumi:providers:azure-native":
				assert.Empty(t, r.Parent)
			case r.Type == "voicemail:app:Workload": // the app deploy component lives in its stamp
				assert.Equal(t, "voicemail:stamp:Stamp", byName[r.Parent].Type, "%s is under its stamp", r.Name)
			case strings.HasPrefix(r.Type, "voicemail:"):
				assert.Empty(t, r.Parent, "%s is a top-level component", r.Name)
			default:
				top := byName[root(r)]
				assert.True(t, strings.HasPrefix(top.Type, "voicemail:"), "%s (%s) is not under a component", r.Name, r.Type)
			}
		}
		for _, s := range topo.Stamps {
			for _, n := range []string{"-rg", "-aks", "-pip", "-tm-endpoint", "-id-app", "-id-aks", "-vnet"} {
				r, ok := byName[s.ID+n]
				require.True(t, ok, s.ID+n)
				assert.Equal(t, s.ID, root(r), "%s belongs to stamp %s", r.Name, s.ID)
			}
			ws := byName[s.ID+"-log"]
			assert.Equal(t, "global", root(ws), "stamp workspaces live in the global layer so they outlive the stamp")
		}
		for _, r := range topo.Regions {
			for _, n := range []string{"-rg", "-kv", "-st-blob", "-st-queue", "-func", "-jumpbox", "-log", "-appi"} {
				res, ok := byName[r.Name+n]
				require.True(t, ok, r.Name+n)
				assert.Equal(t, r.Name, root(res))
			}
		}
		for _, n := range []string{"cosmos", "acr", "traffic-manager", "global-rg", "monitoring-rg"} {
			assert.Equal(t, "global", root(byName[n]), n)
		}
	})
}

func TestCosmos(t *testing.T) {
	forEachStack(t, func(t *testing.T, st string, cfg map[string]string, topo topology.Topology, m *mocks) {
		acct := m.ofType("DatabaseAccount")[0].Inputs
		assert.Equal(t, true, acct["enableMultipleWriteLocations"])
		assert.Equal(t, true, acct["enableAutomaticFailover"])
		assert.Equal(t, true, acct["disableLocalAuth"])
		assert.Equal(t, "Session", get(acct, "consistencyPolicy", "defaultConsistencyLevel"))
		assert.Equal(t, "EnableTable", get(acct, "capabilities", 0, "name"))
		assert.Equal(t, "Continuous", get(acct, "backupPolicy", "type"))
		assert.Equal(t, topo.Config.Cosmos.BackupTier, get(acct, "backupPolicy", "continuousModeProperties", "tier"))
		locs := acct["locations"].([]any)
		require.Len(t, locs, len(topo.Regions))
		for i, r := range topo.Regions {
			assert.Equal(t, r.Name, get(locs[i], "locationName"))
			assert.EqualValues(t, i, get(locs[i], "failoverPriority"), "failover order follows the region list")
			assert.Equal(t, true, get(locs[i], "isZoneRedundant"))
		}
		// Every stamp region is a write location.
		for _, s := range topo.Stamps {
			assert.True(t, slices.ContainsFunc(locs, func(l any) bool { return get(l, "locationName") == s.Region }), s.ID)
		}
		var tables []string
		for _, r := range m.ofType("TableResourceTable") {
			tables = append(tables, r.Inputs["tableName"].(string))
			assert.EqualValues(t, topo.Config.Cosmos.MaxThroughput, get(r.Inputs, "options", "autoscaleSettings", "maxThroughput"))
		}
		assert.ElementsMatch(t, topology.Tables(), tables)
	})
}

func TestTrafficManager(t *testing.T) {
	forEachStack(t, func(t *testing.T, st string, cfg map[string]string, topo topology.Topology, m *mocks) {
		p := m.ofType("Profile")[0].Inputs
		assert.Equal(t, topo.Config.TrafficManager.RoutingMethod, p["trafficRoutingMethod"])
		assert.LessOrEqual(t, get(p, "dnsConfig", "ttl").(float64), 30.0)
		assert.Equal(t, "/health/stamp", get(p, "monitorConfig", "path"))
		assert.EqualValues(t, 10, get(p, "monitorConfig", "intervalInSeconds"))
		assert.EqualValues(t, topo.Config.TrafficManager.TimeoutSeconds, get(p, "monitorConfig", "timeoutInSeconds"))
		assert.EqualValues(t, topo.Config.TrafficManager.ToleratedFailures, get(p, "monitorConfig", "toleratedNumberOfFailures"))
		assert.Equal(t, topo.Config.TrafficManager.Protocol, get(p, "monitorConfig", "protocol"))
		assert.EqualValues(t, topo.Config.TrafficManager.Port, get(p, "monitorConfig", "port"))

		eps := m.ofType("Endpoint")
		require.Len(t, eps, len(topo.Stamps))
		for _, s := range topo.Stamps {
			ep, ok := m.byName(s.ID + "-tm-endpoint")
			require.True(t, ok)
			pip, _ := m.byName(s.ID + "-pip")
			assert.Equal(t, pip.ID, ep.Inputs["targetResourceId"], "endpoint of %s targets its own public IP", s.ID)
			assert.EqualValues(t, s.Weight, ep.Inputs["weight"])
			assert.Equal(t, map[bool]string{false: "Enabled", true: "Disabled"}[s.Drained], ep.Inputs["endpointStatus"])
			assert.Equal(t, topo.Global.TrafficManager, ep.Inputs["profileName"])
			assert.Equal(t, s.DNSLabel, get(pip.Inputs, "dnsSettings", "domainNameLabel"))
			assert.Equal(t, []any{strconv.Itoa(s.Zone)}, pip.Inputs["zones"])
			assert.Equal(t, "Standard", get(pip.Inputs, "sku", "name"))
		}
	})
}

func TestStampClusters(t *testing.T) {
	forEachStack(t, func(t *testing.T, st string, cfg map[string]string, topo topology.Topology, m *mocks) {
		for _, s := range topo.Stamps {
			r, ok := m.byName(s.ID + "-aks")
			require.True(t, ok)
			in := r.Inputs
			// Inline: the fixed-size system pool only. The autoscaled user pool is an AgentPool
			// created without a count, so no later update fights the autoscaler.
			pools := in["agentPoolProfiles"].([]any)
			require.Len(t, pools, 1)
			user, ok := m.byName(s.ID + "-aks-user")
			require.True(t, ok)
			for _, p := range []any{pools[0], user.Inputs} {
				assert.Equal(t, []any{strconv.Itoa(s.Zone)}, get(p, "availabilityZones"), "pool pinned to the stamp's zone")
				assert.NotEmpty(t, get(p, "vnetSubnetID"))
				assert.NotEmpty(t, get(p, "podSubnetID"), "pods take VNet addresses from the pod subnet")
			}
			assert.Equal(t, "System", get(pools[0], "mode"))
			assert.Equal(t, false, get(pools[0], "enableAutoScaling"))
			assert.EqualValues(t, topo.Config.AKS.SystemNodeCount, get(pools[0], "count"))
			assert.Equal(t, "User", user.Inputs["mode"])
			assert.Equal(t, true, user.Inputs["enableAutoScaling"])
			assert.Nil(t, user.Inputs["count"], "an autoscaled pool sends no count")
			assert.EqualValues(t, topo.Config.AKS.UserMinCount, user.Inputs["minCount"])
			assert.Equal(t, true, get(in, "oidcIssuerProfile", "enabled"))
			assert.Equal(t, true, get(in, "securityProfile", "workloadIdentity", "enabled"))
			assert.Equal(t, "azure", get(in, "networkProfile", "networkPlugin"))
			// Azure CNI with a pod subnet, not overlay: pods are addressable from the SBCs.
			np, _ := in["networkProfile"].(map[string]any)
			assert.NotContains(t, np, "networkPluginMode")
			assert.Equal(t, true, get(in, "aadProfile", "managed"))
			assert.Equal(t, true, get(in, "aadProfile", "enableAzureRBAC"))
			assert.Equal(t, true, in["disableLocalAccounts"])
			assert.Equal(t, topo.Config.AKS.UpgradeChannel, get(in, "autoUpgradeProfile", "upgradeChannel"))
			ws, _ := m.byName(s.ID + "-log")
			assert.Equal(t, true, get(in, "addonProfiles", "omsagent", "enabled"))
			assert.Equal(t, ws.ID, get(in, "addonProfiles", "omsagent", "config", "logAnalyticsWorkspaceResourceID"), "Container Insights to the stamp workspace")

			// Workload identity for the app's service account.
			fic, ok := m.byName(s.ID + "-id-app-federation")
			require.True(t, ok)
			assert.Equal(t, "system:serviceaccount:voicemail:voicemail", fic.Inputs["subject"])
			assert.Equal(t, r.Outputs["oidcIssuerProfile"].(map[string]any)["issuerURL"], fic.Inputs["issuer"])
			assert.Equal(t, []any{"api://AzureADTokenExchange"}, fic.Inputs["audiences"])
		}
	})
}

// TestRoleAssignments checks the app identity's data-plane roles and the kubelet's AcrPull.
func TestRoleAssignments(t *testing.T) {
	cfg := stackConfig(t, "prod")
	topo := plan(t, cfg)
	m := stackGraph(t, "prod")
	roleOf := func(r Resource) string {
		s := r.Inputs["roleDefinitionId"].(string)
		return s[strings.LastIndex(s, "/")+1:]
	}
	for _, s := range topo.Stamps {
		app, _ := m.byName(s.ID + "-id-app")
		principal := app.Outputs["principalId"]
		region, _ := topo.Region(s.Region)
		blob, _ := m.byName(s.Region + "-st-blob")
		queue, _ := m.byName(s.Region + "-st-queue")
		kv, _ := m.byName(s.Region + "-kv")
		// Key Vault: the two secrets the pods mount, each on its own, not the vault.
		want := map[string]string{
			blob.ID:                           arm.StorageBlobDataContributor.ID,
			queue.ID:                          arm.StorageQueueDataContributor.ID,
			kv.ID + "/secrets/operator-token": arm.KeyVaultSecretsUser.ID,
			kv.ID + "/secrets/edge-tls":       arm.KeyVaultSecretsUser.ID,
		}
		for _, other := range topo.Regions {
			if other.Name != s.Region {
				acct, _ := m.byName(other.Name + "-st-blob")
				want[acct.ID] = arm.StorageBlobDataReader.ID
				want[acct.ID+"/blobServices/default/containers/audio"] = arm.StorageBlobDataContributor.ID
			}
		}
		got := map[string]string{}
		for _, r := range m.ofType("RoleAssignment") {
			if r.Inputs["principalId"] == principal {
				got[r.Inputs["scope"].(string)] = roleOf(r)
				assert.Equal(t, "ServicePrincipal", r.Inputs["principalType"])
			}
		}
		assert.Equal(t, want, got, s.ID)
		assert.Contains(t, blob.ID, region.Names.BlobAccount)

		// The SIP dispatcher's own identity reads the edge certificate and nothing else.
		sip, ok := m.byName(s.ID + "-id-sip")
		require.True(t, ok)
		got = map[string]string{}
		for _, r := range m.ofType("RoleAssignment") {
			if r.Inputs["principalId"] == sip.Outputs["principalId"] {
				got[r.Inputs["scope"].(string)] = roleOf(r)
			}
		}
		assert.Equal(t, map[string]string{kv.ID + "/secrets/edge-tls": arm.KeyVaultSecretsUser.ID}, got, "%s dispatcher", s.ID)
		assert.NotEqual(t, principal, sip.Outputs["principalId"])

		cosmos, ok := m.byName(s.ID + "-app-cosmos")
		require.True(t, ok)
		assert.Equal(t, principal, cosmos.Inputs["principalId"])
		assert.True(t, strings.HasSuffix(cosmos.Inputs["roleDefinitionId"].(string), "/tableRoleDefinitions/"+arm.CosmosTableDataContributor.ID))

		aks, _ := m.byName(s.ID + "-aks")
		pull, ok := m.byName(s.ID + "-acr-pull")
		require.True(t, ok)
		assert.Equal(t, get(aks.Outputs, "identityProfile", "kubeletidentity", "objectId"), pull.Inputs["principalId"])
		assert.Equal(t, arm.AcrPull.ID, roleOf(pull))
	}
	// The management service reads the operator token through a Key Vault reference, so its
	// identity must be a Secrets User on its own region's vault.
	for _, region := range topo.Regions {
		fn, ok := m.byName(region.Name + "-func")
		require.True(t, ok, region.Name)
		kv, _ := m.byName(region.Name + "-kv")
		var ref string
		settings, _ := get(fn.Inputs, "siteConfig", "appSettings").([]any)
		for _, st := range settings {
			if get(st, "name") == "VOICEMAIL_MANAGER_OPERATOR_TOKEN" {
				ref = fmt.Sprint(get(st, "value"))
			}
		}
		assert.Equal(t, "@Microsoft.KeyVault(SecretUri=https://"+region.Names.KeyVault+".vault.azure.net/secrets/"+topology.OperatorTokenSecret+"/)", ref, region.Name)
		grant, ok := m.byName(region.Name + "-func-keyvault")
		require.True(t, ok, region.Name)
		assert.Equal(t, arm.KeyVaultSecretsUser.ID, roleOf(grant))
		assert.Equal(t, kv.ID, grant.Inputs["scope"])
		assert.Equal(t, fn.Outputs["identity"].(map[string]any)["principalId"], grant.Inputs["principalId"])
	}
	// Role assignment names are GUIDs, unique and stable.
	seen := map[string]bool{}
	for _, r := range m.ofType("RoleAssignment") {
		n := r.Inputs["roleAssignmentName"].(string)
		assert.Len(t, n, 36)
		assert.False(t, seen[n], "duplicate role assignment name %s", n)
		seen[n] = true
	}
}

func TestRegionalResources(t *testing.T) {
	forEachStack(t, func(t *testing.T, st string, cfg map[string]string, topo topology.Topology, m *mocks) {
		acr := m.ofType("Registry")[0].Inputs
		assert.Equal(t, "Premium", get(acr, "sku", "name"))
		assert.Equal(t, "Enabled", acr["zoneRedundancy"])
		assert.Equal(t, false, acr["adminUserEnabled"])
		var replicas []string
		for _, r := range m.ofType("Replication") {
			replicas = append(replicas, r.Inputs["location"].(string))
			assert.Equal(t, "Enabled", r.Inputs["zoneRedundancy"])
		}
		var others []string
		for _, r := range topo.Regions[1:] {
			others = append(others, r.Name)
		}
		assert.ElementsMatch(t, others, replicas, "one replica in every non-home region")

		for _, r := range m.ofType("StorageAccount") {
			in := r.Inputs
			assert.Equal(t, false, in["allowSharedKeyAccess"], r.Name)
			assert.Equal(t, false, in["allowBlobPublicAccess"], r.Name)
			assert.Equal(t, "TLS1_2", in["minimumTlsVersion"], r.Name)
			assert.Contains(t, get(in, "sku", "name"), "ZRS", r.Name)
		}
		for _, r := range m.ofType("BlobServiceProperties") {
			assert.Equal(t, true, r.Inputs["isVersioningEnabled"])
			assert.Equal(t, true, get(r.Inputs, "changeFeed", "enabled"))
		}
		for _, region := range topo.Regions {
			for _, c := range topology.Containers() {
				r, ok := m.byName(region.Name + "-st-blob-" + c)
				require.True(t, ok)
				assert.Equal(t, "None", r.Inputs["publicAccess"])
			}
			for _, q := range topology.Queues() {
				_, ok := m.byName(region.Name + "-st-queue-" + q)
				assert.True(t, ok)
			}
			kv, _ := m.byName(region.Name + "-kv")
			assert.Equal(t, true, get(kv.Inputs, "properties", "enableRbacAuthorization"))
			assert.Equal(t, true, get(kv.Inputs, "properties", "enablePurgeProtection"))
			assert.Equal(t, true, get(kv.Inputs, "properties", "enableSoftDelete"))
			assert.NotEmpty(t, get(kv.Inputs, "properties", "tenantId"))

			fn, _ := m.byName(region.Name + "-func")
			assert.Equal(t, "functionapp,linux", fn.Inputs["kind"])
			assert.Equal(t, "SystemAssigned", get(fn.Inputs, "identity", "type"))
			vmss, _ := m.byName(region.Name + "-jumpbox")
			assert.Equal(t, "SystemAssigned", get(vmss.Inputs, "identity", "type"))
			ipc := get(vmss.Inputs, "virtualMachineProfile", "networkProfile", "networkInterfaceConfigurations", 0, "ipConfigurations", 0)
			assert.Nil(t, get(ipc, "publicIPAddressConfiguration"), "jump box has no public IP")
			assert.Equal(t, "AADSSHLoginForLinux", get(vmss.Inputs, "virtualMachineProfile", "extensionProfile", "extensions", 0, "type"))
		}
		// Object replication: each region's audio container goes to a replica container named
		// for it in each of the next two regions; no account sends or receives more than two.
		sends, receives := map[string]int{}, map[string]int{}
		for _, region := range topo.Regions {
			for _, to := range region.ReplicateTo {
				src, ok := m.byName(fmt.Sprintf("%s-to-%s-or-src", region.Name, to))
				require.True(t, ok)
				dst, _ := m.byName(fmt.Sprintf("%s-to-%s-or-dst", region.Name, to))
				srcAcct, _ := m.byName(region.Name + "-st-blob")
				dstAcct, _ := m.byName(to + "-st-blob")
				for _, p := range []Resource{src, dst} {
					assert.Equal(t, srcAcct.ID, p.Inputs["sourceAccount"])
					assert.Equal(t, dstAcct.ID, p.Inputs["destinationAccount"])
					assert.Equal(t, "audio", get(p.Inputs, "rules", 0, "sourceContainer"))
					assert.Equal(t, "audio-"+region.Name, get(p.Inputs, "rules", 0, "destinationContainer"))
				}
				assert.Equal(t, dst.Outputs["policyId"], src.Inputs["objectReplicationPolicyId"])
				assert.Equal(t, get(dst.Outputs, "rules", 0, "ruleId"), get(src.Inputs, "rules", 0, "ruleId"))
				_, ok = m.byName(to + "-st-blob-audio-" + region.Name)
				assert.True(t, ok, "%s has no replica container of %s", to, region.Name)
				sends[region.Name]++
				receives[to]++
			}
		}
		for _, region := range topo.Regions {
			assert.LessOrEqual(t, sends[region.Name], 2)
			assert.LessOrEqual(t, receives[region.Name], 2)
			if len(topo.Regions) > 2 {
				assert.Equal(t, 2, sends[region.Name], "each region's audio lives in three regions")
			}
		}
	})
}

// TestDiagnosticSettings: every resource type that supports diagnostic settings sends to
// the workspace of its layer.
func TestDiagnosticSettings(t *testing.T) {
	cfg := stackConfig(t, "prod")
	topo := plan(t, cfg)
	m := stackGraph(t, "prod")
	targets := map[string]string{} // resourceUri -> workspaceId
	for _, d := range m.ofType("DiagnosticSetting") {
		targets[d.Inputs["resourceUri"].(string)] = d.Inputs["workspaceId"].(string)
	}
	id := func(n string) string { r, ok := m.byName(n); require.True(t, ok, n); return r.ID }
	globalWS := id("global-log")
	for _, n := range []string{"cosmos", "acr", "traffic-manager"} {
		assert.Equal(t, globalWS, targets[id(n)], n)
	}
	for _, r := range topo.Regions {
		ws := id(r.Name + "-log")
		for _, n := range []string{"-kv", "-st-blob", "-st-queue", "-func", "-plan", "-jumpbox", "-vnet"} {
			assert.Equal(t, ws, targets[id(r.Name+n)], r.Name+n)
		}
		assert.Equal(t, ws, targets[id(r.Name+"-st-blob")+"/blobServices/default"])
		assert.Equal(t, ws, targets[id(r.Name+"-st-queue")+"/queueServices/default"])
	}
	for _, s := range topo.Stamps {
		ws := id(s.ID + "-log")
		assert.Equal(t, ws, targets[id(s.ID+"-aks")], s.ID)
		assert.Equal(t, ws, targets[id(s.ID+"-pip")], s.ID)
		assert.Equal(t, ws, targets[id(s.ID+"-vnet")], s.ID)
	}
}

// TestOutputsResolve runs the program through stack.Deploy and waits for every output the
// app deployment and operators read.
func TestOutputsResolve(t *testing.T) {
	for _, st := range []string{"dev", "prod"} {
		t.Run(st, func(t *testing.T) {
			cfg := stackConfig(t, st)
			topo := plan(t, cfg)
			var mu sync.Mutex
			got := map[string]string{}
			var wg sync.WaitGroup
			capture := func(key string, o pulumi.StringOutput) {
				wg.Add(1)
				o.ApplyT(func(v string) string {
					mu.Lock()
					got[key] = v
					mu.Unlock()
					wg.Done()
					return v
				})
			}
			_, err := run(t, st, cfg, func(ctx *pulumi.Context) error {
				d, err := stack.Deploy(ctx)
				if err != nil {
					return err
				}
				capture("tm", d.Global.TrafficManagerFQDN)
				capture("cosmos", d.Global.CosmosEndpoint)
				capture("acr", d.Global.RegistryLoginServer)
				for _, s := range d.Stamps {
					id := s.Info.ID
					for k, o := range map[string]pulumi.StringOutput{
						"cluster": s.ClusterName, "rg": s.ResourceGroupName, "oidc": s.OIDCIssuerURL,
						"kubelet": s.KubeletObjectID, "client": s.AppIdentityClientID, "ip": s.PublicIPAddress,
						"fqdn": s.PublicIPFQDN, "blob": s.BlobEndpoint,
						"queue": s.QueueEndpoint, "state": s.StateContainer, "stateBlob": s.StateBlob,
						"kubeconfig": s.UserKubeconfig(ctx), "clusterId": s.ClusterID,
					} {
						capture(id+"/"+k, o)
					}
				}
				return nil
			})
			require.NoError(t, err)
			wg.Wait()
			assert.Equal(t, topo.Global.TrafficManagerFQDN, got["tm"])
			assert.Equal(t, "https://"+topo.Global.CosmosAccount+".documents.azure.com:443/", got["cosmos"])
			assert.Equal(t, topo.Global.Registry+".azurecr.io", got["acr"])
			for _, s := range topo.Stamps {
				region, _ := topo.Region(s.Region)
				assert.Equal(t, s.Names.Cluster, got[s.ID+"/cluster"])
				assert.Equal(t, s.Names.ResourceGroup, got[s.ID+"/rg"])
				assert.Equal(t, s.FQDN, got[s.ID+"/fqdn"], "the mock computes the FQDN like Azure; topology predicts it")
				assert.Equal(t, region.CosmosTableEndpoint, s.TableEndpoints[0], "each stamp writes to its own region")
				assert.Equal(t, "https://"+topo.Global.CosmosAccount+"-"+s.Region+".table.cosmos.azure.com:443/", s.TableEndpoints[0])
				assert.Len(t, s.TableEndpoints, len(topo.Regions))
				assert.Equal(t, "https://"+region.Names.BlobAccount+".blob.core.windows.net/", got[s.ID+"/blob"])
				assert.Equal(t, "https://"+region.Names.QueueAccount+".queue.core.windows.net/", got[s.ID+"/queue"])
				assert.Equal(t, "state", got[s.ID+"/state"])
				assert.Equal(t, s.ID, got[s.ID+"/stateBlob"])
				assert.Contains(t, got[s.ID+"/kubeconfig"], "kubelogin")
				assert.Contains(t, got[s.ID+"/kubeconfig"], s.Names.Cluster)
				for _, k := range []string{"oidc", "kubelet", "client", "ip", "clusterId"} {
					assert.NotEmpty(t, got[s.ID+"/"+k], s.ID+"/"+k)
				}
			}
		})
	}
}
