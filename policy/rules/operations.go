package rules

import (
	"fmt"
	"sort"
	"strings"
)

// Types the operations rules look at.
var (
	subnet             = azure("network", "Subnet")
	virtualNetwork     = azure("network", "VirtualNetwork")
	privateEndpoint    = azure("network", "PrivateEndpoint")
	privateDNSZoneGrp  = azure("network", "PrivateDnsZoneGroup")
	maintenanceConfig  = azure("containerservice", "MaintenanceConfiguration")
	lockByScope        = azure("authorization", "ManagementLockByScope")
	lockAtResource     = azure("authorization", "ManagementLockAtResourceLevel")
	workspace          = azure("operationalinsights", "Workspace")
	scheduledQueryRule = azure("insights", "ScheduledQueryRule")
	metricAlert        = azure("insights", "MetricAlert")
)

// dataStores are the resources whose data planes must be private, locked and reachable
// through private endpoints.
var dataStores = []TypeRef{cosmosAccount, storageAccount, keyVault, registry}

// nsgExempt are subnets Azure forbids or manages NSGs on
// (https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview).
var nsgExempt = []string{"GatewaySubnet", "AzureFirewallSubnet", "AzureFirewallManagementSubnet", "RouteServerSubnet"}

// operationsResourceRules are the per-resource guardrails of the private network, safe
// maintenance and monitoring.
func operationsResourceRules() []ResourceRule {
	return []ResourceRule{
		{
			// Cosmos DB: https://learn.microsoft.com/azure/cosmos-db/how-to-configure-private-endpoints
			// Storage: https://learn.microsoft.com/azure/storage/common/storage-network-security
			// Key Vault: https://learn.microsoft.com/azure/key-vault/general/network-security
			// ACR: https://learn.microsoft.com/azure/container-registry/container-registry-access-selected-networks
			ID:          "data-plane-public-access-off",
			Doc:         "https://learn.microsoft.com/en-us/azure/private-link/private-endpoint-overview",
			Description: "Data stores (Cosmos DB, storage, Key Vault, ACR) disable public network access, or admit only listed ranges (default action Deny).",
			Types:       dataStores,
			Check:       checkPublicAccess,
		},
		{
			ID:          "subnet-nsg",
			Doc:         "https://learn.microsoft.com/en-us/azure/virtual-network/network-security-groups-overview",
			Description: "Every subnet has a network security group.",
			Types:       []TypeRef{subnet, virtualNetwork},
			Check:       checkSubnetNSG,
		},
		{
			// https://learn.microsoft.com/azure/azure-monitor/logs/daily-cap
			ID:          "workspace-daily-cap",
			Doc:         "https://learn.microsoft.com/en-us/azure/azure-monitor/logs/daily-cap",
			Description: "Log Analytics workspaces set a daily ingestion cap (workspaceCapping.dailyQuotaGb > 0).",
			Types:       []TypeRef{workspace},
			Check:       checkDailyCap,
		},
	}
}

// operationsStackRules are the guardrails that relate several resources.
func operationsStackRules() []StackRule {
	return []StackRule{
		{
			// https://learn.microsoft.com/azure/private-link/private-endpoint-dns
			ID:          "data-store-private-endpoint",
			Doc:         "https://learn.microsoft.com/en-us/azure/private-link/private-endpoint-overview",
			Description: "Every data store is the target of a private endpoint, and every private endpoint has a private DNS zone group.",
			Check:       checkPrivateEndpoints,
		},
		{
			// https://learn.microsoft.com/azure/aks/planned-maintenance
			ID:          "aks-maintenance-window",
			Doc:         "https://learn.microsoft.com/en-us/azure/aks/planned-maintenance",
			Description: "Every AKS cluster has auto-upgrade and node-OS maintenance windows, and no two zones of a region or two regions share a window.",
			Check:       checkMaintenanceWindows,
		},
		{
			// https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources
			ID:          "data-store-lock",
			Doc:         "https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/lock-resources",
			Description: "Every Cosmos DB and storage account has a CanNotDelete lock.",
			Check:       checkLocks,
		},
		{
			// https://learn.microsoft.com/azure/azure-monitor/alerts/action-groups
			ID:          "alert-routed",
			Doc:         "https://learn.microsoft.com/en-us/azure/azure-monitor/alerts/action-groups",
			Description: "Every alert rule notifies at least one action group.",
			Check:       checkAlertsRouted,
		},
	}
}

