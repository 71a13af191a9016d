package regional

import (
	"strconv"

	compute "github.com/pulumi/pulumi-azure-native-sdk/compute/v2/v20230301"
	network "github.com/pulumi/pulumi-azure-native-sdk/network/v2/v20190601"
	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	webplan "github.com/pulumi/pulumi-azure-native-sdk/web/v2/v20160901"
	web "github.com/pulumi/pulumi-azure-native-sdk/web/v2/v20181101"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/global"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// functions creates the Linux Functions app (custom handler) that hosts the regional
// management service. It uses a dedicated plan so its host storage can be reached with its
// managed identity alone (no content share, which would need a shared key).
func (r *Regional) functions(ctx *pulumi.Context, t topology.Topology, reg topology.Region, rg *resources.ResourceGroup, tags pulumi.StringMap) error {
	p := reg.Name + "-"
	plan, err := webplan.NewAppServicePlan(ctx, p+"plan", &webplan.AppServicePlanArgs{
		Name: pulumi.String(reg.Names.FunctionPlan), ResourceGroupName: rg.Name, Location: pulumi.String(reg.Name),
		Kind: pulumi.String("linux"), Reserved: pulumi.Bool(true),
		Sku:  &webplan.SkuDescriptionArgs{Name: pulumi.String(t.Config.Functions.PlanSKU), Capacity: pulumi.Int(len(reg.Zones))},
		Tags: tags,
	}, pulumi.Parent(r))
	if err != nil {
		return err
	}
	if _, err := global.NewDiagnostics(ctx, p+"plan", global.DiagnosticsArgs{ResourceID: plan.ID().ToStringOutput(), WorkspaceID: r.WorkspaceID}, pulumi.Parent(plan)); err != nil {
		return err
	}
	stamps, err := ManagerStamps(t, reg.Name)
	if err != nil {
		return err
	}
	settings := []struct{ k, v pulumi.StringInput }{
		{pulumi.String("FUNCTIONS_EXTENSION_VERSION"), pulumi.String("~4")},
		{pulumi.String("FUNCTIONS_WORKER_RUNTIME"), pulumi.String("custom")},
		{pulumi.String("AzureWebJobsStorage__accountName"), pulumi.String(reg.Names.QueueAccount)},
		{pulumi.String("APPLICATIONINSIGHTS_CONNECTION_STRING"), r.AppInsightsConnStr},
		{pulumi.String("APPLICATIONINSIGHTS_AUTHENTICATION_STRING"), pulumi.String("Authorization=AAD")},
		{pulumi.String("VOICEMAIL_MANAGER_REGION"), pulumi.String(reg.Name)},
		{pulumi.String("VOICEMAIL_MANAGER_STAMPS"), pulumi.String(stamps)},
		{pulumi.String("VOICEMAIL_MANAGER_STATE_CONTAINER_URL"), pulumi.Sprintf("%s%s", r.BlobEndpoint, topology.StateContainer)},
		{pulumi.String("VOICEMAIL_MANAGER_HEALTH_PATH"), pulumi.String(topology.HealthPath)},
	}
	var appSettings web.NameValuePairArray
	for _, s := range settings {
		appSettings = append(appSettings, web.NameValuePairArgs{Name: s.k, Value: s.v})
	}
	app, err := web.NewWebApp(ctx, p+"func", &web.WebAppArgs{
		Name: pulumi.String(reg.Names.FunctionApp), ResourceGroupName: rg.Name, Location: pulumi.String(reg.Name),
		Kind: pulumi.String("functionapp,linux"), Reserved: pulumi.Bool(true), ServerFarmId: plan.ID(),
		HttpsOnly: pulumi.Bool(true), ClientAffinityEnabled: pulumi.Bool(false),
		Identity: &web.ManagedServiceIdentityArgs{Type: web.ManagedServiceIdentityTypeSystemAssigned},
		SiteConfig: &web.SiteConfigArgs{
			AlwaysOn: pulumi.Bool(true), MinTlsVersion: pulumi.String("1.2"), FtpsState: pulumi.String("Disabled"),
			Http20Enabled: pulumi.Bool(true), AppSettings: appSettings,
		},
		Tags: tags,
	}, pulumi.Parent(r))
	if err != nil {
		return err
	}
	principal := app.Identity.PrincipalId().Elem()
	roles := []struct {
		name, role string
		scope      pulumi.StringInput
	}{
		{"func-host-blob", global.RoleStorageBlobDataOwner, r.QueueAccountID},
		{"func-host-queue", global.RoleStorageQueueDataContrib, r.QueueAccountID},
		{"func-state-blob", global.RoleStorageBlobDataContributor, pulumi.Sprintf("%s/blobServices/default/containers/%s", r.BlobAccountID, topology.StateContainer)},
	}
	for _, ro := range roles {
		if _, err := global.NewRoleAssignment(ctx, p+ro.name, global.RoleArgs{
			Key: reg.Name + "/" + ro.name, Scope: ro.scope, RoleID: ro.role, PrincipalID: principal,
		}, pulumi.Parent(app)); err != nil {
			return err
		}
	}
	if _, err := global.NewDiagnostics(ctx, p+"func", global.DiagnosticsArgs{ResourceID: app.ID().ToStringOutput(), WorkspaceID: r.WorkspaceID, Logs: true}, pulumi.Parent(app)); err != nil {
		return err
	}
	r.FunctionAppName = app.Name
	r.FunctionPrincipalID = principal
	return nil
}

// jumpbox is a zone-spread scale set without public IPs; operators sign in with Entra ID
// (AADSSHLoginForLinux), and its managed identity reaches Azure without stored secrets.
func (r *Regional) jumpbox(ctx *pulumi.Context, t topology.Topology, reg topology.Region, rg *resources.ResourceGroup, subnet *network.Subnet, tags pulumi.StringMap) error {
	jb := t.Config.Jumpbox
	const admin = "azureops"
	var zones pulumi.StringArray
	for _, z := range reg.Zones {
		zones = append(zones, pulumi.String(strconv.Itoa(z)))
	}
	vmss, err := compute.NewVirtualMachineScaleSet(ctx, reg.Name+"-jumpbox", &compute.VirtualMachineScaleSetArgs{
		VmScaleSetName: pulumi.String(reg.Names.Jumpbox), ResourceGroupName: rg.Name, Location: pulumi.String(reg.Name),
		OrchestrationMode: pulumi.String("Uniform"),
		Sku:               &compute.SkuArgs{Name: pulumi.String(jb.VMSize), Tier: pulumi.String("Standard"), Capacity: pulumi.Float64(jb.Instances)},
		Zones:             zones, Overprovision: pulumi.Bool(false), SinglePlacementGroup: pulumi.Bool(false),
		Identity:      &compute.VirtualMachineScaleSetIdentityArgs{Type: compute.ResourceIdentityTypeSystemAssigned},
		UpgradePolicy: &compute.UpgradePolicyArgs{Mode: compute.UpgradeModeAutomatic},
		VirtualMachineProfile: &compute.VirtualMachineScaleSetVMProfileArgs{
			OsProfile: &compute.VirtualMachineScaleSetOSProfileArgs{
				ComputerNamePrefix: pulumi.String(reg.Names.JumpboxComputerPrefix),
				AdminUsername:      pulumi.String(admin),
				LinuxConfiguration: &compute.LinuxConfigurationArgs{
					DisablePasswordAuthentication: pulumi.Bool(true),
					Ssh: &compute.SshConfigurationArgs{PublicKeys: compute.SshPublicKeyTypeArray{compute.SshPublicKeyTypeArgs{
						Path: pulumi.String("/home/" + admin + "/.ssh/authorized_keys"), KeyData: pulumi.String(jb.AdminSSHPublicKey),
					}}},
				},
			},
			StorageProfile: &compute.VirtualMachineScaleSetStorageProfileArgs{
				ImageReference: &compute.ImageReferenceArgs{
					Publisher: pulumi.String("Canonical"), Offer: pulumi.String("ubuntu-24_04-lts"),
					Sku: pulumi.String("server"), Version: pulumi.String("latest"),
				},
				OsDisk: &compute.VirtualMachineScaleSetOSDiskArgs{
					CreateOption: pulumi.String("FromImage"), Caching: compute.CachingTypesReadWrite,
					ManagedDisk: &compute.VirtualMachineScaleSetManagedDiskParametersArgs{StorageAccountType: pulumi.String("StandardSSD_LRS")},
				},
			},
			NetworkProfile: &compute.VirtualMachineScaleSetNetworkProfileArgs{
				NetworkInterfaceConfigurations: compute.VirtualMachineScaleSetNetworkConfigurationArray{
					compute.VirtualMachineScaleSetNetworkConfigurationArgs{
						Name: pulumi.String("nic"), Primary: pulumi.Bool(true),
						IpConfigurations: compute.VirtualMachineScaleSetIPConfigurationArray{
							compute.VirtualMachineScaleSetIPConfigurationArgs{
								Name: pulumi.String("ipconfig"), Primary: pulumi.Bool(true),
								Subnet: &compute.ApiEntityReferenceArgs{Id: subnet.ID()},
							},
						},
					},
				},
			},
			ExtensionProfile: &compute.VirtualMachineScaleSetExtensionProfileArgs{
				Extensions: compute.VirtualMachineScaleSetExtensionTypeArray{compute.VirtualMachineScaleSetExtensionTypeArgs{
					Name: pulumi.String("AADSSHLoginForLinux"), Publisher: pulumi.String("Microsoft.Azure.ActiveDirectory"),
					Type: pulumi.String("AADSSHLoginForLinux"), TypeHandlerVersion: pulumi.String("1.0"),
					AutoUpgradeMinorVersion: pulumi.Bool(true),
				}},
			},
			DiagnosticsProfile: &compute.DiagnosticsProfileArgs{BootDiagnostics: &compute.BootDiagnosticsArgs{Enabled: pulumi.Bool(true)}},
		},
		Tags: tags,
	}, pulumi.Parent(r))
	if err != nil {
		return err
	}
	_, err = global.NewDiagnostics(ctx, reg.Name+"-jumpbox", global.DiagnosticsArgs{ResourceID: vmss.ID().ToStringOutput(), WorkspaceID: r.WorkspaceID}, pulumi.Parent(vmss))
	return err
}
