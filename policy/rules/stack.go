package rules

import (
	"fmt"
	"strings"
)

// StackRules returns the rules that need to see several resources at once.
func StackRules() []StackRule {
	return append(append(append(coreStackRules(), operationsStackRules()...), deployStackRules()...), identityStackRules()...)
}

func coreStackRules() []StackRule {
	return []StackRule{
		{
			ID:          "cosmos-stamp-regions-writable",
			Doc:         "https://learn.microsoft.com/en-us/azure/cosmos-db/how-to-multi-master",
			Description: "Every region that hosts a stamp (an AKS cluster) is a Cosmos DB write location.",
			Check:       checkStampRegionsWritable,
		},
		{
			ID:          "storage-versioning-for-replication",
			Doc:         "https://learn.microsoft.com/en-us/azure/storage/blobs/object-replication-overview",
			Description: "Storage accounts in an object replication policy have blob versioning on (and change feed on the source).",
			Check:       checkReplicationVersioning,
		},
		{
			ID:          "aks-stamp-one-zone",
			Doc:         "https://learn.microsoft.com/en-us/azure/aks/availability-zones",
			Description: "All agent pools of a stamp's AKS cluster, inline or separate, sit in the same single zone.",
			Check:       checkClusterPoolsOneZone,
		},
		{
			ID:          "k8s-pdb",
			Doc:         "https://kubernetes.io/docs/tasks/run-application/configure-pdb/",
			Description: "Every Kubernetes workload is covered by a PodDisruptionBudget.",
			Check:       checkPDBs,
		},
	}
}

// cosmosWriteRegions returns the regions that accept writes; ok=false when unknown.
func cosmosWriteRegions(acct Resource) (map[string]bool, bool) {
	multi := lookup(acct.Inputs, "enableMultipleWriteLocations")
	locs := lookup(acct.Inputs, "locations")
	if isUnknown(multi) || isUnknown(locs) {
		return nil, false
	}
	isMulti, _ := multi.(bool)
	out := map[string]bool{}
	for _, l := range asSlice(locs) {
		m := asMap(l)
		name, ok := asString(lookup(m, "locationName"))
		if !ok {
			return nil, false
		}
		prio, _ := asNumber(lookup(m, "failoverPriority"))
		// Without multi-region writes only the priority-0 location takes writes.
		if isMulti || prio == 0 {
			out[normRegion(name)] = true
		}
	}
	return out, true
}

func checkStampRegionsWritable(rs []Resource) []Violation {
	stampRegions := map[string]bool{}
	for _, r := range rs {
		if managedCluster.Matches(r.Type) {
			if loc, ok := asString(lookup(r.Inputs, "location")); ok && loc != "" {
				stampRegions[normRegion(loc)] = true
			}
		}
	}
	if len(stampRegions) == 0 {
		return nil
	}
	var out []Violation
	accounts := 0
	for _, r := range rs {
		if !cosmosAccount.Matches(r.Type) {
			continue
		}
		accounts++
		writable, ok := cosmosWriteRegions(r)
		if !ok {
			continue
		}
		var missing []string
		for _, region := range sortedKeys(stampRegions) {
			if !writable[region] {
				missing = append(missing, region)
			}
		}
		if len(missing) > 0 {
			out = append(out, Violation{Type: r.Type, Name: r.Name,
				Message: fmt.Sprintf("stamp regions %s are not write locations of this account", strings.Join(missing, ", "))})
		}
	}
	if accounts == 0 {
		out = append(out, Violation{Type: cosmosAccount.String(), Name: "",
			Message: fmt.Sprintf("stamps run in %s but the stack has no Cosmos DB account", strings.Join(sortedKeys(stampRegions), ", "))})
	}
	return out
}

// azureName reduces a resource reference (name or ARM ID) to a lower-case name.
func azureName(v any) (string, bool) {
	s, ok := asString(v)
	if !ok || s == "" {
		return "", false
	}
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	return strings.ToLower(s), true
}

// index finds resources of one type by logical name or Azure name.
type index struct {
	byName  map[string]Resource
	byAzure map[string]string // Azure name -> logical name
}

