package stamp

import (
	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/privatenet"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// podSubnet is the subnet pods take their VNet addresses from (Azure CNI with a pod subnet:
// the agent pools' podSubnetID). Pods must be addressable from the operators' SBCs, because
// each pod advertises its own address in SIP Contact and SDP and receives RTP there directly;
// and traffic a pod sends within the VNet and its peerings keeps that address as its source,
// so BYE, NOTIFY and RTP leave from the address the pod advertised. It is created after the
// VNet's previous subnet: Azure rejects concurrent changes to one VNet's subnets.
// https://learn.microsoft.com/en-us/azure/aks/configure-azure-cni-dynamic-ip-allocation
//
// It shares the node subnet's network security group: pods and nodes take the same traffic.
func podSubnet(ctx *pulumi.Context, p string, st topology.Stamp, rg *resources.ResourceGroup, vnet, previous *arm.Resource, nsg *privatenet.Resource) (*arm.Resource, error) {
	var pods arm.Resource
	err := arm.Register(ctx, arm.SubnetType, p+"snet-pods", pulumi.Map{
		"subnetName": pulumi.String("snet-pods"), "virtualNetworkName": vnet.Name, "resourceGroupName": rg.Name,
		"addressPrefix":        pulumi.String(st.PodSubnet),
		"networkSecurityGroup": pulumi.Map{"id": nsg.ID()},
	}, &pods, pulumi.Parent(vnet), pulumi.DependsOn([]pulumi.Resource{previous}))
	return &pods, err
}

// PrivateZoneLinkType links the SIP zone to a stamp's VNet, so its pods and dispatchers
// resolve the stamps' names.
const PrivateZoneLinkType = "azure-native:network/v20200601:VirtualNetworkLink"

// linkSIPZone links the stack's SIP zone (in the global resource group) to the stamp's VNet.
func linkSIPZone(ctx *pulumi.Context, p string, zone, zoneRG pulumi.StringInput, vnet *arm.Resource, tags pulumi.StringMap) error {
	var link arm.Resource
	return arm.Register(ctx, PrivateZoneLinkType, p+"sip-zone-link", pulumi.Map{
		"privateZoneName": zone, "resourceGroupName": zoneRG, "location": pulumi.String("global"),
		"virtualNetworkLinkName": pulumi.Sprintf("%s-link", vnet.Name),
		"virtualNetwork":         pulumi.Map{"id": vnet.ID()},
		"registrationEnabled":    pulumi.Bool(false),
		"tags":                   tags,
	}, &link, pulumi.Parent(vnet))
}
