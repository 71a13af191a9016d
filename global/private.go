package global

import (
	registry "github.com/pulumi/pulumi-azure-native-sdk/containerregistry/v2/v20221201"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/topology"
)

// registryPublicAccess keeps the registry private unless the deploy runners' ranges are
// configured: the pipeline pushes the app image from them. Nodes pull through private endpoints.
func registryPublicAccess(t topology.Topology) string {
	if len(t.Config.Network.DeployRunnerIPRanges) > 0 {
		return "Enabled"
	}
	return "Disabled"
}

// registryBypass lets trusted Azure services through the registry's network rules. `az acr
// import` (the first deployment's image step) runs as one: "Import from a public registry to a
// network-restricted Azure container registry requires the restricted registry to allow access
// by trusted services to bypass the network. [...] If the setting isn't enabled in a newly
// created registry with a private endpoint or with registry firewall rules, import will fail."
// (https://learn.microsoft.com/azure/container-registry/container-registry-import-images).
// Import is an ARM call, so it needs no network path from the caller to the registry.
const registryBypass = "AzureServices"

// registryNetworkRules admits exactly the deploy runners' ranges when public access is on.
func registryNetworkRules(t topology.Topology) *registry.NetworkRuleSetArgs {
	var rules registry.IPRuleArray
	for _, c := range t.Config.Network.DeployRunnerIPRanges {
		rules = append(rules, registry.IPRuleArgs{IPAddressOrRange: pulumi.String(c), Action: pulumi.String("Allow")})
	}
	return &registry.NetworkRuleSetArgs{DefaultAction: pulumi.String("Deny"), IpRules: rules}
}
