package rules

import (
	"fmt"
	"strings"

	"github.com/voicemail-platform/voicemail/contract"
)

// ResourceRules returns every rule that judges one resource alone.
func ResourceRules() []ResourceRule {
	return append(append(append(coreResourceRules(), operationsResourceRules()...), deployRules()...), networkResourceRules()...)
}

func coreResourceRules() []ResourceRule {
	return []ResourceRule{
		{
			ID:          "cosmos-multi-region-write",
			Doc:         "https://learn.microsoft.com/en-us/azure/cosmos-db/how-to-multi-master",
			Description: "Cosmos DB accounts accept writes in every region (enableMultipleWriteLocations).",
			Types:       []TypeRef{cosmosAccount},
			Check: func(r Resource) []string {
				return wantBool(r.Inputs, true, false, "enableMultipleWriteLocations")
			},
		},
		{
			ID:          "cosmos-zone-redundant",
			Doc:         "https://learn.microsoft.com/en-us/azure/reliability/reliability-cosmos-db-nosql",
			Description: "Every Cosmos DB location is zone redundant.",
			Types:       []TypeRef{cosmosAccount},
			Check:       checkCosmosZones,
		},
		{
			ID:          "cosmos-local-auth-disabled",
			Doc:         "https://learn.microsoft.com/en-us/azure/cosmos-db/table/security/how-to-grant-data-plane-role-based-access",
			Description: "Cosmos DB key (local) auth is disabled; clients use Entra ID.",
			Types:       []TypeRef{cosmosAccount},
			Check: func(r Resource) []string {
				return wantBool(r.Inputs, true, false, "disableLocalAuth")
			},
		},
		{
			ID:          "storage-zone-redundant",
			Doc:         "https://learn.microsoft.com/en-us/azure/storage/common/storage-redundancy",
			Description: "Storage accounts use ZRS or better (ZRS, GZRS, RA-GZRS, Premium ZRS).",
			Types:       []TypeRef{storageAccount},
			Check:       checkStorageSku,
		},
		{
			ID:          "storage-shared-key-disabled",
			Doc:         "https://learn.microsoft.com/en-us/azure/storage/common/shared-key-authorization-prevent",
			Description: "Storage shared key access is disabled.",
			Types:       []TypeRef{storageAccount},
			Check: func(r Resource) []string {
				return wantBool(r.Inputs, false, false, "allowSharedKeyAccess")
			},
		},
		{
			ID:          "storage-tls12",
			Doc:         "https://learn.microsoft.com/en-us/azure/storage/common/transport-layer-security-configure-minimum-version",
			Description: "Storage accounts require TLS 1.2 or newer.",
			Types:       []TypeRef{storageAccount},
			Check:       checkStorageTLS,
		},
		{
			ID:          "storage-replication-metrics",
			Doc:         "https://learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/microsoft-storage-storageaccounts-objectreplicationpolicies-metrics",
			Description: "Object replication policies have replication metrics enabled (storage API 2024-01-01 or newer): pending operations per policy are the only signal that replicas lag.",
			Types:       []TypeRef{objectReplication},
			Check: func(r Resource) []string {
				return wantBool(r.Inputs, true, false, "metrics", "enabled")
			},
		},
		{
			ID:          "storage-no-public-blob",
			Doc:         "https://learn.microsoft.com/en-us/azure/storage/blobs/anonymous-read-access-prevent",
			Description: "No anonymous public blob access on accounts or containers.",
			Types:       []TypeRef{storageAccount, blobContainer},
			Check:       checkPublicBlob,
		},
		{
			ID:          "acr-premium",
			Doc:         "https://learn.microsoft.com/en-us/azure/container-registry/container-registry-skus",
			Description: "Container registries use the Premium SKU (zone redundancy, geo-replication).",
			Types:       []TypeRef{registry},
			Check: func(r Resource) []string {
				return wantString(r.Inputs, []string{"Premium"}, "sku", "name")
			},
		},
		{
			ID:          "acr-zone-redundant",
			Doc:         "https://learn.microsoft.com/en-us/azure/container-registry/zone-redundancy",
			Description: "Container registries and their replicas are zone redundant.",
			Types:       []TypeRef{registry, registryReplication},
			Check: func(r Resource) []string {
				return wantString(r.Inputs, []string{"Enabled"}, "zoneRedundancy")
			},
		},
		{
			ID:          "acr-admin-disabled",
			Doc:         "https://learn.microsoft.com/en-us/azure/container-registry/container-registry-authentication#admin-account",
			Description: "The container registry admin user is off.",
			Types:       []TypeRef{registry},
			Check: func(r Resource) []string {
				// Azure's default is off, so leaving it unset is compliant.
				return wantBool(r.Inputs, false, true, "adminUserEnabled")
			},
		},
		{
			ID:          "keyvault-purge-protection",
			Doc:         "https://learn.microsoft.com/en-us/azure/key-vault/general/soft-delete-overview",
			Description: "Key Vaults have purge protection on.",
			Types:       []TypeRef{keyVault},
			Check: func(r Resource) []string {
				return wantBool(r.Inputs, true, false, "properties", "enablePurgeProtection")
			},
		},
		{
			ID:          "keyvault-rbac",
			Doc:         "https://learn.microsoft.com/en-us/azure/key-vault/general/rbac-guide",
			Description: "Key Vaults use Azure RBAC, not access policies.",
			Types:       []TypeRef{keyVault},
			Check: func(r Resource) []string {
				return wantBool(r.Inputs, true, false, "properties", "enableRbacAuthorization")
			},
		},
		{
			ID:          "aks-single-zone",
			Doc:         "https://learn.microsoft.com/en-us/azure/aks/availability-zones",
			Description: "An AKS stamp is pinned to one availability zone: every agent pool lists exactly that one zone.",
			Types:       []TypeRef{managedCluster, agentPool},
			Check:       checkAKSZone,
		},
		{
			ID:          "aks-local-accounts-disabled",
			Doc:         "https://learn.microsoft.com/en-us/azure/aks/manage-local-accounts-managed-azure-ad",
			Description: "AKS local accounts are disabled (Entra ID + Azure RBAC only).",
			Types:       []TypeRef{managedCluster},
			Check: func(r Resource) []string {
				return wantBool(r.Inputs, true, false, "disableLocalAccounts")
			},
		},
		{
			ID:          "aks-workload-identity",
			Doc:         "https://learn.microsoft.com/en-us/azure/aks/workload-identity-overview",
			Description: "AKS has the OIDC issuer and workload identity on, so pods need no secrets.",
			Types:       []TypeRef{managedCluster},
			Check: func(r Resource) []string {
				out := wantBool(r.Inputs, true, false, "oidcIssuerProfile", "enabled")
				return append(out, wantBool(r.Inputs, true, false, "securityProfile", "workloadIdentity", "enabled")...)
			},
		},
		{
			ID:          "trafficmanager-ttl",
			Doc:         "https://learn.microsoft.com/en-us/azure/traffic-manager/traffic-manager-monitoring",
			Description: "Traffic Manager DNS TTL is at most 30 s so clients leave a failed stamp quickly.",
			Types:       []TypeRef{tmProfile},
			Check:       checkTMTTL,
		},
		{
			ID:          "trafficmanager-monitor-path",
			Doc:         "https://learn.microsoft.com/en-us/azure/traffic-manager/traffic-manager-monitoring",
			Description: "Traffic Manager probes an HTTP(S) health path on every endpoint.",
			Types:       []TypeRef{tmProfile},
			Check:       checkTMMonitor,
		},
		{
			ID:          "k8s-non-root",
			Doc:         "https://kubernetes.io/docs/concepts/security/pod-security-standards/",
			Description: "Kubernetes workloads run as a non-root user.",
			Types:       []TypeRef{deployment, statefulSet},
			Check:       checkNonRoot,
		},
		{
			ID:          "k8s-probes",
			Doc:         "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/",
			Description: "Every workload container has liveness and readiness probes.",
			Types:       []TypeRef{deployment, statefulSet},
			Check:       checkProbes,
		},
		{
			ID:  "sip-no-shared-media-ip",
			Doc: "https://learn.microsoft.com/en-us/azure/aks/configure-azure-cni",
			Description: "No ConfigMap sets one media address for every pod (" + contract.EnvSIPMediaIP.Name + "): " +
				"each pod advertises its own, or RTP reaches whichever pod a load balancer picks.",
			Types: []TypeRef{configMap},
			Check: checkNoSharedMediaIP,
		},
		{
			ID:          "sip-no-media-through-lb",
			Doc:         "https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/azure-subscription-service-limits#load-balancer",
			Description: "No Service publishes RTP ports: media flows to the pod that owns the call, never through a load balancer.",
			Types:       []TypeRef{service},
			Check:       checkNoRTPPorts,
		},
	}
}

