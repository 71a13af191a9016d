package regional

import (
	"net/netip"

	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	storage "github.com/pulumi/pulumi-azure-native-sdk/storage/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/global"
	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/privatenet"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// jumpboxNSG admits operators' SSH from the private network only (no public IPs exist here).
func (r *Regional) jumpboxNSG(ctx *pulumi.Context, reg topology.Region, rg *resources.ResourceGroup, tags pulumi.StringMap) (*privatenet.Resource, error) {
	return privatenet.NewNSG(ctx, reg.Name+"-nsg-jumpbox", topology.NSGName(reg.Names.VNet, reg.Names.JumpboxSubnet), rg.Name, reg.Name, []privatenet.Rule{
		{Name: "allow-ssh-from-vnet", Priority: 100, Direction: "Inbound", Access: "Allow", Protocol: "Tcp",
			Source: "VirtualNetwork", Destination: "*", Ports: []string{"22"},
			Why: "Operators sign in with Entra ID over SSH from the peered operations network or Bastion."},
		privatenet.DenyRemainingInbound(),
	}, tags, pulumi.Parent(r))
}

// privateDataPlane adds the region VNet's private-endpoint and Functions subnets and the
// endpoints the jump box and the Functions app use: the region's audio/state and host/package
// storage, its Key Vault, and the global Cosmos DB account and registry (for operators).
// Subnets of one VNet are created one after another: Azure rejects concurrent subnet writes.
func (r *Regional) privateDataPlane(ctx *pulumi.Context, reg topology.Region, rg *resources.ResourceGroup, vnet, previous *arm.Resource, g *global.Global, tags pulumi.StringMap) error {
	p := reg.Name + "-"
	peSubnet, err := privatenet.NewEndpointSubnet(ctx, privatenet.EndpointSubnetArgs{
		Prefix: p, VNetName: reg.Names.VNet, Location: reg.Name, ResourceGroup: rg.Name, VNet: vnet,
		AddressPrefix: reg.PrivateEndpointRange(), After: previous, Tags: tags,
	}, pulumi.Parent(r))
	if err != nil {
		return err
	}
	funcNSG, err := privatenet.NewNSG(ctx, p+"nsg-func", topology.NSGName(reg.Names.VNet, topology.FunctionsSubnet), rg.Name, reg.Name, []privatenet.Rule{
		{Name: "allow-https-to-vnet", Priority: 100, Direction: "Outbound", Access: "Allow", Protocol: "Tcp",
			Source: "VirtualNetwork", Destination: "VirtualNetwork", Ports: []string{"443"},
			Why: "The management service reaches its storage and Key Vault through the private endpoints."},
		// Integration subnets carry only the app's outbound traffic; inbound rules never match.
		privatenet.DenyRemainingInbound(),
	}, tags, pulumi.Parent(r))
	if err != nil {
		return err
	}
	var funcSubnet arm.Resource
	if err := arm.Register(ctx, arm.SubnetType, p+"snet-func", pulumi.Map{
		"subnetName": pulumi.String(topology.FunctionsSubnet), "virtualNetworkName": vnet.Name, "resourceGroupName": rg.Name,
		"addressPrefix":        pulumi.String(reg.FunctionsRange()),
		"networkSecurityGroup": pulumi.Map{"id": funcNSG.ID()},
		"delegations": pulumi.Array{pulumi.Map{
			"name": pulumi.String("serverfarms"), "serviceName": pulumi.String("Microsoft.Web/serverFarms"),
		}},
	}, &funcSubnet, pulumi.Parent(vnet), pulumi.DependsOn([]pulumi.Resource{peSubnet})); err != nil {
		return err
	}
	r.FunctionsSubnetID = funcSubnet.ID().ToStringOutput()

	return privatenet.NewEndpoints(ctx, privatenet.EndpointsArgs{
		Prefix: p, NamePrefix: reg.Names.VNet, ResourceGroupName: rg.Name, Location: reg.Name,
		VNetID: vnet.ID(), SubnetID: peSubnet.ID(), Tags: tags,
		Targets: []privatenet.Target{
			{Key: "blob", ResourceID: r.BlobAccountID, GroupID: privatenet.GroupBlob},
			{Key: "host-blob", ResourceID: r.QueueAccountID, GroupID: privatenet.GroupBlob},
			{Key: "host-queue", ResourceID: r.QueueAccountID, GroupID: privatenet.GroupQueue},
			{Key: "kv", ResourceID: r.KeyVaultID, GroupID: privatenet.GroupVault},
			{Key: "cosmos", ResourceID: g.CosmosAccountID, GroupID: privatenet.GroupCosmosTable},
			{Key: "acr", ResourceID: g.RegistryID, GroupID: privatenet.GroupRegistry},
		},
	}, pulumi.Parent(r))
}

// storageIPRules turns CIDRs into storage firewall IP rules. Storage refuses /31 and /32
// ranges ("Small address ranges that use /31 or /32 prefix sizes are not supported. Configure
// these ranges by using individual IP address rules.",
// https://learn.microsoft.com/azure/storage/common/storage-network-security), so those become
// their one or two single addresses. The CIDRs were validated as IPv4 prefixes.
func storageIPRules(cidrs []string) storage.IPRuleArray {
	var out storage.IPRuleArray
	for _, r := range StorageIPRuleValues(cidrs) {
		out = append(out, storage.IPRuleArgs{IPAddressOrRange: pulumi.String(r), Action: storage.ActionAllow})
	}
	return out
}

// StorageIPRuleValues is the storage firewall's spelling of each CIDR: /31 and /32 as single
// addresses, wider ranges unchanged.
func StorageIPRuleValues(cidrs []string) []string {
	var out []string
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil || p.Bits() < 31 {
			out = append(out, c)
			continue
		}
		a := p.Masked().Addr()
		out = append(out, a.String())
		if p.Bits() == 31 {
			out = append(out, a.Next().String())
		}
	}
	return out
}
