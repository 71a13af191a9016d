package rules

import (
	"fmt"
	"strings"
)

// StackRules returns the rules that need to see several resources at once.
func StackRules() []StackRule {
	return []StackRule{
		{
			ID:          "cosmos-stamp-regions-writable",
			Description: "Every region that hosts a stamp (an AKS cluster) is a Cosmos DB write location.",
			Check:       checkStampRegionsWritable,
		},
		{
			ID:          "storage-versioning-for-replication",
			Description: "Storage accounts in an object replication policy have blob versioning on (and change feed on the source).",
			Check:       checkReplicationVersioning,
		},
		{
			ID:          "aks-stamp-one-zone",
			Description: "All agent pools of a stamp's AKS cluster, inline or separate, sit in the same single zone.",
			Check:       checkClusterPoolsOneZone,
		},
		{
			ID:          "k8s-pdb",
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

// accountRef reduces a storage account reference (name or ARM ID) to its name.
func accountRef(v any) (string, bool) {
	s, ok := asString(v)
	if !ok || s == "" {
		return "", false
	}
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	return strings.ToLower(s), true
}

func checkReplicationVersioning(rs []Resource) []Violation {
	type props struct{ versioning, changeFeed bool }
	services := map[string]props{}
	for _, r := range rs {
		if !blobService.Matches(r.Type) {
			continue
		}
		name, ok := accountRef(lookup(r.Inputs, "accountName"))
		if !ok {
			continue
		}
		v, _ := lookup(r.Inputs, "isVersioningEnabled").(bool)
		cf, _ := lookup(r.Inputs, "changeFeed", "enabled").(bool)
		services[name] = props{versioning: v, changeFeed: cf}
	}
	var out []Violation
	for _, r := range rs {
		if !objectReplication.Matches(r.Type) {
			continue
		}
		src, srcOK := accountRef(lookup(r.Inputs, "sourceAccount"))
		dst, dstOK := accountRef(lookup(r.Inputs, "destinationAccount"))
		if srcOK && !services[src].versioning {
			out = append(out, Violation{Type: r.Type, Name: r.Name,
				Message: fmt.Sprintf("source account %s has no blob service with isVersioningEnabled: true", src)})
		}
		if srcOK && !services[src].changeFeed {
			out = append(out, Violation{Type: r.Type, Name: r.Name,
				Message: fmt.Sprintf("source account %s has no blob service with changeFeed.enabled: true", src)})
		}
		if dstOK && !services[dst].versioning {
			out = append(out, Violation{Type: r.Type, Name: r.Name,
				Message: fmt.Sprintf("destination account %s has no blob service with isVersioningEnabled: true", dst)})
		}
	}
	return out
}

func checkClusterPoolsOneZone(rs []Resource) []Violation {
	type cluster struct {
		res   Resource
		zones map[string]bool
	}
	byKey := map[string]*cluster{}
	var order []*cluster
	for _, r := range rs {
		if !managedCluster.Matches(r.Type) {
			continue
		}
		c := &cluster{res: r, zones: map[string]bool{}}
		for _, p := range asSlice(lookup(r.Inputs, "agentPoolProfiles")) {
			if zs, ok := poolZones(asMap(p)); ok {
				for _, z := range zs {
					c.zones[z] = true
				}
			}
		}
		byKey["name:"+r.Name] = c
		if rn, ok := asString(lookup(r.Inputs, "resourceName")); ok && rn != "" {
			byKey["resource:"+strings.ToLower(rn)] = c
		}
		order = append(order, c)
	}
	for _, r := range rs {
		if !agentPool.Matches(r.Type) {
			continue
		}
		var c *cluster
		if rn, ok := asString(lookup(r.Inputs, "resourceName")); ok {
			c = byKey["resource:"+strings.ToLower(rn)]
		}
		if c == nil && r.Parent != "" {
			c = byKey["name:"+r.Parent]
		}
		if c == nil {
			continue
		}
		if zs, ok := poolZones(r.Inputs); ok {
			for _, z := range zs {
				c.zones[z] = true
			}
		}
	}
	var out []Violation
	for _, c := range order {
		if len(c.zones) > 1 {
			out = append(out, Violation{Type: c.res.Type, Name: c.res.Name,
				Message: fmt.Sprintf("agent pools span zones %v; a stamp's cluster lives in exactly one zone", sortedKeys(c.zones))})
		}
	}
	return out
}
