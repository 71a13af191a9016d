// Package privatenet builds the private side of a virtual network: network security groups
// with documented rules, private endpoints for the data planes a VNet's workloads use, and
// the private DNS zones, linked to that VNet, that resolve the services' public names to
// those endpoints.
//
// Each VNet (a stamp's, a region's) gets its own endpoints and its own zones, linked to it
// alone: a stamp's name resolution then depends on nothing outside the stamp, and no two
// VNets' endpoints for the same service fight over one zone's A record
// (https://learn.microsoft.com/azure/private-link/private-endpoint-dns).
//
// Resources are registered by azure-native type token: the network SDK's API-version
// packages would add compile time for five resource types whose inputs are a few maps.
package privatenet

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Type tokens (provider API versions) of the resources this package registers.
const (
	PrivateEndpointType      = "azure-native:network/v20230401:PrivateEndpoint"
	PrivateDNSZoneGroupType  = "azure-native:network/v20230401:PrivateDnsZoneGroup"
	NetworkSecurityGroupType = "azure-native:network/v20230401:NetworkSecurityGroup"
	PrivateZoneType          = "azure-native:network/v20200601:PrivateZone"
	VirtualNetworkLinkType   = "azure-native:network/v20200601:VirtualNetworkLink"
)

// Private-link sub-resources (group ids) and the private DNS zone each one's records go to,
// as listed in "Azure Private Endpoint private DNS zone values"
// (https://learn.microsoft.com/azure/private-link/private-endpoint-dns).
const (
	GroupCosmosTable = "Table"
	GroupBlob        = "blob"
	GroupQueue       = "queue"
	GroupVault       = "vault"
	GroupRegistry    = "registry"
)

// Zones maps each group id to its private DNS zone.
func Zones() map[string]string {
	return map[string]string{
		GroupCosmosTable: "privatelink.table.cosmos.azure.com",
		GroupBlob:        "privatelink.blob.core.windows.net",
		GroupQueue:       "privatelink.queue.core.windows.net",
		GroupVault:       "privatelink.vaultcore.azure.net",
		GroupRegistry:    "privatelink.azurecr.io",
	}
}

// Resource is a resource registered by token whose only output read is its name.
type Resource struct {
	pulumi.CustomResourceState
	Name pulumi.StringOutput `pulumi:"name"`
}

// Target is one data store a VNet reaches through a private endpoint.
type Target struct {
	// Key names the endpoint uniquely within the VNet (logical and Azure names derive from it).
	Key        string
	ResourceID pulumi.StringInput
	GroupID    string
}

// EndpointsArgs places private endpoints for Targets in one VNet's subnet.
type EndpointsArgs struct {
	// Prefix makes logical names unique in the stack ("<stamp>-" or "<region>-").
	Prefix string
	// NamePrefix prefixes Azure names of endpoints and links (e.g. the VNet's name).
	NamePrefix        string
	ResourceGroupName pulumi.StringInput
	Location          string
	VNetID            pulumi.StringInput
	SubnetID          pulumi.StringInput
	Targets           []Target
	Tags              pulumi.StringMap
}

// NewEndpoints creates the private DNS zones the targets need (in the VNet's resource group,
// linked to the VNet) and one private endpoint per target with a zone group, so Azure keeps the
// zone's A records in step with the endpoint's IP addresses.
func NewEndpoints(ctx *pulumi.Context, args EndpointsArgs, opts ...pulumi.ResourceOption) error {
	zones := map[string]*Resource{}
	var groups []string
	for _, t := range args.Targets {
		if _, ok := Zones()[t.GroupID]; !ok {
			return fmt.Errorf("private endpoint %s: no private DNS zone for group %q", t.Key, t.GroupID)
		}
		if _, seen := zones[t.GroupID]; !seen {
			zones[t.GroupID] = nil
			groups = append(groups, t.GroupID)
		}
	}
	sort.Strings(groups)
	for _, g := range groups {
		zoneName := Zones()[g]
		var zone Resource
		if err := ctx.RegisterResource(PrivateZoneType, args.Prefix+"pdns-"+g, pulumi.Map{
			"privateZoneName": pulumi.String(zoneName), "resourceGroupName": args.ResourceGroupName,
			"location": pulumi.String("Global"), "tags": args.Tags,
		}, &zone, opts...); err != nil {
			return err
		}
		var link Resource
		if err := ctx.RegisterResource(VirtualNetworkLinkType, args.Prefix+"pdns-"+g+"-link", pulumi.Map{
			"privateZoneName": pulumi.String(zoneName), "resourceGroupName": args.ResourceGroupName,
			"virtualNetworkLinkName": pulumi.String(args.NamePrefix + "-link"),
			"location":               pulumi.String("Global"),
			"virtualNetwork":         pulumi.Map{"id": args.VNetID},
			// Endpoint records come from zone groups; VMs do not register themselves.
			"registrationEnabled": pulumi.Bool(false),
			"tags":                args.Tags,
		}, &link, append(opts, pulumi.Parent(&zone))...); err != nil {
			return err
		}
		zones[g] = &zone
	}
	for _, t := range args.Targets {
		name := "pe-" + args.NamePrefix + "-" + t.Key
		var pe Resource
		if err := ctx.RegisterResource(PrivateEndpointType, args.Prefix+"pe-"+t.Key, pulumi.Map{
			"privateEndpointName": pulumi.String(name), "resourceGroupName": args.ResourceGroupName,
			"location":                   pulumi.String(args.Location),
			"subnet":                     pulumi.Map{"id": args.SubnetID},
			"customNetworkInterfaceName": pulumi.String(name + "-nic"),
			"privateLinkServiceConnections": pulumi.Array{pulumi.Map{
				"name": pulumi.String(name), "privateLinkServiceId": t.ResourceID,
				"groupIds": pulumi.StringArray{pulumi.String(t.GroupID)},
			}},
			"tags": args.Tags,
		}, &pe, opts...); err != nil {
			return err
		}
		zone := zones[t.GroupID]
		var zg Resource
		if err := ctx.RegisterResource(PrivateDNSZoneGroupType, args.Prefix+"pe-"+t.Key+"-dns", pulumi.Map{
			"privateEndpointName": pe.Name, "resourceGroupName": args.ResourceGroupName,
			"privateDnsZoneGroupName": pulumi.String("default"),
			"privateDnsZoneConfigs": pulumi.Array{pulumi.Map{
				"name": pulumi.String(t.GroupID), "privateDnsZoneId": zone.ID(),
			}},
		}, &zg, pulumi.Parent(&pe)); err != nil {
			return err
		}
	}
	return nil
}