// wantString reports a message unless the value at path is one of allowed.
func wantString(in map[string]any, allowed []string, path ...string) []string {
	v := lookup(in, path...)
	if isUnknown(v) {
		return nil
	}
	if s, ok := asString(v); ok {
		for _, a := range allowed {
			if strings.EqualFold(s, a) {
				return nil
			}
		}
	}
	return []string{fmt.Sprintf("%s must be one of %s (got %s)", strings.Join(path, "."), strings.Join(allowed, ", "), show(v))}
}

func checkCosmosZones(r Resource) []string {
	locs := lookup(r.Inputs, "locations")
	if isUnknown(locs) {
		return nil
	}
	list := asSlice(locs)
	if len(list) == 0 {
		return []string{"locations must list at least one region"}
	}
	var out []string
	for i, l := range list {
		if isUnknown(l) {
			continue
		}
		m := asMap(l)
		name, _ := asString(lookup(m, "locationName"))
		if name == "" {
			name = fmt.Sprintf("locations[%d]", i)
		}
		v := lookup(m, "isZoneRedundant")
		if isUnknown(v) {
			continue
		}
		if b, ok := v.(bool); !ok || !b {
			out = append(out, fmt.Sprintf("location %s must set isZoneRedundant: true (got %s)", name, show(v)))
		}
	}
	return out
}

