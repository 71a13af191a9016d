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

// registryNetworkRules admits exactly the deploy runners' ranges when public access is on.
func registryNetworkRules(t topology.Topology) *registry.NetworkRuleSetArgs {
	var rules registry.IPRuleArray
	for _, c := range t.Config.Network.DeployRunnerIPRanges {
		rules = append(rules, registry.IPRuleArgs{IPAddressOrRange: pulumi.String(c), Action: pulumi.String("Allow")})
	}
	return &registry.NetworkRuleSetArgs{DefaultAction: pulumi.String("Deny"), IpRules: rules}
}