func checkPublicAccess(r Resource) []string {
	var access, action any
	switch {
	case keyVault.Matches(r.Type):
		access = lookup(r.Inputs, "properties", "publicNetworkAccess")
		action = lookup(r.Inputs, "properties", "networkAcls", "defaultAction")
	case storageAccount.Matches(r.Type), registry.Matches(r.Type):
		access = lookup(r.Inputs, "publicNetworkAccess")
		action = lookup(r.Inputs, "networkRuleSet", "defaultAction")
	default: // Cosmos DB
		access = lookup(r.Inputs, "publicNetworkAccess")
		action = "Deny" // Cosmos has no default action; an IP filter alone is not private
	}
	if isUnknown(access) || isUnknown(action) {
		return nil
	}
	s, _ := asString(access)
	if strings.EqualFold(s, "Disabled") {
		return nil
	}
	if a, _ := asString(action); strings.EqualFold(s, "Enabled") && strings.EqualFold(a, "Deny") && !cosmosAccount.Matches(r.Type) {
		return nil
	}
	return []string{fmt.Sprintf("publicNetworkAccess must be Disabled, or Enabled behind a firewall whose default action is Deny (got %s, default action %s)", show(access), show(action))}
}

func checkSubnetNSG(r Resource) []string {
	one := func(name string, props map[string]any) string {
		for _, x := range nsgExempt {
			if strings.EqualFold(name, x) {
				return ""
			}
		}
		v := lookup(props, "networkSecurityGroup", "id")
		if isUnknown(v) || isUnknown(lookup(props, "networkSecurityGroup")) {
			return ""
		}
		if id, _ := asString(v); id != "" {
			return ""
		}
		return fmt.Sprintf("subnet %s has no networkSecurityGroup", name)
	}
	var out []string
	if subnet.Matches(r.Type) {
		name, _ := asString(lookup(r.Inputs, "subnetName"))
		if name == "" {
			name, _ = asString(lookup(r.Inputs, "name"))
		}
		if msg := one(name, r.Inputs); msg != "" {
			out = append(out, msg)
		}
		return out
	}
	for i, s := range asSlice(lookup(r.Inputs, "subnets")) {
		m := asMap(s)
		name, _ := asString(lookup(m, "name"))
		if name == "" {
			name = fmt.Sprintf("subnets[%d]", i)
		}
		if msg := one(name, m); msg != "" {
			out = append(out, msg)
		}
	}
	return out
}

func checkDailyCap(r Resource) []string {
	v := lookup(r.Inputs, "workspaceCapping", "dailyQuotaGb")
	if isUnknown(v) {
		return nil
	}
	if n, ok := asNumber(v); ok && n > 0 {
		return nil
	}
	return []string{fmt.Sprintf("workspaceCapping.dailyQuotaGb must be a positive number of GB (got %s)", show(v))}
}

// targetName reduces an ARM id (or a logical/Azure name) to the lower-case resource name.
func targetName(v any) (string, bool) { return azureName(v) }

