package stamp

import (
	"fmt"

	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/privatenet"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Ports the node subnet admits from outside the VNet: the public load balancer's HTTPS port
// (the API and Traffic Manager's probe) and IMAP. SIP (5060, and TLS on 5061) and RTP arrive
// from the SBCs over the peered network.
const (
	publicHTTPSPort = "443"
	publicIMAPPort  = "143"
	publicIMAPSPort = "993"
	sipPort         = "5060"
	sipTLSPort      = "5061"
	rtpPorts        = "1024-65535"
)

// nodeNSG is the AKS node subnet's NSG. AKS keeps its own NSG on the node NICs; this one on
// the subnet states what may reach the stamp at all.
func (s *Stamp) nodeNSG(ctx *pulumi.Context, st topology.Stamp, rg *resources.ResourceGroup, tags pulumi.StringMap) (*privatenet.Resource, error) {
	return privatenet.NewNSG(ctx, st.ID+"-nsg-aks", topology.NSGName(st.Names.VNet, st.Names.Subnet), rg.Name, st.Region, []privatenet.Rule{
		{Name: "allow-https-from-internet", Priority: 100, Direction: "Inbound", Access: "Allow", Protocol: "Tcp",
			Source: "Internet", Destination: "*", Ports: []string{publicHTTPSPort},
			Why: "HTTPS API clients and Traffic Manager's health probes reach the stamp's public load balancer; there is no plain HTTP."},
		{Name: "allow-trafficmanager-probe", Priority: 110, Direction: "Inbound", Access: "Allow", Protocol: "Tcp",
			Source: "AzureTrafficManager", Destination: "*", Ports: []string{publicHTTPSPort},
			Why: "Traffic Manager probes " + topology.HealthPath + " over HTTPS; kept explicit so a narrower rule never drops it."},
		{Name: "allow-imap-from-internet", Priority: 120, Direction: "Inbound", Access: "Allow", Protocol: "Tcp",
			Source: "Internet", Destination: "*", Ports: []string{publicIMAPPort, publicIMAPSPort},
			Why: "IMAP clients (STARTTLS on 143, implicit TLS on 993) arrive through the operator's TCP balancer."},
		{Name: "allow-sip-rtp-from-vnet", Priority: 130, Direction: "Inbound", Access: "Allow", Protocol: "*",
			Source: "VirtualNetwork", Destination: "*", Ports: []string{sipPort, sipTLSPort, rtpPorts},
			Why: "SBCs send SIP to the dispatcher and RTP straight to the pod over the peered network."},
	}, tags, pulumi.Parent(s))
}

// privateDataPlane adds the stamp VNet's private-endpoint subnet and one endpoint per data
// store the stamp's pods and nodes use: Cosmos DB (Table), every region's audio account (the
// local replica first, then the origin region's), the region's queue account and Key Vault,
// and the registry (nodes pull images through it).
//
// It returns the endpoint subnet: the VNet's next subnet is created after it.
func (s *Stamp) privateDataPlane(ctx *pulumi.Context, args *Args, rg *resources.ResourceGroup, vnet, previous *arm.Resource, tags pulumi.StringMap) (*arm.Resource, error) {
	st, g, r := args.Stamp, args.Global, args.Region
	p := st.ID + "-"
	subnet, err := privatenet.NewEndpointSubnet(ctx, privatenet.EndpointSubnetArgs{
		Prefix: p, VNetName: st.Names.VNet, Location: st.Region, ResourceGroup: rg.Name, VNet: vnet,
		AddressPrefix: st.PrivateEndpointRange(), After: previous, Tags: tags,
	}, pulumi.Parent(s))
	if err != nil {
		return nil, err
	}
	targets := []privatenet.Target{
		{Key: "cosmos", ResourceID: g.CosmosAccountID, GroupID: privatenet.GroupCosmosTable},
		{Key: "queue", ResourceID: r.QueueAccountID, GroupID: privatenet.GroupQueue},
		{Key: "kv", ResourceID: r.KeyVaultID, GroupID: privatenet.GroupVault},
		{Key: "acr", ResourceID: g.RegistryID, GroupID: privatenet.GroupRegistry},
	}
	for _, reg := range args.Topology.Regions {
		other, ok := args.Regions[reg.Name]
		if !ok {
			return nil, fmt.Errorf("stamp %s: region %s was not built", st.ID, reg.Name)
		}
		targets = append(targets, privatenet.Target{Key: "blob-" + reg.Short, ResourceID: other.BlobAccountID, GroupID: privatenet.GroupBlob})
	}
	return subnet, privatenet.NewEndpoints(ctx, privatenet.EndpointsArgs{
		Prefix: p, NamePrefix: st.Names.VNet, ResourceGroupName: rg.Name, Location: st.Region,
		VNetID: vnet.ID(), SubnetID: subnet.ID(), Targets: targets, Tags: tags,
	}, pulumi.Parent(s))
}