// newIndex indexes the resources of type ref; azureKeys are the properties that
// may hold the Azure name (an input path parameter, or the "name" output).
func newIndex(rs []Resource, ref TypeRef, azureKeys ...string) index {
	ix := index{byName: map[string]Resource{}, byAzure: map[string]string{}}
	for _, r := range rs {
		if !ref.Matches(r.Type) {
			continue
		}
		ix.byName[r.Name] = r
		for _, k := range azureKeys {
			if n, ok := azureName(lookup(r.Inputs, k)); ok {
				ix.byAzure[n] = r.Name
			}
		}
	}
	return ix
}

// resolve says which indexed resource r's property refers to: through the
// engine's property dependencies first, else by the value's Azure name. A name
// with no indexed resource resolves to itself, prefixed "azure:".
func (ix index) resolve(r Resource, prop string) (string, bool) {
	for _, n := range r.Deps[prop] {
		if _, ok := ix.byName[n]; ok {
			return n, true
		}
	}
	n, ok := azureName(lookup(r.Inputs, prop))
	if !ok {
		return "", false
	}
	if logical, found := ix.byAzure[n]; found {
		return logical, true
	}
	return "azure:" + n, true
}

// display names a resolved reference for a message.
func display(key string) string { return strings.TrimPrefix(key, "azure:") }

// tri reads a bool that may be unknown: known=false leaves the judgement to a
// later analysis with known values.
func tri(v any) (value, known bool) {
	if isUnknown(v) {
		return false, false
	}
	b, _ := v.(bool)
	return b, true
}

func checkReplicationVersioning(rs []Resource) []Violation {
	accounts := newIndex(rs, storageAccount, "accountName", "name")
	type props struct{ versioning, changeFeed any }
	services := map[string]props{}
	for _, r := range rs {
		if !blobService.Matches(r.Type) {
			continue
		}
		key, ok := accounts.resolve(r, "accountName")
		if !ok {
			continue
		}
		services[key] = props{
			versioning: lookup(r.Inputs, "isVersioningEnabled"),
			changeFeed: lookup(r.Inputs, "changeFeed", "enabled"),
		}
	}
	var out []Violation
	report := func(r Resource, role, key, what string) {
		out = append(out, Violation{Type: r.Type, Name: r.Name,
			Message: fmt.Sprintf("%s account %s has no blob service with %s: true", role, display(key), what)})
	}
	for _, r := range rs {
		if !objectReplication.Matches(r.Type) {
			continue
		}
		if src, ok := accounts.resolve(r, "sourceAccount"); ok {
			svc := services[src]
			if v, known := tri(svc.versioning); known && !v {
				report(r, "source", src, "isVersioningEnabled")
			}
			if v, known := tri(svc.changeFeed); known && !v {
				report(r, "source", src, "changeFeed.enabled")
			}
		}
		if dst, ok := accounts.resolve(r, "destinationAccount"); ok {
			if v, known := tri(services[dst].versioning); known && !v {
				report(r, "destination", dst, "isVersioningEnabled")
			}
		}
	}
	return out
}

func checkClusterPoolsOneZone(rs []Resource) []Violation {
	clusters := newIndex(rs, managedCluster, "resourceName", "name")
	zones := map[string]map[string]bool{}
	add := func(cluster string, pool map[string]any) {
		zs, ok := poolZones(pool)
		if !ok {
			return
		}
		if zones[cluster] == nil {
			zones[cluster] = map[string]bool{}
		}
		for _, z := range zs {
			zones[cluster][z] = true
		}
	}
	for _, r := range rs {
		if managedCluster.Matches(r.Type) {
			for _, p := range asSlice(lookup(r.Inputs, "agentPoolProfiles")) {
				add(r.Name, asMap(p))
			}
		}
	}
	for _, r := range rs {
		if !agentPool.Matches(r.Type) {
			continue
		}
		cluster, ok := clusters.resolve(r, "resourceName")
		if _, indexed := clusters.byName[cluster]; (!ok || !indexed) && r.Parent != "" {
			cluster, ok = r.Parent, true
		}
		if _, indexed := clusters.byName[cluster]; ok && indexed {
			add(cluster, r.Inputs)
		}
	}
	var out []Violation
	for _, name := range sortedKeys(boolKeys(clusters.byName)) {
		if len(zones[name]) > 1 {
			c := clusters.byName[name]
			out = append(out, Violation{Type: c.Type, Name: c.Name,
				Message: fmt.Sprintf("agent pools span zones %v; a stamp's cluster lives in exactly one zone", sortedKeys(zones[name]))})
		}
	}
	return out
}

func boolKeys[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