func checkPrivateEndpoints(rs []Resource) []Violation {
	targets := map[string]bool{}
	endpoints := map[string]Resource{}
	for _, r := range rs {
		if !privateEndpoint.Matches(r.Type) {
			continue
		}
		endpoints[r.Name] = r
		for _, c := range asSlice(lookup(r.Inputs, "privateLinkServiceConnections")) {
			id := lookup(asMap(c), "privateLinkServiceId")
			if isUnknown(id) {
				return nil // judged again with known values
			}
			if n, ok := targetName(id); ok {
				targets[n] = true
			}
		}
	}
	grouped := map[string]bool{}
	for _, r := range rs {
		if !privateDNSZoneGrp.Matches(r.Type) {
			continue
		}
		if len(asSlice(lookup(r.Inputs, "privateDnsZoneConfigs"))) == 0 && !isUnknown(lookup(r.Inputs, "privateDnsZoneConfigs")) {
			continue
		}
		if r.Parent != "" {
			grouped[r.Parent] = true
		}
		for _, n := range r.Deps["privateEndpointName"] {
			grouped[n] = true
		}
		if n, ok := asString(lookup(r.Inputs, "privateEndpointName")); ok {
			for ln, pe := range endpoints {
				if pn, _ := asString(lookup(pe.Inputs, "privateEndpointName")); strings.EqualFold(pn, n) {
					grouped[ln] = true
				}
			}
		}
	}
	var out []Violation
	for _, r := range rs {
		if !matchesAny(dataStores, r.Type) {
			continue
		}
		name := ""
		for _, k := range []string{"accountName", "vaultName", "registryName", "name"} {
			if n, ok := azureName(lookup(r.Inputs, k)); ok {
				name = n
				break
			}
		}
		if name == "" {
			continue
		}
		if !targets[name] {
			out = append(out, Violation{Type: r.Type, Name: r.Name, Message: fmt.Sprintf("no private endpoint targets %s", name)})
		}
	}
	var names []string
	for n := range endpoints {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !grouped[n] {
			pe := endpoints[n]
			out = append(out, Violation{Type: pe.Type, Name: pe.Name, Message: "private endpoint has no private DNS zone group, so clients resolve the public address"})
		}
	}
	return out
}

func checkLocks(rs []Resource) []Violation {
	locked := map[string]bool{}
	for _, r := range rs {
		if !lockByScope.Matches(r.Type) && !lockAtResource.Matches(r.Type) {
			continue
		}
		if l, _ := asString(lookup(r.Inputs, "level")); l != "CanNotDelete" && l != "ReadOnly" {
			continue
		}
		scope := lookup(r.Inputs, "scope")
		if lockAtResource.Matches(r.Type) {
			scope = lookup(r.Inputs, "resourceName")
		}
		if isUnknown(scope) {
			return nil
		}
		if n, ok := azureName(scope); ok {
			locked[n] = true
		}
		for _, d := range r.Deps["scope"] {
			locked["logical:"+d] = true
		}
	}
	var out []Violation
	for _, r := range rs {
		if !cosmosAccount.Matches(r.Type) && !storageAccount.Matches(r.Type) {
			continue
		}
		n, ok := azureName(lookup(r.Inputs, "accountName"))
		if !ok {
			n, ok = azureName(lookup(r.Inputs, "name"))
		}
		if !ok || locked[n] || locked["logical:"+r.Name] {
			continue
		}
		out = append(out, Violation{Type: r.Type, Name: r.Name, Message: fmt.Sprintf("%s has no CanNotDelete lock", n)})
	}
	return out
}

func checkAlertsRouted(rs []Resource) []Violation {
	var out []Violation
	for _, r := range rs {
		var groups any
		switch {
		case scheduledQueryRule.Matches(r.Type):
			groups = lookup(r.Inputs, "actions", "actionGroups")
		case metricAlert.Matches(r.Type):
			groups = lookup(r.Inputs, "actions")
		default:
			continue
		}
		if isUnknown(groups) || len(asSlice(groups)) > 0 {
			continue
		}
		out = append(out, Violation{Type: r.Type, Name: r.Name, Message: "alert notifies no action group"})
	}
	return out
}

// weekMinutes is one week in minutes, the period of weekly maintenance windows.
const weekMinutes = 7 * 24 * 60

var weekdays = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

// window is one weekly maintenance window in minutes after Monday 00:00 UTC.
type window struct {
	cluster, kind, place string
	start, end           int
}

