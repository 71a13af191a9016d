package rules

import (
	"fmt"
	"net/netip"
	"strings"
)

// The rules in this file encode how the data stores' network settings meet the deployment
// itself: what the deploy runner may write from outside the stores' networks, what their
// firewalls accept, and what the first deployment's steps need from them.

// dataPlaneWriters are resource types whose provider writes through a store's data plane
// (the vault's or account's own endpoint) rather than through Azure Resource Manager. With the
// stores' public network access off, the deploy runner cannot reach those endpoints.
var dataPlaneWriters = []TypeRef{
	azure("storage", "Blob"), // azure-native uploads with the account key over the blob endpoint
	{"azure", "keyvault", "Secret"},
	{"azure", "keyvault", "Key"},
	{"azure", "keyvault", "Certificate"},
	{"azure", "storage", "Blob"},
}

func networkResourceRules() []ResourceRule {
	return []ResourceRule{
		{
			// Key Vault: "Azure Key Vault firewall rules only apply to data plane operations.
			// Control plane operations are not subject to the restrictions specified in
			// firewall rules." Storage says the same of its firewall
			// (https://learn.microsoft.com/azure/storage/common/storage-network-security).
			ID:          "deploy-control-plane-only",
			Doc:         "https://learn.microsoft.com/en-us/azure/key-vault/general/network-security",
			Description: "The program writes into Key Vault and storage only through Azure Resource Manager (e.g. azure-native keyvault Secret): the stores' public network access is off, and a data-plane write from the deploy runner is refused.",
			Types:       dataPlaneWriters,
			Check: func(r Resource) []string {
				return []string{fmt.Sprintf("%s writes through the store's data plane, which the deploy runner cannot reach with public network access off; create it through Azure Resource Manager (control plane) instead", r.Type)}
			},
		},
		{
			// Storage: "Small address ranges that use /31 or /32 prefix sizes are not
			// supported" and IP rules are for public addresses only. Key Vault: "IP network
			// rules are only allowed for public IP addresses"
			// (https://learn.microsoft.com/azure/key-vault/general/network-security).
			ID:          "firewall-ip-rules",
			Doc:         "https://learn.microsoft.com/en-us/azure/storage/common/storage-network-security",
			Description: "Storage and Key Vault firewall IP rules name public IPv4 addresses or ranges; storage takes /31 and /32 only as single addresses.",
			Types:       []TypeRef{storageAccount, keyVault},
			Check:       checkFirewallIPRules,
		},
		{
			ID:          "acr-trusted-services-import",
			Doc:         "https://learn.microsoft.com/en-us/azure/container-registry/container-registry-import-images",
			Description: "A registry behind a private endpoint or firewall lets trusted services bypass it (networkRuleBypassOptions AzureServices): `az acr import` fails otherwise.",
			Types:       []TypeRef{registry},
			Check:       checkRegistryBypass,
		},
		{
			// "you must now provide the full resource ID for any object replication policies
			// that are created when cross-tenant replication is disallowed", and new accounts
			// disallow it by default.
			ID:          "storage-replication-resource-ids",
			Doc:         "https://learn.microsoft.com/en-us/azure/storage/blobs/object-replication-overview",
			Description: "Object replication policies name both accounts by full resource ID: with cross-tenant replication disallowed (the default, and this stack's setting) a policy naming an account alone is rejected.",
			Types:       []TypeRef{objectReplication},
			Check:       checkReplicationIDs,
		},
	}
}

func checkFirewallIPRules(r Resource) []string {
	var rules []any
	storage := storageAccount.Matches(r.Type)
	if storage {
		rules = asSlice(lookup(r.Inputs, "networkRuleSet", "ipRules"))
	} else {
		rules = asSlice(lookup(r.Inputs, "properties", "networkAcls", "ipRules"))
	}
	var out []string
	for i, ir := range rules {
		m := asMap(ir)
		v := lookup(m, "iPAddressOrRange")
		if v == nil {
			v = lookup(m, "value")
		}
		if isUnknown(v) {
			continue
		}
		s, _ := asString(v)
		addr, bits := netip.Addr{}, 32
		if p, err := netip.ParsePrefix(s); err == nil {
			addr, bits = p.Addr(), p.Bits()
		} else if a, err := netip.ParseAddr(s); err == nil {
			addr = a
		} else {
			out = append(out, fmt.Sprintf("ipRules[%d] %q is not an IPv4 address or range", i, s))
			continue
		}
		switch {
		case !addr.Is4():
			out = append(out, fmt.Sprintf("ipRules[%d] %q: only IPv4 is supported", i, s))
		case addr.IsPrivate() || addr.IsLoopback() || addr.IsLinkLocalUnicast():
			out = append(out, fmt.Sprintf("ipRules[%d] %q is not a public address; firewalls take public ranges only (use a private endpoint)", i, s))
		case storage && strings.Contains(s, "/") && bits >= 31:
			out = append(out, fmt.Sprintf("ipRules[%d] %q: storage refuses /31 and /32 ranges; list the single addresses", i, s))
		}
	}
	return out
}

func checkRegistryBypass(r Resource) []string {
	access := lookup(r.Inputs, "publicNetworkAccess")
	action := lookup(r.Inputs, "networkRuleSet", "defaultAction")
	bypass := lookup(r.Inputs, "networkRuleBypassOptions")
	if isUnknown(access) || isUnknown(action) || isUnknown(bypass) {
		return nil
	}
	a, _ := asString(access)
	d, _ := asString(action)
	if !strings.EqualFold(a, "Disabled") && !strings.EqualFold(d, "Deny") {
		return nil // not network-restricted
	}
	if b, _ := asString(bypass); bypass == nil || strings.EqualFold(b, "AzureServices") {
		return nil // unset is the API's default, AzureServices
	}
	return []string{fmt.Sprintf("networkRuleBypassOptions %s on a network-restricted registry: importing images (az acr import) fails", show(bypass))}
}

func checkReplicationIDs(r Resource) []string {
	var out []string
	for _, k := range []string{"sourceAccount", "destinationAccount"} {
		v := lookup(r.Inputs, k)
		if isUnknown(v) {
			continue
		}
		s, _ := asString(v)
		if !strings.HasPrefix(strings.ToLower(s), "/subscriptions/") || !strings.Contains(strings.ToLower(s), "/providers/microsoft.storage/storageaccounts/") {
			out = append(out, fmt.Sprintf("%s %s is not a full storage account resource ID", k, show(v)))
		}
	}
	return out
}