// zoneRedundantSkus are the storage SKUs that survive the loss of a zone.
var zoneRedundantSkus = []string{"Standard_ZRS", "Standard_GZRS", "Standard_RAGZRS", "Premium_ZRS"}

func checkStorageSku(r Resource) []string {
	return wantString(r.Inputs, zoneRedundantSkus, "sku", "name")
}

func checkStorageTLS(r Resource) []string {
	return wantString(r.Inputs, []string{"TLS1_2", "TLS1_3"}, "minimumTlsVersion")
}

func checkPublicBlob(r Resource) []string {
	if blobContainer.Matches(r.Type) {
		v := lookup(r.Inputs, "publicAccess")
		if isUnknown(v) || v == nil {
			return nil
		}
		if s, _ := asString(v); s == "None" {
			return nil
		}
		return []string{fmt.Sprintf("publicAccess must be None or unset (got %s)", show(v))}
	}
	return wantBool(r.Inputs, false, false, "allowBlobPublicAccess")
}

// poolZones returns the zones one agent pool lists, or ok=false when unknown.
func poolZones(pool map[string]any) (zones []string, ok bool) {
	v := lookup(pool, "availabilityZones")
	if isUnknown(v) {
		return nil, false
	}
	for _, z := range asSlice(v) {
		if isUnknown(z) {
			return nil, false
		}
		s, _ := asString(z)
		zones = append(zones, s)
	}
	return zones, true
}

func checkAKSZone(r Resource) []string {
	if agentPool.Matches(r.Type) {
		zones, ok := poolZones(r.Inputs)
		if ok && len(zones) != 1 {
			return []string{fmt.Sprintf("availabilityZones must list exactly one zone (got %v)", zones)}
		}
		return nil
	}
	profiles := lookup(r.Inputs, "agentPoolProfiles")
	if isUnknown(profiles) {
		return nil
	}
	list := asSlice(profiles)
	if len(list) == 0 {
		return []string{"agentPoolProfiles must define at least one pool pinned to the stamp's zone"}
	}
	var out []string
	seen := map[string]bool{}
	for i, p := range list {
		m := asMap(p)
		name, _ := asString(lookup(m, "name"))
		if name == "" {
			name = fmt.Sprintf("agentPoolProfiles[%d]", i)
		}
		zones, ok := poolZones(m)
		if !ok {
			continue
		}
		if len(zones) != 1 {
			out = append(out, fmt.Sprintf("pool %s must list exactly one zone in availabilityZones (got %v)", name, zones))
			continue
		}
		seen[zones[0]] = true
	}
	if len(seen) > 1 {
		out = append(out, fmt.Sprintf("all pools must share one zone (got zones %v)", sortedKeys(seen)))
	}
	return out
}

func checkTMTTL(r Resource) []string {
	v := lookup(r.Inputs, "dnsConfig", "ttl")
	if isUnknown(v) {
		return nil
	}
	n, ok := asNumber(v)
	if !ok || n <= 0 || n > 30 {
		return []string{fmt.Sprintf("dnsConfig.ttl must be between 1 and 30 seconds (got %s)", show(v))}
	}
	return nil
}

func checkTMMonitor(r Resource) []string {
	mc := lookup(r.Inputs, "monitorConfig")
	if isUnknown(mc) {
		return nil
	}
	var out []string
	proto := lookup(asMap(mc), "protocol")
	if !isUnknown(proto) {
		s, _ := asString(proto)
		if !strings.EqualFold(s, "HTTP") && !strings.EqualFold(s, "HTTPS") {
			out = append(out, fmt.Sprintf("monitorConfig.protocol must be HTTP or HTTPS to probe a path (got %s)", show(proto)))
		}
	}
	path := lookup(asMap(mc), "path")
	if !isUnknown(path) {
		s, _ := asString(path)
		if !strings.HasPrefix(s, "/") {
			out = append(out, fmt.Sprintf("monitorConfig.path must be an absolute health path such as %s (got %s)", contract.StampHealthPath, show(path)))
		}
	}
	return out
}
