package arm

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Some resource types are registered by their azure-native type token with a typed output
// struct instead of through their SDK package: compiling compute/v20230301 (VMSS),
// network/v20190601 (VNet, subnet, public IP) and web (Functions) took 150 of the program's
// ~500 CPU-seconds of cold build for four resource types. The provider, API versions and
// inputs are exactly what the SDK would send; tests/ checks the inputs.
const (
	VirtualNetworkType  = "azure-native:network/v20190601:VirtualNetwork"
	SubnetType          = "azure-native:network/v20190601:Subnet"
	PublicIPAddressType = "azure-native:network/v20190601:PublicIPAddress"
	ScaleSetType        = "azure-native:compute/v20230301:VirtualMachineScaleSet"
	AppServicePlanType  = "azure-native:web/v20160901:AppServicePlan"
	// WebAppType is the first API version with VNet integration as a site property
	// (virtualNetworkSubnetId, vnetRouteAllEnabled); WebAppPreviousType is the one sites were
	// created with, kept as an alias so the change of version updates them in place.
	WebAppType         = "azure-native:web/v20230101:WebApp"
	WebAppPreviousType = "azure-native:web/v20181101:WebApp"
)

// Resource is an azure-native resource whose only output we read is its name.
type Resource struct {
	pulumi.CustomResourceState
	Name pulumi.StringOutput `pulumi:"name"`
}

// PublicIP is a public IP address with the outputs a Traffic Manager target needs.
type PublicIP struct {
	pulumi.CustomResourceState
	Name        pulumi.StringOutput    `pulumi:"name"`
	IPAddress   pulumi.StringOutput    `pulumi:"ipAddress"`
	DNSSettings pulumi.StringMapOutput `pulumi:"dnsSettings"`
}

// WebApp is an App Service site (here a Functions app) with its managed identity.
type WebApp struct {
	pulumi.CustomResourceState
	Name     pulumi.StringOutput `pulumi:"name"`
	Identity pulumi.MapOutput    `pulumi:"identity"`
}

// PrincipalID is the site's system-assigned identity.
func (w *WebApp) PrincipalID() pulumi.StringOutput {
	return w.Identity.ApplyT(func(m map[string]any) string {
		s, _ := m["principalId"].(string)
		return s
	}).(pulumi.StringOutput)
}

// Register registers a resource by type token into out (a pointer to one of the structs above).
func Register(ctx *pulumi.Context, typ, name string, props pulumi.Map, out pulumi.CustomResource, opts ...pulumi.ResourceOption) error {
	return ctx.RegisterResource(typ, name, props, out, opts...)
}
