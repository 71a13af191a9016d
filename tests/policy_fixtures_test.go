package tests

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/policy/rules"
)

// polCompliantStack is a small stack that satisfies every rule: two regions, one
// stamp each, written as the inputs the engine would send to the policy pack.
// Versioned and un-versioned type tokens are mixed on purpose.
const polCompliantStack = `[
 {"type": "azure-native:documentdb/v20230415:DatabaseAccount", "name": "cosmos", "inputs": {
   "capabilities": [{"name": "EnableTable"}],
   "enableMultipleWriteLocations": true, "disableLocalAuth": true,
   "accountName": "vm-cosmos", "publicNetworkAccess": "Disabled",
   "locations": [
     {"locationName": "westeurope", "failoverPriority": 0, "isZoneRedundant": true},
     {"locationName": "North Europe", "failoverPriority": 1, "isZoneRedundant": true}]}},
 {"type": "azure-native:storage/v20230501:StorageAccount", "name": "st-weu", "inputs": {
   "accountName": "vmweust", "sku": {"name": "Standard_ZRS"}, "allowSharedKeyAccess": false,
   "minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": false, "publicNetworkAccess": "Disabled"}},
 {"type": "azure-native:storage:StorageAccount", "name": "st-neu", "inputs": {
   "accountName": "vmneust", "sku": {"name": "Standard_GZRS"}, "allowSharedKeyAccess": false,
   "minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": false,
   "publicNetworkAccess": "Enabled", "networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"iPAddressOrRange": "203.0.113.0/24"}]}}},
 {"type": "azure-native:storage/v20230501:BlobServiceProperties", "name": "blob-weu", "inputs": {
   "accountName": "vmweust", "blobServicesName": "default", "isVersioningEnabled": true, "changeFeed": {"enabled": true}}},
 {"type": "azure-native:storage/v20230501:BlobServiceProperties", "name": "blob-neu", "inputs": {
   "accountName": "vmneust", "blobServicesName": "default", "isVersioningEnabled": true, "changeFeed": {"enabled": true}}},
 {"type": "azure-native:storage/v20230501:BlobContainer", "name": "audio-weu", "inputs": {
   "accountName": "vmweust", "containerName": "audio", "publicAccess": "None"}},
 {"type": "azure-native:storage/v20230501:ObjectReplicationPolicy", "name": "orp-weu-neu", "inputs": {
   "accountName": "vmneust", "objectReplicationPolicyId": "default",
   "sourceAccount": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/vmweust",
   "destinationAccount": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/vmneust", "rules": [{"sourceContainer": "audio", "destinationContainer": "audio-westeurope"}],
   "metrics": {"enabled": true}}},
 {"type": "azure-native:containerregistry/v20230701:Registry", "name": "acr", "inputs": {
   "registryName": "vmacr", "sku": {"name": "Premium"}, "zoneRedundancy": "Enabled", "adminUserEnabled": false,
   "publicNetworkAccess": "Disabled"}},
 {"type": "azure-native:containerregistry/v20230701:Replication", "name": "acr-neu", "inputs": {
   "location": "northeurope", "zoneRedundancy": "Enabled"}},
 {"type": "azure-native:keyvault/v20230701:Vault", "name": "kv-weu", "inputs": {
   "vaultName": "vm-kv-weu", "properties": {"enablePurgeProtection": true, "enableRbacAuthorization": true, "enableSoftDelete": true,
   "publicNetworkAccess": "Disabled", "networkAcls": {"defaultAction": "Deny"}}}},
 {"type": "azure-native:containerservice/v20240801:ManagedCluster", "name": "aks-weu-1", "inputs": {
   "location": "westeurope", "resourceName": "aks-weu-1", "disableLocalAccounts": true,
   "aadProfile": {"managed": true, "enableAzureRBAC": true}, "kubernetesVersion": "1.29",
   "oidcIssuerProfile": {"enabled": true}, "securityProfile": {"workloadIdentity": {"enabled": true}},
   "agentPoolProfiles": [
     {"name": "system", "mode": "System", "availabilityZones": ["1"]},
     {"name": "user", "mode": "User", "availabilityZones": ["1"]}]}},
 {"type": "azure-native:containerservice/v20240801:AgentPool", "name": "aks-weu-1-extra", "parent": "aks-weu-1", "inputs": {
   "resourceName": "aks-weu-1", "availabilityZones": ["1"]}},
 {"type": "azure-native:containerservice:ManagedCluster", "name": "aks-neu-2", "inputs": {
   "location": "northeurope", "disableLocalAccounts": true,
   "oidcIssuerProfile": {"enabled": true}, "securityProfile": {"workloadIdentity": {"enabled": true}},
   "agentPoolProfiles": [{"name": "system", "mode": "System", "availabilityZones": ["2"]}]}},
 {"type": "azure-native:network/v20220401:Profile", "name": "tm", "inputs": {
   "trafficRoutingMethod": "Performance", "dnsConfig": {"relativeName": "vm", "ttl": 30},
   "monitorConfig": {"protocol": "HTTPS", "port": 443, "path": "/health/stamp", "intervalInSeconds": 10}}},
 {"type": "azure-native:network/v20230401:PrivateEndpoint", "name": "pe-cosmos", "inputs": {"privateEndpointName": "pe-cosmos",
   "privateLinkServiceConnections": [{"privateLinkServiceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/vm-cosmos", "groupIds": ["Table"]}]}},
 {"type": "azure-native:network/v20230401:PrivateEndpoint", "name": "pe-weu", "inputs": {"privateEndpointName": "pe-weu",
   "privateLinkServiceConnections": [{"privateLinkServiceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/vmweust", "groupIds": ["blob"]}]}},
 {"type": "azure-native:network/v20230401:PrivateEndpoint", "name": "pe-neu", "inputs": {"privateEndpointName": "pe-neu",
   "privateLinkServiceConnections": [{"privateLinkServiceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/vmneust", "groupIds": ["blob"]}]}},
 {"type": "azure-native:network/v20230401:PrivateEndpoint", "name": "pe-kv", "inputs": {"privateEndpointName": "pe-kv",
   "privateLinkServiceConnections": [{"privateLinkServiceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/vm-kv-weu", "groupIds": ["vault"]}]}},
 {"type": "azure-native:network/v20230401:PrivateEndpoint", "name": "pe-acr", "inputs": {"privateEndpointName": "pe-acr",
   "privateLinkServiceConnections": [{"privateLinkServiceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/vmacr", "groupIds": ["registry"]}]}},
 {"type": "azure-native:network/v20230401:PrivateDnsZoneGroup", "name": "pe-cosmos-dns", "parent": "pe-cosmos", "inputs": {"privateEndpointName": "pe-cosmos", "privateDnsZoneConfigs": [{"privateDnsZoneId": "zone-table"}]}},
 {"type": "azure-native:network/v20230401:PrivateDnsZoneGroup", "name": "pe-weu-dns", "parent": "pe-weu", "inputs": {"privateEndpointName": "pe-weu", "privateDnsZoneConfigs": [{"privateDnsZoneId": "zone-blob"}]}},
 {"type": "azure-native:network/v20230401:PrivateDnsZoneGroup", "name": "pe-neu-dns", "parent": "pe-neu", "inputs": {"privateEndpointName": "pe-neu", "privateDnsZoneConfigs": [{"privateDnsZoneId": "zone-blob"}]}},
 {"type": "azure-native:network/v20230401:PrivateDnsZoneGroup", "name": "pe-kv-dns", "parent": "pe-kv", "inputs": {"privateEndpointName": "pe-kv", "privateDnsZoneConfigs": [{"privateDnsZoneId": "zone-vault"}]}},
 {"type": "azure-native:network/v20230401:PrivateDnsZoneGroup", "name": "pe-acr-dns", "parent": "pe-acr", "inputs": {"privateEndpointName": "pe-acr", "privateDnsZoneConfigs": [{"privateDnsZoneId": "zone-acr"}]}},
 {"type": "azure-native:authorization/v20200501:ManagementLockByScope", "name": "lock-cosmos", "inputs": {"level": "CanNotDelete",
   "scope": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/vm-cosmos"}},
 {"type": "azure-native:authorization/v20200501:ManagementLockByScope", "name": "lock-st-weu", "inputs": {"level": "CanNotDelete",
   "scope": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/vmweust"}},
 {"type": "azure-native:authorization/v20200501:ManagementLockByScope", "name": "lock-st-neu", "inputs": {"level": "CanNotDelete",
   "scope": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/vmneust"}},
 {"type": "azure-native:network/v20190601:Subnet", "name": "snet", "inputs": {"subnetName": "snet-aks", "networkSecurityGroup": {"id": "/subscriptions/s/nsg"}}},
 {"type": "azure-native:network:VirtualNetwork", "name": "vnet", "inputs": {"subnets": [
   {"name": "GatewaySubnet"}, {"name": "snet-a", "networkSecurityGroup": {"id": "/subscriptions/s/nsg-a"}}]}},
 {"type": "azure-native:operationalinsights/v20201001:Workspace", "name": "log", "inputs": {"workspaceCapping": {"dailyQuotaGb": 10}}},
 {"type": "azure-native:containerservice/v20230601:MaintenanceConfiguration", "name": "mc-weu-auto", "inputs": {"resourceName": "aks-weu-1",
   "configName": "aksManagedAutoUpgradeSchedule", "maintenanceWindow": {"durationHours": 4, "startTime": "01:00", "utcOffset": "+00:00", "schedule": {"weekly": {"dayOfWeek": "Monday", "intervalWeeks": 1}}}}},
 {"type": "azure-native:containerservice/v20230601:MaintenanceConfiguration", "name": "mc-weu-nodeos", "inputs": {"resourceName": "aks-weu-1",
   "configName": "aksManagedNodeOSUpgradeSchedule", "maintenanceWindow": {"durationHours": 4, "startTime": "01:00", "schedule": {"weekly": {"dayOfWeek": "Monday", "intervalWeeks": 1}}}}},
 {"type": "azure-native:containerservice/v20230601:MaintenanceConfiguration", "name": "mc-neu-auto", "parent": "aks-neu-2", "inputs": {
   "configName": "aksManagedAutoUpgradeSchedule", "maintenanceWindow": {"durationHours": 4, "startTime": "03:00", "utcOffset": "+02:00", "schedule": {"weekly": {"dayOfWeek": "Tuesday", "intervalWeeks": 1}}}}},
 {"type": "azure-native:containerservice/v20230601:MaintenanceConfiguration", "name": "mc-neu-nodeos", "parent": "aks-neu-2", "inputs": {
   "configName": "aksManagedNodeOSUpgradeSchedule", "maintenanceWindow": {"durationHours": 4, "startTime": "01:00", "schedule": {"weekly": {"dayOfWeek": "Tuesday", "intervalWeeks": 1}}}}},
 {"type": "azure-native:insights/v20231201:ScheduledQueryRule", "name": "alert-health", "inputs": {"actions": {"actionGroups": ["/subscriptions/s/ag-oncall"]}}},
 {"type": "azure-native:insights/v20180301:MetricAlert", "name": "alert-429", "inputs": {"actions": [{"actionGroupId": "/subscriptions/s/ag-oncall"}]}},
 {"type": "kubernetes:apps/v1:Deployment", "name": "voicemail", "inputs": {
   "metadata": {"namespace": "voicemail", "name": "voicemail"},
   "spec": {"selector": {"matchLabels": {"app": "voicemail"}}, "template": {
     "metadata": {"labels": {"app": "voicemail", "tier": "sip"}},
     "spec": {"securityContext": {"runAsNonRoot": true, "runAsUser": 10001}, "containers": [
       {"name": "voicemail", "image": "acr.azurecr.io/voicemail@sha256:00",
        "livenessProbe": {"httpGet": {"path": "/health/liveness", "port": 8080}},
        "readinessProbe": {"httpGet": {"path": "/health/stamp", "port": 8080}}}]}}}}},
 {"type": "kubernetes:policy/v1:PodDisruptionBudget", "name": "voicemail", "inputs": {
   "metadata": {"namespace": "voicemail"},
   "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "voicemail"}}}}},
 {"type": "kubernetes:core/v1:ConfigMap", "name": "voicemail-config", "inputs": {
   "metadata": {"namespace": "voicemail"}, "data": {"VOICEMAIL_SIP_RTP_PORTS": "10000-10398"}}},
 {"type": "kubernetes:core/v1:Service", "name": "voicemail-svc", "inputs": {
   "metadata": {"namespace": "voicemail"},
   "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}}
]`

