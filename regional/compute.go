package regional

import (
	"strconv"

	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// functions creates the Linux Functions app (custom handler) that hosts the regional
// management service. It uses a dedicated plan so its host storage can be reached with its
// managed identity alone (no content share, which would need a shared key).
func (r *Regional) functions(ctx *pulumi.Context, t topology.Topology, reg topology.Region, rg *resources.ResourceGroup, tags pulumi.StringMap) error {
	p := reg.Name + "-"
	var plan arm.Resource
	if err := arm.Register(ctx, arm.AppServicePlanType, p+"plan", pulumi.Map{
		"name": pulumi.String(reg.Names.FunctionPlan), "resourceGroupName": rg.Name, "location": pulumi.String(reg.Name),
		"kind": pulumi.String("linux"), "reserved": pulumi.Bool(true), "perSiteScaling": pulumi.Bool(false),
		"sku":  pulumi.Map{"name": pulumi.String(t.Config.Functions.PlanSKU), "capacity": pulumi.Int(len(reg.Zones))},
		"tags": tags,
	}, &plan, pulumi.Parent(r)); err != nil {
		return err
	}
	if _, err := arm.NewDiagnostics(ctx, p+"plan", arm.DiagnosticsArgs{ResourceID: plan.ID().ToStringOutput(), WorkspaceID: r.WorkspaceID}, pulumi.Parent(&plan)); err != nil {
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
		{pulumi.String(contract.EnvManagerRegion.Name), pulumi.String(reg.Name)},
		{pulumi.String(contract.EnvManagerStamps.Name), pulumi.String(stamps)},
		{pulumi.String(contract.EnvManagerContainerURL.Name), pulumi.Sprintf("%s%s", r.BlobEndpoint, contract.StateContainer)},
		{pulumi.String(contract.EnvManagerHealthPath.Name), pulumi.String(contract.StampHealthPath)},
		// A Key Vault reference: the platform resolves it with the app's identity, so the
		// operator API works without the token ever entering config or state.
		{pulumi.String(contract.EnvManagerOperatorToken.Name), pulumi.Sprintf("@Microsoft.KeyVault(SecretUri=%ssecrets/%s/)", r.KeyVaultURI, contract.OperatorTokenSecret)},
	}
	r.ManagerPackageURL = pulumi.String("").ToStringOutput()
	if pkg := t.Config.Functions.Package; pkg != "" {
		// Run from the package blob, fetched with the app's own identity (Blob Data Owner on
		// the account, below): no SAS, no shared key. A new blob name changes this setting,
		// which restarts the app onto the new package.
		r.ManagerPackageURL = pulumi.Sprintf("%s/%s", r.ManagerPackageContainerURL, pkg)
		settings = append(settings,
			struct{ k, v pulumi.StringInput }{pulumi.String("WEBSITE_RUN_FROM_PACKAGE"), r.ManagerPackageURL},
			struct{ k, v pulumi.StringInput }{pulumi.String("WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID"), pulumi.String("SystemAssigned")},
		)
	}
	var appSettings pulumi.Array
	for _, s := range settings {
		appSettings = append(appSettings, pulumi.Map{"name": s.k, "value": s.v})
	}
	var app arm.WebApp
	if err := arm.Register(ctx, arm.WebAppType, p+"func", pulumi.Map{
		"name": pulumi.String(reg.Names.FunctionApp), "resourceGroupName": rg.Name, "location": pulumi.String(reg.Name),
		"kind": pulumi.String("functionapp,linux"), "reserved": pulumi.Bool(true), "serverFarmId": plan.ID(),
		"httpsOnly": pulumi.Bool(true), "clientAffinityEnabled": pulumi.Bool(false),
		// The SDK's defaults, sent explicitly so the provider sees the same inputs.
		"hyperV": pulumi.Bool(false), "isXenon": pulumi.Bool(false), "scmSiteAlsoStopped": pulumi.Bool(false),
		"identity": pulumi.Map{"type": pulumi.String("SystemAssigned")},
		// Regional VNet integration: all outbound traffic (storage, Key Vault references)
		// goes through the VNet and resolves the private endpoints' zones.
		"virtualNetworkSubnetId": r.FunctionsSubnetID, "vnetRouteAllEnabled": pulumi.Bool(true),
		"siteConfig": pulumi.Map{
			"alwaysOn": pulumi.Bool(true), "minTlsVersion": pulumi.String("1.2"), "ftpsState": pulumi.String("Disabled"),
			"http20Enabled": pulumi.Bool(true), "appSettings": appSettings,
			"localMySqlEnabled": pulumi.Bool(false), "netFrameworkVersion": pulumi.String("v4.6"),
		},
		"tags": tags,
	}, &app, pulumi.Parent(r), pulumi.DependsOn([]pulumi.Resource{r.OperatorTokenSecret}),
		pulumi.Aliases([]pulumi.Alias{{Type: pulumi.String(arm.WebAppPreviousType)}})); err != nil {
		return err
	}
	principal := app.PrincipalID()
	roles := []struct {
		name  string
		role  arm.Role
		scope pulumi.StringInput
	}{
		{"func-host-blob", arm.StorageBlobDataOwner, r.QueueAccountID},
		{"func-host-queue", arm.StorageQueueDataContributor, r.QueueAccountID},
		{"func-state-blob", arm.StorageBlobDataContributor, pulumi.Sprintf("%s/blobServices/default/containers/%s", r.BlobAccountID, topology.StateContainer)},
		{"func-keyvault", arm.KeyVaultSecretsUser, r.KeyVaultID},
		// Application Insights has local auth off (APPLICATIONINSIGHTS_AUTHENTICATION_STRING is
		// Authorization=AAD): the host's telemetry is accepted only from an identity with
		// Monitoring Metrics Publisher on the component
		// (https://learn.microsoft.com/en-us/azure/azure-monitor/app/azure-ad-authentication).
		{"func-appinsights", arm.MonitoringMetricsPublisher, r.AppInsightsID},
	}
	for _, ro := range roles {
		if _, err := arm.NewRoleAssignment(ctx, p+ro.name, arm.RoleArgs{
			Scope: ro.scope, Role: ro.role, PrincipalID: principal,
		}, pulumi.Parent(&app)); err != nil {
			return err
		}
	}
	if _, err := arm.NewDiagnostics(ctx, p+"func", arm.DiagnosticsArgs{ResourceID: app.ID().ToStringOutput(), WorkspaceID: r.WorkspaceID, Logs: true}, pulumi.Parent(&app)); err != nil {
		return err
	}
	r.FunctionAppName = app.Name
	r.FunctionPrincipalID = principal
	return nil
}

// jumpbox is a zone-spread scale set without public IPs; operators sign in with Entra ID
// (AADSSHLoginForLinux), and its managed identity reaches Azure without stored secrets.
func (r *Regional) jumpbox(ctx *pulumi.Context, t topology.Topology, reg topology.Region, rg *resources.ResourceGroup, subnet *arm.Resource, tags pulumi.StringMap) error {
	jb := t.Config.Jumpbox
	const admin = "azureops"
	var zones pulumi.StringArray
	for _, z := range reg.Zones {
		zones = append(zones, pulumi.String(strconv.Itoa(z)))
	}
	var vmss arm.Resource
	err := arm.Register(ctx, arm.ScaleSetType, reg.Name+"-jumpbox", pulumi.Map{
		"vmScaleSetName": pulumi.String(reg.Names.Jumpbox), "resourceGroupName": rg.Name, "location": pulumi.String(reg.Name),
		"orchestrationMode": pulumi.String("Uniform"),
		"sku":               pulumi.Map{"name": pulumi.String(jb.VMSize), "tier": pulumi.String("Standard"), "capacity": pulumi.Float64(jb.Instances)},
		"zones":             zones, "overprovision": pulumi.Bool(false), "singlePlacementGroup": pulumi.Bool(false),
		"identity":      pulumi.Map{"type": pulumi.String("SystemAssigned")},
		"upgradePolicy": pulumi.Map{"mode": pulumi.String("Automatic")},
		"virtualMachineProfile": pulumi.Map{
			"osProfile": pulumi.Map{
				"computerNamePrefix": pulumi.String(reg.Names.JumpboxComputerPrefix),
				"adminUsername":      pulumi.String(admin),
				"linuxConfiguration": pulumi.Map{
					"disablePasswordAuthentication": pulumi.Bool(true),
					"ssh": pulumi.Map{"publicKeys": pulumi.Array{pulumi.Map{
						"path": pulumi.String("/home/" + admin + "/.ssh/authorized_keys"), "keyData": pulumi.String(jb.AdminSSHPublicKey),
					}}},
				},
			},
			"storageProfile": pulumi.Map{
				"imageReference": pulumi.Map{
					"publisher": pulumi.String("Canonical"), "offer": pulumi.String("ubuntu-24_04-lts"),
					"sku": pulumi.String("server"), "version": pulumi.String("latest"),
				},
				"osDisk": pulumi.Map{
					"createOption": pulumi.String("FromImage"), "caching": pulumi.String("ReadWrite"),
					"managedDisk": pulumi.Map{"storageAccountType": pulumi.String("StandardSSD_LRS")},
				},
			},
			"networkProfile": pulumi.Map{
				"networkInterfaceConfigurations": pulumi.Array{pulumi.Map{
					"name": pulumi.String("nic"), "primary": pulumi.Bool(true),
					"ipConfigurations": pulumi.Array{pulumi.Map{
						"name": pulumi.String("ipconfig"), "primary": pulumi.Bool(true),
						"subnet": pulumi.Map{"id": subnet.ID()},
					}},
				}},
			},
			"extensionProfile": pulumi.Map{
				"extensions": pulumi.Array{pulumi.Map{
					"name": pulumi.String("AADSSHLoginForLinux"), "publisher": pulumi.String("Microsoft.Azure.ActiveDirectory"),
					"type": pulumi.String("AADSSHLoginForLinux"), "typeHandlerVersion": pulumi.String("1.0"),
					"autoUpgradeMinorVersion": pulumi.Bool(true),
				}},
			},
			"diagnosticsProfile": pulumi.Map{"bootDiagnostics": pulumi.Map{"enabled": pulumi.Bool(true)}},
		},
		"tags": tags,
	}, &vmss, pulumi.Parent(r))
	if err != nil {
		return err
	}
	_, err = arm.NewDiagnostics(ctx, reg.Name+"-jumpbox", arm.DiagnosticsArgs{ResourceID: vmss.ID().ToStringOutput(), WorkspaceID: r.WorkspaceID}, pulumi.Parent(&vmss))
	return err
}
