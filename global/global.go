// Package global is the component for resources that span every region: resource groups,
// the Cosmos DB for Table account, the container registry, Traffic Manager and the
// monitoring resource group whose per-stamp workspaces outlive their stamps.
package global

import (
	"fmt"

	registry "github.com/pulumi/pulumi-azure-native-sdk/containerregistry/v2/v20221201"
	network "github.com/pulumi/pulumi-azure-native-sdk/network/v2/v20220401"
	operationalinsights "github.com/pulumi/pulumi-azure-native-sdk/operationalinsights/v2/v20201001"
	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Type is the component's Pulumi type token.
const Type = "voicemail:global:Global"

// Args is what the global layer needs: the whole topology.
type Args struct {
	Topology topology.Topology
}

// Global exposes the global resources other layers attach to.
type Global struct {
	pulumi.ResourceState

	TenantID pulumi.StringOutput
	// DeployerObjectID is the Entra object id of the principal running `pulumi up`; it is
	// granted the Kubernetes data-plane role it needs to deploy the app into each cluster.
	DeployerObjectID pulumi.StringOutput
	// SubscriptionID is known at plan time (from the provider's client config), for ids that
	// must be plain strings, such as the hidden-link tag of availability tests.
	SubscriptionID              string
	ResourceGroupName           pulumi.StringOutput
	MonitoringResourceGroupName pulumi.StringOutput
	WorkspaceID                 pulumi.StringOutput
	CosmosAccountName           pulumi.StringOutput
	CosmosAccountID             pulumi.StringOutput
	CosmosEndpoint              pulumi.StringOutput
	CosmosTableEndpoint         pulumi.StringOutput
	RegistryName                pulumi.StringOutput
	RegistryID                  pulumi.StringOutput
	RegistryLoginServer         pulumi.StringOutput
	TrafficManagerProfileName   pulumi.StringOutput
	TrafficManagerProfileID     pulumi.StringOutput
	TrafficManagerFQDN          pulumi.StringOutput
	// SIPZoneName is the private DNS zone with the stamps' SIP hosts and SRV records.
	SIPZoneName pulumi.StringOutput
	// StampWorkspaceIDs maps stamp id to its Log Analytics workspace id.
	StampWorkspaceIDs map[string]pulumi.StringOutput
}

// clientConfig is the result of azure-native:authorization:getClientConfig, invoked by token
// so the program does not compile the large un-versioned authorization package.
type clientConfig struct {
	TenantID       string `pulumi:"tenantId"`
	SubscriptionID string `pulumi:"subscriptionId"`
	ObjectID       string `pulumi:"objectId"`
}

// New builds the global layer.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Global, error) {
	g := &Global{StampWorkspaceIDs: map[string]pulumi.StringOutput{}}
	if err := ctx.RegisterComponentResource(Type, name, g, opts...); err != nil {
		return nil, err
	}
	t := args.Topology
	names := t.Global
	home := pulumi.String(names.HomeRegion)
	tags := pulumi.ToStringMap(map[string]string{"project": topology.Project, "environment": t.Environment, "managed-by": "pulumi"})
	parent := pulumi.Parent(g)

	var cc clientConfig
	if err := ctx.Invoke("azure-native:authorization:getClientConfig", struct{}{}, &cc, pulumi.Parent(g)); err != nil {
		return nil, fmt.Errorf("get Azure client config: %w", err)
	}
	g.TenantID = pulumi.String(cc.TenantID).ToStringOutput()
	if cc.ObjectID == "" {
		return nil, fmt.Errorf("get Azure client config: no objectId for the deploying principal (sign in with az login or a federated service principal)")
	}
	g.DeployerObjectID = pulumi.String(cc.ObjectID).ToStringOutput()
	g.SubscriptionID = cc.SubscriptionID

	rg, err := resources.NewResourceGroup(ctx, "global-rg", &resources.ResourceGroupArgs{
		ResourceGroupName: pulumi.String(names.ResourceGroup), Location: home, Tags: tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	// Monitoring outlives stamps: removing a stamp from config leaves its logs in Azure.
	monRG, err := resources.NewResourceGroup(ctx, "monitoring-rg", &resources.ResourceGroupArgs{
		ResourceGroupName: pulumi.String(names.MonitoringResourceGroup), Location: home, Tags: tags,
	}, parent, pulumi.RetainOnDelete(true))
	if err != nil {
		return nil, err
	}
	retention := pulumi.Int(t.Config.LogRetentionDays)
	ws, err := operationalinsights.NewWorkspace(ctx, "global-log", &operationalinsights.WorkspaceArgs{
		WorkspaceName: pulumi.String(names.Workspace), ResourceGroupName: monRG.Name, Location: home,
		Sku:             &operationalinsights.WorkspaceSkuArgs{Name: pulumi.String("PerGB2018")},
		RetentionInDays: retention, Tags: tags,
		WorkspaceCapping: dailyCap(t.Config.Monitoring.DailyCapGB.Global),
	}, parent, pulumi.RetainOnDelete(true))
	if err != nil {
		return nil, err
	}
	g.WorkspaceID = ws.ID().ToStringOutput()
	for _, s := range t.Stamps {
		sws, err := operationalinsights.NewWorkspace(ctx, s.ID+"-log", &operationalinsights.WorkspaceArgs{
			WorkspaceName: pulumi.String(s.Names.Workspace), ResourceGroupName: monRG.Name,
			Location:        pulumi.String(s.Region),
			Sku:             &operationalinsights.WorkspaceSkuArgs{Name: pulumi.String("PerGB2018")},
			RetentionInDays: retention, Tags: pulumi.ToStringMap(s.Tags),
			WorkspaceCapping: dailyCap(t.Config.Monitoring.DailyCapGB.Stamp),
		}, parent, pulumi.RetainOnDelete(true))
		if err != nil {
			return nil, err
		}
		g.StampWorkspaceIDs[s.ID] = sws.ID().ToStringOutput()
	}

	if err := g.cosmos(ctx, t, rg, tags); err != nil {
		return nil, err
	}
	if err := Lock(ctx, "cosmos", g.CosmosAccountID, pulumi.Parent(g)); err != nil {
		return nil, err
	}
	if err := g.registry(ctx, t, rg, tags); err != nil {
		return nil, err
	}
	if err := g.trafficManager(ctx, t, rg, tags); err != nil {
		return nil, err
	}
	if err := g.sipDNS(ctx, t, rg, tags); err != nil {
		return nil, err
	}
	g.ResourceGroupName = rg.Name
	g.MonitoringResourceGroupName = monRG.Name

	if err := ctx.RegisterResourceOutputs(g, pulumi.Map{
		"resourceGroupName":     g.ResourceGroupName,
		"cosmosEndpoint":        g.CosmosEndpoint,
		"cosmosTableEndpoint":   g.CosmosTableEndpoint,
		"registryLoginServer":   g.RegistryLoginServer,
		"trafficManagerFqdn":    g.TrafficManagerFQDN,
		"monitoringWorkspaceId": g.WorkspaceID,
		"sipZoneName":           g.SIPZoneName,
	}); err != nil {
		return nil, err
	}
	return g, nil
}

// registry is one Premium registry homed in the first region; each regional layer adds its
// replica. One login server and one image digest for all stamps, and AKS pulls from the
// nearest replica, so no cross-registry image sync is needed.
func (g *Global) registry(ctx *pulumi.Context, t topology.Topology, rg *resources.ResourceGroup, tags pulumi.StringMap) error {
	acr, err := registry.NewRegistry(ctx, "acr", &registry.RegistryArgs{
		RegistryName:        pulumi.String(t.Global.Registry),
		ResourceGroupName:   rg.Name,
		Location:            pulumi.String(t.Global.HomeRegion),
		Sku:                 &registry.SkuArgs{Name: pulumi.String("Premium")},
		AdminUserEnabled:    pulumi.Bool(false),
		ZoneRedundancy:      pulumi.String("Enabled"),
		DataEndpointEnabled: pulumi.Bool(true),
		PublicNetworkAccess: pulumi.String(registryPublicAccess(t)),
		NetworkRuleSet:      registryNetworkRules(t),
		// The SDK's default, stated: the documented first deployment imports the image.
		NetworkRuleBypassOptions: pulumi.String(registryBypass),
		Policies: &registry.PoliciesArgs{
			RetentionPolicy: &registry.RetentionPolicyArgs{Days: pulumi.Int(30), Status: pulumi.String("enabled")},
		},
		Tags: tags,
	}, pulumi.Parent(g))
	if err != nil {
		return err
	}
	if _, err := arm.NewDiagnostics(ctx, "acr", arm.DiagnosticsArgs{ResourceID: acr.ID().ToStringOutput(), WorkspaceID: g.WorkspaceID, Logs: true}, pulumi.Parent(acr)); err != nil {
		return err
	}
	g.RegistryName = acr.Name
	g.RegistryID = acr.ID().ToStringOutput()
	g.RegistryLoginServer = acr.LoginServer
	return nil
}

// trafficManager creates the profile; each stamp adds its own endpoint so a stamp's
// endpoint lives and dies with its public IP.
func (g *Global) trafficManager(ctx *pulumi.Context, t topology.Topology, rg *resources.ResourceGroup, tags pulumi.StringMap) error {
	m := t.Monitor
	tm, err := network.NewProfile(ctx, "traffic-manager", &network.ProfileArgs{
		ProfileName:          pulumi.String(t.Global.TrafficManager),
		ResourceGroupName:    rg.Name,
		Location:             pulumi.String("global"),
		ProfileStatus:        pulumi.String("Enabled"),
		TrafficRoutingMethod: pulumi.String(m.RoutingMethod),
		DnsConfig: &network.DnsConfigArgs{
			RelativeName: pulumi.String(t.Global.TrafficManagerDNS),
			Ttl:          pulumi.Float64(m.TTL.Seconds()),
		},
		MonitorConfig: &network.MonitorConfigArgs{
			Protocol:                  pulumi.String(m.Protocol),
			Port:                      pulumi.Float64(m.Port),
			Path:                      pulumi.String(m.Path),
			IntervalInSeconds:         pulumi.Float64(m.Interval.Seconds()),
			TimeoutInSeconds:          pulumi.Float64(m.Timeout.Seconds()),
			ToleratedNumberOfFailures: pulumi.Float64(m.ToleratedFailures),
			ExpectedStatusCodeRanges: network.MonitorConfigExpectedStatusCodeRangesArray{
				network.MonitorConfigExpectedStatusCodeRangesArgs{Min: pulumi.Int(m.ExpectedStatus[0]), Max: pulumi.Int(m.ExpectedStatus[1])},
			},
		},
		TrafficViewEnrollmentStatus: pulumi.String("Disabled"),
		Tags:                        tags,
	}, pulumi.Parent(g))
	if err != nil {
		return err
	}
	if _, err := arm.NewDiagnostics(ctx, "traffic-manager", arm.DiagnosticsArgs{ResourceID: tm.ID().ToStringOutput(), WorkspaceID: g.WorkspaceID, Logs: true}, pulumi.Parent(tm)); err != nil {
		return err
	}
	g.TrafficManagerProfileName = pulumi.String(t.Global.TrafficManager).ToStringOutput()
	g.TrafficManagerProfileID = tm.ID().ToStringOutput()
	g.TrafficManagerFQDN = tm.DnsConfig.Fqdn().Elem()
	return nil
}
