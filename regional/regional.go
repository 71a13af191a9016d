// Package regional is the component for the resources a region's stamps share: resource
// group, registry replica, Key Vault, monitoring, audio and queue storage, the Functions
// app that hosts the management service, and a jump box.
package regional

import (
	"fmt"

	registry "github.com/pulumi/pulumi-azure-native-sdk/containerregistry/v2/v20221201"
	appinsights "github.com/pulumi/pulumi-azure-native-sdk/insights/v2/v20200202"
	keyvault "github.com/pulumi/pulumi-azure-native-sdk/keyvault/v2/v20230201"
	operationalinsights "github.com/pulumi/pulumi-azure-native-sdk/operationalinsights/v2/v20201001"
	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	storage "github.com/pulumi/pulumi-azure-native-sdk/storage/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/global"
	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Type is the component's Pulumi type token.
const Type = "voicemail:regional:Region"

// Args is what a region needs: the topology, which region, and the global layer.
type Args struct {
	Topology topology.Topology
	Region   topology.Region
	Global   *global.Global
}

// Regional exposes a region's shared resources to its stamps and to stack outputs.
type Regional struct {
	pulumi.ResourceState

	Name               string // Azure region
	ResourceGroupName  pulumi.StringOutput
	WorkspaceID        pulumi.StringOutput
	AppInsightsConnStr pulumi.StringOutput
	KeyVaultID         pulumi.StringOutput
	KeyVaultURI        pulumi.StringOutput
	BlobAccountName    pulumi.StringOutput
	BlobAccountID      pulumi.StringOutput
	BlobEndpoint       pulumi.StringOutput
	QueueAccountName   pulumi.StringOutput
	QueueAccountID     pulumi.StringOutput
	QueueEndpoint      pulumi.StringOutput
	AudioContainerName pulumi.StringOutput
	// ReplicaContainers are the account's blob containers by name: the audio and state
	// containers and the replica of each region that replicates into this one.
	ReplicaContainers map[string]*storage.BlobContainer
	// OperatorTokenSecret is the Key Vault secret the stamps and the management service read.
	OperatorTokenSecret pulumi.Resource
	// EdgeCertificate is the Key Vault secret of the stamps' TLS certificate (key and chain).
	EdgeCertificate     pulumi.Resource
	AppInsightsID       pulumi.StringOutput
	StateContainerName  pulumi.StringOutput
	FunctionAppName     pulumi.StringOutput // empty when functions are disabled
	FunctionPrincipalID pulumi.StringOutput
	// Where the pipeline uploads the management service's package (empty when functions are
	// disabled), and the package URL the Functions app runs from (empty until
	// functions.package is set).
	ManagerPackageAccount      pulumi.StringOutput
	ManagerPackageContainerURL pulumi.StringOutput
	ManagerPackageURL          pulumi.StringOutput
	VNetID                     pulumi.StringOutput
	// FunctionsSubnetID is the Functions app's VNet-integration subnet.
	FunctionsSubnetID pulumi.StringOutput
	// ReplicationPolicyIDs are the account's outgoing object replication policies (on this,
	// the source account) by destination region.
	ReplicationPolicyIDs map[string]pulumi.StringOutput
}

// New builds one region.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Regional, error) {
	r := &Regional{Name: args.Region.Name}
	if err := ctx.RegisterComponentResource(Type, name, r, opts...); err != nil {
		return nil, err
	}
	t, reg, g := args.Topology, args.Region, args.Global
	n := reg.Names
	loc := pulumi.String(reg.Name)
	tags := pulumi.ToStringMap(reg.Tags)
	p := reg.Name + "-" // logical-name prefix, unique per region
	parent := pulumi.Parent(r)

	rg, err := resources.NewResourceGroup(ctx, p+"rg", &resources.ResourceGroupArgs{
		ResourceGroupName: pulumi.String(n.ResourceGroup), Location: loc, Tags: tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	r.ResourceGroupName = rg.Name

	ws, err := operationalinsights.NewWorkspace(ctx, p+"log", &operationalinsights.WorkspaceArgs{
		WorkspaceName: pulumi.String(n.Workspace), ResourceGroupName: rg.Name, Location: loc,
		Sku:             &operationalinsights.WorkspaceSkuArgs{Name: pulumi.String("PerGB2018")},
		RetentionInDays: pulumi.Int(t.Config.LogRetentionDays), Tags: tags,
		WorkspaceCapping: &operationalinsights.WorkspaceCappingArgs{DailyQuotaGb: pulumi.Float64(float64(t.Config.Monitoring.DailyCapGB.Region))},
	}, parent)
	if err != nil {
		return nil, err
	}
	r.WorkspaceID = ws.ID().ToStringOutput()

	appi, err := appinsights.NewComponent(ctx, p+"appi", &appinsights.ComponentArgs{
		ResourceName: pulumi.String(n.AppInsights), ResourceGroupName: rg.Name, Location: loc,
		Kind: pulumi.String("web"), ApplicationType: pulumi.String("web"),
		WorkspaceResourceId: r.WorkspaceID, IngestionMode: pulumi.String("LogAnalytics"),
		DisableLocalAuth: pulumi.Bool(true), Tags: tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	r.AppInsightsConnStr = appi.ConnectionString
	r.AppInsightsID = appi.ID().ToStringOutput()

	if !reg.Home {
		// The registry lives in the home region; every other region gets a zone-redundant replica.
		if _, err := registry.NewReplication(ctx, p+"acr-replica", &registry.ReplicationArgs{
			RegistryName: g.RegistryName, ResourceGroupName: g.ResourceGroupName,
			ReplicationName: pulumi.String(n.RegistryReplication), Location: loc,
			ZoneRedundancy: pulumi.String("Enabled"), RegionEndpointEnabled: pulumi.Bool(true), Tags: tags,
		}, parent); err != nil {
			return nil, err
		}
	}

	kv, err := keyvault.NewVault(ctx, p+"kv", &keyvault.VaultArgs{
		VaultName: pulumi.String(n.KeyVault), ResourceGroupName: rg.Name, Location: loc, Tags: tags,
		Properties: &keyvault.VaultPropertiesArgs{
			TenantId:                  g.TenantID,
			Sku:                       &keyvault.SkuArgs{Family: pulumi.String("A"), Name: keyvault.SkuNameStandard},
			EnableRbacAuthorization:   pulumi.Bool(true),
			EnableSoftDelete:          pulumi.Bool(true),
			SoftDeleteRetentionInDays: pulumi.Int(90),
			EnablePurgeProtection:     pulumi.Bool(true),
			CreateMode:                vaultCreateMode(reg),
			// Reached only through private endpoints (stamps, jump box, Functions).
			PublicNetworkAccess: pulumi.String("Disabled"),
			NetworkAcls:         &keyvault.NetworkRuleSetArgs{DefaultAction: pulumi.String("Deny"), Bypass: pulumi.String("None")},
		},
	}, parent, pulumi.IgnoreChanges([]string{"properties.createMode"}))
	if err != nil {
		return nil, err
	}
	r.KeyVaultID = kv.ID().ToStringOutput()
	if r.OperatorTokenSecret, err = operatorToken(ctx, p, kv, rg); err != nil {
		return nil, err
	}
	var hosts []string
	for _, s := range t.StampsIn(reg.Name) {
		hosts = append(hosts, s.FQDN)
	}
	if r.EdgeCertificate, err = edgeCertificate(ctx, p, kv, rg, append(hosts, t.Global.TrafficManagerFQDN)); err != nil {
		return nil, err
	}
	r.KeyVaultURI = pulumi.Sprintf("https://%s.vault.azure.net/", n.KeyVault)
	if _, err := arm.NewDiagnostics(ctx, p+"kv", arm.DiagnosticsArgs{ResourceID: r.KeyVaultID, WorkspaceID: r.WorkspaceID, Logs: true}, pulumi.Parent(kv)); err != nil {
		return nil, err
	}

	if err := r.storage(ctx, t, reg, rg, tags); err != nil {
		return nil, err
	}
	for name, id := range map[string]pulumi.StringOutput{p + "st-blob": r.BlobAccountID, p + "st-queue": r.QueueAccountID} {
		if err := global.Lock(ctx, name, id, parent); err != nil {
			return nil, err
		}
	}
	vnet, subnet, err := r.network(ctx, reg, rg, tags)
	if err != nil {
		return nil, err
	}
	r.VNetID = vnet.ID().ToStringOutput()
	if err := r.privateDataPlane(ctx, reg, rg, vnet, subnet, g, tags); err != nil {
		return nil, err
	}
	if t.Config.Functions.Enabled {
		if err := r.functions(ctx, t, reg, rg, tags); err != nil {
			return nil, err
		}
	} else {
		r.FunctionAppName = pulumi.String("").ToStringOutput()
		r.FunctionPrincipalID = pulumi.String("").ToStringOutput()
		r.ManagerPackageURL = pulumi.String("").ToStringOutput()
	}
	if t.Config.Jumpbox.Enabled {
		if err := r.jumpbox(ctx, t, reg, rg, subnet, tags); err != nil {
			return nil, err
		}
	}

	if err := ctx.RegisterResourceOutputs(r, pulumi.Map{
		"resourceGroupName": r.ResourceGroupName,
		"blobEndpoint":      r.BlobEndpoint,
		"queueEndpoint":     r.QueueEndpoint,
		"keyVaultUri":       r.KeyVaultURI,
		"functionAppName":   r.FunctionAppName,
		"managerPackageUrl": r.ManagerPackageURL,
	}); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Regional) network(ctx *pulumi.Context, reg topology.Region, rg *resources.ResourceGroup, tags pulumi.StringMap) (*arm.Resource, *arm.Resource, error) {
	p := reg.Name + "-"
	var vnet arm.Resource
	if err := arm.Register(ctx, arm.VirtualNetworkType, p+"vnet", pulumi.Map{
		"virtualNetworkName": pulumi.String(reg.Names.VNet), "resourceGroupName": rg.Name, "location": pulumi.String(reg.Name),
		"addressSpace": pulumi.Map{"addressPrefixes": pulumi.StringArray{pulumi.String(reg.AddressSpace)}},
		// The SDK's defaults, sent explicitly so the provider sees the same inputs.
		"enableDdosProtection": pulumi.Bool(false), "enableVmProtection": pulumi.Bool(false),
		"tags": tags,
	}, &vnet, pulumi.Parent(r), pulumi.IgnoreChanges([]string{"subnets"})); err != nil {
		return nil, nil, err
	}
	nsg, err := r.jumpboxNSG(ctx, reg, rg, tags)
	if err != nil {
		return nil, nil, err
	}
	var subnet arm.Resource
	if err := arm.Register(ctx, arm.SubnetType, p+"snet-jumpbox", pulumi.Map{
		"subnetName": pulumi.String(reg.Names.JumpboxSubnet), "virtualNetworkName": vnet.Name, "resourceGroupName": rg.Name,
		"addressPrefix":        pulumi.String(reg.JumpboxSubnet),
		"networkSecurityGroup": pulumi.Map{"id": nsg.ID()},
	}, &subnet, pulumi.Parent(&vnet)); err != nil {
		return nil, nil, err
	}
	if _, err := arm.NewDiagnostics(ctx, p+"vnet", arm.DiagnosticsArgs{ResourceID: vnet.ID().ToStringOutput(), WorkspaceID: r.WorkspaceID, Logs: true}, pulumi.Parent(&vnet)); err != nil {
		return nil, nil, err
	}
	return &vnet, &subnet, nil
}

// ManagerStamps renders the region's stamps as the management service expects them.
func ManagerStamps(t topology.Topology, region string) (string, error) {
	var list []contract.ManagerStamp
	scheme := "http"
	if t.Monitor.Protocol == "HTTPS" {
		scheme = "https"
	}
	for _, s := range t.StampsIn(region) {
		list = append(list, contract.ManagerStamp{
			ID: s.ID, URL: fmt.Sprintf("%s://%s:%d", scheme, s.FQDN, t.Monitor.Port),
			StateBlob: s.StateBlob, Drained: s.Drained,
		})
	}
	return contract.StampsJSON(list)
}