// Rule is one NSG security rule. Every rule says why it exists.
type Rule struct {
	Name        string
	Priority    int
	Direction   string // Inbound, Outbound
	Access      string // Allow, Deny
	Protocol    string // Tcp, Udp, *
	Source      string // CIDR or service tag
	Destination string
	Ports       []string // destination port ranges; "*" for any
	Why         string
}

// NewNSG creates a network security group with rules. The reasons become rule descriptions,
// so the portal shows why each rule exists.
func NewNSG(ctx *pulumi.Context, logical, name string, rg pulumi.StringInput, location string, rules []Rule, tags pulumi.StringMap, opts ...pulumi.ResourceOption) (*Resource, error) {
	var list pulumi.Array
	for _, r := range rules {
		m := pulumi.Map{
			"name": pulumi.String(r.Name), "priority": pulumi.Int(r.Priority),
			"direction": pulumi.String(r.Direction), "access": pulumi.String(r.Access),
			"protocol": pulumi.String(r.Protocol), "sourcePortRange": pulumi.String("*"),
			"sourceAddressPrefix": pulumi.String(r.Source), "destinationAddressPrefix": pulumi.String(r.Destination),
			"description": pulumi.String(r.Why),
		}
		if len(r.Ports) == 1 {
			m["destinationPortRange"] = pulumi.String(r.Ports[0])
		} else {
			m["destinationPortRanges"] = pulumi.ToStringArray(r.Ports)
		}
		list = append(list, m)
	}
	var nsg Resource
	err := ctx.RegisterResource(NetworkSecurityGroupType, logical, pulumi.Map{
		"networkSecurityGroupName": pulumi.String(name), "resourceGroupName": rg,
		"location": pulumi.String(location), "securityRules": list, "tags": tags,
	}, &nsg, opts...)
	if err != nil {
		return nil, err
	}
	return &nsg, nil
}

// DenyRemainingInbound closes a subnet to everything its other rules do not allow, including
// the VirtualNetwork and load-balancer traffic Azure's default rules would let in.
func DenyRemainingInbound() Rule {
	return Rule{Name: "deny-all-inbound", Priority: 4096, Direction: "Inbound", Access: "Deny", Protocol: "*",
		Source: "*", Destination: "*", Ports: []string{"*"}, Why: "Nothing else may reach this subnet."}
}

// EndpointSubnetArgs places a VNet's private-endpoint subnet.
type EndpointSubnetArgs struct {
	Prefix        string // logical-name prefix: <Prefix>nsg-pe, <Prefix>snet-pe
	VNetName      string // the VNet's Azure name, for the NSG's name
	Location      string
	ResourceGroup pulumi.StringInput
	VNet          *arm.Resource
	AddressPrefix string
	// After is the VNet's previous subnet: Azure rejects concurrent subnet writes on a VNet.
	After pulumi.Resource
	Tags  pulumi.StringMap
}

// NewEndpointSubnet creates a VNet's private-endpoint subnet with its NSG (HTTPS from the VNet
// only, every data plane behind the endpoints being HTTPS). The NSG takes opts (its parent);
// the subnet is a child of the VNet.
func NewEndpointSubnet(ctx *pulumi.Context, args EndpointSubnetArgs, opts ...pulumi.ResourceOption) (*arm.Resource, error) {
	nsg, err := NewNSG(ctx, args.Prefix+"nsg-pe", topology.NSGName(args.VNetName, topology.PrivateEndpointSubnet), args.ResourceGroup, args.Location, []Rule{
		{Name: "allow-https-from-vnet", Priority: 100, Direction: "Inbound", Access: "Allow", Protocol: "Tcp",
			Source: "VirtualNetwork", Destination: "*", Ports: []string{"443"},
			Why: "Every data plane behind these endpoints (Cosmos DB Table, Blob, Queue, Key Vault, ACR) is HTTPS."},
		DenyRemainingInbound(),
	}, args.Tags, opts...)
	if err != nil {
		return nil, err
	}
	var subnet arm.Resource
	err = arm.Register(ctx, arm.SubnetType, args.Prefix+"snet-pe", pulumi.Map{
		"subnetName": pulumi.String(topology.PrivateEndpointSubnet), "virtualNetworkName": args.VNet.Name, "resourceGroupName": args.ResourceGroup,
		"addressPrefix":        pulumi.String(args.AddressPrefix),
		"networkSecurityGroup": pulumi.Map{"id": nsg.ID()},
		// NSGs apply to private endpoints only with network policies enabled on the subnet.
		"privateEndpointNetworkPolicies": pulumi.String("Enabled"),
	}, &subnet, pulumi.Parent(args.VNet), pulumi.DependsOn([]pulumi.Resource{args.After}))
	return &subnet, err
}