// polCompliant returns a fresh copy of polCompliantStack that a case may mutate.
func polCompliant(t *testing.T) []rules.Resource {
	t.Helper()
	var rs []rules.Resource
	require.NoError(t, json.Unmarshal([]byte(polCompliantStack), &rs))
	return append(append(rs, polDeployResources()...), polIdentityResources()...)
}

// polFind returns the resource with the given logical name.
func polFind(t *testing.T, rs []rules.Resource, name string) rules.Resource {
	t.Helper()
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	require.FailNowf(t, "fixture missing", "no resource named %q", name)
	return rules.Resource{}
}

// polSet assigns value at a dotted path (numeric segments index arrays).
func polSet(t *testing.T, m map[string]any, value any, path ...any) {
	t.Helper()
	var cur any = m
	for i, seg := range path {
		last := i == len(path)-1
		switch k := seg.(type) {
		case string:
			mm, ok := cur.(map[string]any)
			require.Truef(t, ok, "path %v: step %d is not a map", path, i)
			if last {
				if value == nil {
					delete(mm, k)
				} else {
					mm[k] = value
				}
				return
			}
			cur = mm[k]
		case int:
			s, ok := cur.([]any)
			require.Truef(t, ok, "path %v: step %d is not an array", path, i)
			if last {
				s[k] = value
				return
			}
			cur = s[k]
		}
	}
}