// weeklyWindow reads a maintenanceWindow with a weekly schedule; ok=false when it is not one.
func weeklyWindow(mw map[string]any) (start, end int, ok bool) {
	day, _ := asString(lookup(mw, "schedule", "weekly", "dayOfWeek"))
	at, _ := asString(lookup(mw, "startTime"))
	hours, hok := asNumber(lookup(mw, "durationHours"))
	d := -1
	for i, w := range weekdays {
		if strings.EqualFold(w, day) {
			d = i
		}
	}
	var hh, mm int
	if d < 0 || !hok || len(at) != 5 {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(at, "%02d:%02d", &hh, &mm); err != nil {
		return 0, 0, false
	}
	offset := 0
	if o, _ := asString(lookup(mw, "utcOffset")); len(o) == 6 {
		var oh, om int
		if _, err := fmt.Sscanf(o[1:], "%02d:%02d", &oh, &om); err == nil {
			offset = oh*60 + om
			if o[0] == '-' {
				offset = -offset
			}
		}
	}
	start = ((d*24*60+hh*60+mm-offset)%weekMinutes + weekMinutes) % weekMinutes
	return start, start + int(hours*60), true
}

func windowsOverlap(a, b window) bool {
	for _, shift := range []int{-weekMinutes, 0, weekMinutes} {
		if a.start+shift < b.end && b.start < a.end+shift {
			return true
		}
	}
	return false
}

func checkMaintenanceWindows(rs []Resource) []Violation {
	clusters := newIndex(rs, managedCluster, "resourceName", "name")
	place := map[string]string{} // cluster -> "region/zone"
	for name, c := range clusters.byName {
		loc, _ := asString(lookup(c.Inputs, "location"))
		zone := "?"
		for _, p := range asSlice(lookup(c.Inputs, "agentPoolProfiles")) {
			if zs, ok := poolZones(asMap(p)); ok && len(zs) == 1 {
				zone = zs[0]
				break
			}
		}
		place[name] = normRegion(loc) + "/" + zone
	}
	kinds := map[string]map[string]bool{}
	var windows []window
	for _, r := range rs {
		if !maintenanceConfig.Matches(r.Type) {
			continue
		}
		cluster, ok := clusters.resolve(r, "resourceName")
		if _, indexed := clusters.byName[cluster]; (!ok || !indexed) && r.Parent != "" {
			cluster = r.Parent
		}
		if _, indexed := clusters.byName[cluster]; !indexed {
			continue
		}
		kind, _ := asString(lookup(r.Inputs, "configName"))
		mw := lookup(r.Inputs, "maintenanceWindow")
		if isUnknown(mw) || isUnknown(lookup(r.Inputs, "configName")) {
			return nil
		}
		if mw == nil {
			continue
		}
		if kinds[cluster] == nil {
			kinds[cluster] = map[string]bool{}
		}
		kinds[cluster][kind] = true
		if start, end, ok := weeklyWindow(asMap(mw)); ok {
			windows = append(windows, window{cluster: cluster, kind: kind, place: place[cluster], start: start, end: end})
		}
	}
	var out []Violation
	for _, name := range sortedKeys(boolKeys(clusters.byName)) {
		c := clusters.byName[name]
		for _, k := range []string{"aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"} {
			if !kinds[name][k] {
				out = append(out, Violation{Type: c.Type, Name: c.Name, Message: fmt.Sprintf("no %s maintenance configuration with a maintenanceWindow", k)})
			}
		}
	}
	reported := map[string]bool{}
	for i := range windows {
		for j := i + 1; j < len(windows); j++ {
			a, b := windows[i], windows[j]
			if a.place == b.place || !windowsOverlap(a, b) {
				continue
			}
			key := a.cluster + "|" + b.cluster
			if reported[key] {
				continue
			}
			reported[key] = true
			c := clusters.byName[b.cluster]
			out = append(out, Violation{Type: c.Type, Name: c.Name,
				Message: fmt.Sprintf("%s window overlaps %s's %s window (%s vs %s): two zones or regions would be in maintenance at once", b.kind, a.cluster, a.kind, b.place, a.place)})
		}
	}
	return out
}
