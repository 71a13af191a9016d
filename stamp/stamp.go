// Package stamp is the component for one stamp: an AKS cluster pinned to one availability
// zone, the public IP its Traffic Manager endpoint targets, and the app's workload identity
// with its data-plane roles. The app's Kubernetes objects are deployed by a separate
// component (app/deploy, through internal/stack) from the outputs exposed here.
package stamp

import (
	"encoding/base64"
	"sort"
	"strconv"

	containerservice "github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2/v20230601"
	managedidentity "github.com/pulumi/pulumi-azure-native-sdk/managedidentity/v2/v20230131"
	trafficmanager "github.com/pulumi/pulumi-azure-native-sdk/network/v2/v20220401"
	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/global"
	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/topology"
	"github.com/voicemail-platform/voicemail/regional"
)

// Type is the component's Pulumi type token.
const Type = "voicemail:stamp:Stamp"

// Args is what a stamp needs: its plan and the layers it attaches to.
type Args struct {
	Topology topology.Topology
	Stamp    topology.Stamp
	Region   *regional.Regional
	Global   *global.Global
	// Regions are every region of the stack: the app reads audio that other regions stored
	// from their accounts while replication lags (it has a private endpoint to each), and is
	// granted read access to them.
	Regions map[string]*regional.Regional
}

// Stamp exposes everything the app deployment and stack outputs need.
type Stamp struct {
	pulumi.ResourceState

	Info topology.Stamp // the plan: id, region, zone, weight, names, capacity

	ResourceGroupName pulumi.StringOutput
	ClusterName       pulumi.StringOutput
	ClusterID         pulumi.StringOutput
	// OIDCIssuerURL is the cluster's workload-identity token issuer.
	OIDCIssuerURL pulumi.StringOutput
	// KubeletObjectID is the node pools' identity (granted AcrPull on the registry).
	KubeletObjectID pulumi.StringOutput
	// App workload identity: annotate the service account with AppClientID.
	AppIdentityID          pulumi.StringOutput
	AppIdentityClientID    pulumi.StringOutput
	AppIdentityPrincipalID pulumi.StringOutput
	// DispatcherIdentityClientID is the SIP dispatcher's own workload identity (the edge
	// certificate and nothing else).
	DispatcherIdentityClientID pulumi.StringOutput
	// The Traffic Manager target. The LoadBalancer Service uses this IP through the
	// annotations azure-load-balancer-resource-group=ResourceGroupName and
	// azure-pip-name=PublicIPName; the cluster identity may use it (Network Contributor).
	PublicIPID      pulumi.StringOutput
	PublicIPName    pulumi.StringOutput
	PublicIPAddress pulumi.StringOutput
	PublicIPFQDN    pulumi.StringOutput
	EndpointName    pulumi.StringOutput
	WorkspaceID     pulumi.StringOutput
	// Endpoints and names for the app's config. CosmosTableEndpoints are the account's
	// regional Table endpoints, the stamp's own region first, then failover order.
	CosmosTableEndpoints []string
	// BlobRegions are the other regions' blob endpoints (region name -> endpoint), where the
	// app reads audio those regions stored.
	BlobRegions         map[string]pulumi.StringOutput
	BlobEndpoint        pulumi.StringOutput
	QueueEndpoint       pulumi.StringOutput
	AudioContainer      pulumi.StringOutput
	StateContainer      pulumi.StringOutput
	StateBlob           pulumi.StringOutput
	KeyVaultURI         pulumi.StringOutput
	RegistryLoginServer pulumi.StringOutput
	AppInsightsConnStr  pulumi.StringOutput
	// WorkloadDependencies must exist before the app's Kubernetes objects are created: the
	// deployer's Kubernetes data-plane role on the cluster (without it the first object gets
	// 403), the operator-token secret the pods mount, and the node pool they run on.
	WorkloadDependencies []pulumi.Resource
}

// New builds one stamp.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Stamp, error) {
	st := args.Stamp
	s := &Stamp{Info: st}
	if err := ctx.RegisterComponentResource(Type, name, s, opts...); err != nil {
		return nil, err
	}
	t, g, r := args.Topology, args.Global, args.Region
	n := st.Names
	loc := pulumi.String(st.Region)
	tags := pulumi.ToStringMap(st.Tags)
	p := st.ID + "-"
	parent := pulumi.Parent(s)
	zone := pulumi.StringArray{pulumi.String(strconv.Itoa(st.Zone))}

	rg, err := resources.NewResourceGroup(ctx, p+"rg", &resources.ResourceGroupArgs{
		ResourceGroupName: pulumi.String(n.ResourceGroup), Location: loc, Tags: tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	s.ResourceGroupName = rg.Name
	rgID := rg.ID().ToStringOutput()

	var vnet arm.Resource
	if err := arm.Register(ctx, arm.VirtualNetworkType, p+"vnet", pulumi.Map{
		"virtualNetworkName": pulumi.String(n.VNet), "resourceGroupName": rg.Name, "location": loc,
		"addressSpace": pulumi.Map{"addressPrefixes": pulumi.StringArray{pulumi.String(st.AddressSpace)}},
		// The SDK's defaults, sent explicitly so the provider sees the same inputs.
		"enableDdosProtection": pulumi.Bool(false), "enableVmProtection": pulumi.Bool(false),
		"tags": tags,
	}, &vnet, parent, pulumi.IgnoreChanges([]string{"subnets"})); err != nil {
		return nil, err
	}
	nsg, err := s.nodeNSG(ctx, st, rg, tags)
	if err != nil {
		return nil, err
	}
	var subnet arm.Resource
	if err := arm.Register(ctx, arm.SubnetType, p+"snet-aks", pulumi.Map{
		"subnetName": pulumi.String(n.Subnet), "virtualNetworkName": vnet.Name, "resourceGroupName": rg.Name,
		"addressPrefix":        pulumi.String(st.NodeSubnet),
		"networkSecurityGroup": pulumi.Map{"id": nsg.ID()},
	}, &subnet, pulumi.Parent(&vnet)); err != nil {
		return nil, err
	}
	// Subnets of one VNet are created one after another: node, private endpoint, pod.
	endpoints, err := s.privateDataPlane(ctx, args, rg, &vnet, &subnet, tags)
	if err != nil {
		return nil, err
	}
	pods, err := podSubnet(ctx, p, st, rg, &vnet, endpoints, nsg)
	if err != nil {
		return nil, err
	}
	if err := linkSIPZone(ctx, p, g.SIPZoneName, g.ResourceGroupName, &vnet, tags); err != nil {
		return nil, err
	}
	ws := g.StampWorkspaceIDs[st.ID]
	s.WorkspaceID = ws
	if _, err := arm.NewDiagnostics(ctx, p+"vnet", arm.DiagnosticsArgs{ResourceID: vnet.ID().ToStringOutput(), WorkspaceID: ws, Logs: true}, pulumi.Parent(&vnet)); err != nil {
		return nil, err
	}

	// Zonal Standard IP in the stamp's zone, so the stamp's whole data path shares one zone.
	var pip arm.PublicIP
	if err := arm.Register(ctx, arm.PublicIPAddressType, p+"pip", pulumi.Map{
		"publicIpAddressName": pulumi.String(n.PublicIP), "resourceGroupName": rg.Name, "location": loc,
		"sku":                      pulumi.Map{"name": pulumi.String("Standard")},
		"publicIPAllocationMethod": pulumi.String("Static"), "publicIPAddressVersion": pulumi.String("IPv4"),
		"zones":       zone,
		"dnsSettings": pulumi.Map{"domainNameLabel": pulumi.String(st.DNSLabel)},
		"tags":        tags,
	}, &pip, parent); err != nil {
		return nil, err
	}
	s.PublicIPID = pip.ID().ToStringOutput()
	s.PublicIPName = pulumi.String(n.PublicIP).ToStringOutput()
	s.PublicIPAddress = pip.IPAddress
	s.PublicIPFQDN = pip.DNSSettings.MapIndex(pulumi.String("fqdn"))

	if _, err := arm.NewDiagnostics(ctx, p+"pip", arm.DiagnosticsArgs{ResourceID: s.PublicIPID, WorkspaceID: ws, Logs: true}, pulumi.Parent(&pip)); err != nil {
		return nil, err
	}

	if err := s.cluster(ctx, t, st, rg, rgID, &subnet, pods, ws, tags, g); err != nil {
		return nil, err
	}
	if err := s.appIdentity(ctx, st, rg, tags, g, r, args.Regions); err != nil {
		return nil, err
	}
	if err := s.dispatcherIdentity(ctx, st, rg, tags, r); err != nil {
		return nil, err
	}

	// The stamp owns its Traffic Manager endpoint: it lives and dies with the public IP.
	status := "Enabled"
	if st.Drained {
		status = "Disabled"
	}
	ep, err := trafficmanager.NewEndpoint(ctx, p+"tm-endpoint", &trafficmanager.EndpointArgs{
		EndpointName: pulumi.String(n.Endpoint), ProfileName: g.TrafficManagerProfileName,
		ResourceGroupName: g.ResourceGroupName,
		EndpointType:      pulumi.String("AzureEndpoints"),
		Type:              pulumi.String("Microsoft.Network/trafficManagerProfiles/azureEndpoints"),
		TargetResourceId:  s.PublicIPID,
		EndpointStatus:    pulumi.String(status),
		Weight:            pulumi.Float64(st.Weight),
		Priority:          pulumi.Float64(st.Priority),
	}, parent)
	if err != nil {
		return nil, err
	}
	s.EndpointName = ep.Name.Elem()

	s.CosmosTableEndpoints = st.TableEndpoints
	s.BlobRegions = map[string]pulumi.StringOutput{}
	for name, other := range args.Regions {
		if name != st.Region {
			s.BlobRegions[name] = other.BlobEndpoint
		}
	}
	s.WorkloadDependencies = append(s.WorkloadDependencies, r.OperatorTokenSecret, r.EdgeCertificate)
	s.BlobEndpoint = r.BlobEndpoint
	s.QueueEndpoint = r.QueueEndpoint
	s.AudioContainer = r.AudioContainerName
	s.StateContainer = r.StateContainerName
	s.StateBlob = pulumi.String(st.StateBlob).ToStringOutput()
	s.KeyVaultURI = r.KeyVaultURI
	s.RegistryLoginServer = g.RegistryLoginServer
	s.AppInsightsConnStr = r.AppInsightsConnStr

	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{
		"clusterName":         s.ClusterName,
		"oidcIssuerUrl":       s.OIDCIssuerURL,
		"appIdentityClientId": s.AppIdentityClientID,
		"publicIpAddress":     s.PublicIPAddress,
		"publicIpFqdn":        s.PublicIPFQDN,
	}); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stamp) cluster(ctx *pulumi.Context, t topology.Topology, st topology.Stamp, rg *resources.ResourceGroup, rgID pulumi.StringOutput, subnet, pods *arm.Resource, ws pulumi.StringOutput, tags pulumi.StringMap, g *global.Global) error {
	a := t.Config.AKS
	n := st.Names
	p := st.ID + "-"
	zone := pulumi.StringArray{pulumi.String(strconv.Itoa(st.Zone))}

	// A user-assigned control-plane identity can be granted Network Contributor before the
	// cluster exists, so the cluster can use the stamp's subnet and public IP from the start.
	cid, err := managedidentity.NewUserAssignedIdentity(ctx, p+"id-aks", &managedidentity.UserAssignedIdentityArgs{
		ResourceName: pulumi.String(n.ClusterIdentity), ResourceGroupName: rg.Name, Location: pulumi.String(st.Region), Tags: tags,
	}, pulumi.Parent(s))
	if err != nil {
		return err
	}
	netRole, err := arm.NewRoleAssignment(ctx, p+"aks-network", arm.RoleArgs{
		Scope: rgID, Role: arm.NetworkContributor, PrincipalID: cid.PrincipalId,
	}, pulumi.Parent(cid))
	if err != nil {
		return err
	}

	// The system pool is inline (a cluster is created with one) and has a fixed size: the
	// cluster's PUT carries its count, and once an autoscaler had moved a count, every later
	// cluster update would fail ("Cannot manually scale ... with cluster autoscaler enabled").
	// The autoscaled user pool is a separate AgentPool resource created without a count and
	// the cluster ignores its pool list after creation
	// (https://learn.microsoft.com/en-us/azure/aks/cluster-autoscaler).
	system := containerservice.ManagedClusterAgentPoolProfileArgs{
		Name: pulumi.String(topology.SystemPool), Mode: pulumi.String("System"), VmSize: pulumi.String(a.SystemVMSize),
		Count:             pulumi.Int(a.SystemNodeCount),
		EnableAutoScaling: pulumi.Bool(false),
		AvailabilityZones: zone, // pinned: the stamp is one zone
		OsType:            pulumi.String("Linux"), OsSKU: pulumi.String("AzureLinux"),
		Type:            pulumi.String("VirtualMachineScaleSets"),
		MaxPods:         pulumi.Int(a.MaxPods),
		VnetSubnetID:    subnet.ID(),
		PodSubnetID:     pods.ID(),
		UpgradeSettings: &containerservice.AgentPoolUpgradeSettingsArgs{MaxSurge: pulumi.String("33%")},
		NodeTaints:      pulumi.StringArray{pulumi.String("CriticalAddonsOnly=true:NoSchedule")},
		Tags:            tags,
	}
	args := &containerservice.ManagedClusterArgs{
		ResourceName: pulumi.String(n.Cluster), ResourceGroupName: rg.Name, Location: pulumi.String(st.Region),
		DnsPrefix: pulumi.String(n.DNSPrefix), NodeResourceGroup: pulumi.String(n.NodeResourceGroup),
		Sku: &containerservice.ManagedClusterSKUArgs{Name: pulumi.String("Base"), Tier: pulumi.String(a.Tier)},
		Identity: &containerservice.ManagedClusterIdentityArgs{
			Type: containerservice.ResourceIdentityTypeUserAssigned, UserAssignedIdentities: pulumi.StringArray{cid.ID().ToStringOutput()},
		},
		AgentPoolProfiles: containerservice.ManagedClusterAgentPoolProfileArray{system},
		AutoScalerProfile: &containerservice.ManagedClusterPropertiesAutoScalerProfileArgs{
			Expander: pulumi.String("least-waste"), BalanceSimilarNodeGroups: pulumi.String("true"),
			ScaleDownUnneededTime: pulumi.String("10m"),
		},
		// Entra ID sign-in with Azure RBAC only; no local admin kubeconfig exists.
		AadProfile:           &containerservice.ManagedClusterAADProfileArgs{Managed: pulumi.Bool(true), EnableAzureRBAC: pulumi.Bool(true)},
		DisableLocalAccounts: pulumi.Bool(true),
		EnableRBAC:           pulumi.Bool(true),
		OidcIssuerProfile:    &containerservice.ManagedClusterOIDCIssuerProfileArgs{Enabled: pulumi.Bool(true)},
		SecurityProfile: &containerservice.ManagedClusterSecurityProfileArgs{
			WorkloadIdentity: &containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs{Enabled: pulumi.Bool(true)},
		},
		NetworkProfile: &containerservice.ContainerServiceNetworkProfileArgs{
			// Azure CNI with a pod subnet (no overlay): pods have VNet addresses, advertised in
			// SIP and SDP and reachable from peered SBCs without NAT.
			NetworkPlugin:    pulumi.String("azure"),
			NetworkDataplane: pulumi.String("cilium"), NetworkPolicy: pulumi.String("cilium"),
			ServiceCidr: pulumi.String(st.ServiceCIDR), DnsServiceIP: pulumi.String(st.DNSServiceIP),
			LoadBalancerSku: pulumi.String("standard"), OutboundType: pulumi.String("loadBalancer"),
		},
		AddonProfiles: containerservice.ManagedClusterAddonProfileMap{
			// Container Insights into the stamp's workspace, authenticated with managed identity.
			"omsagent": containerservice.ManagedClusterAddonProfileArgs{
				Enabled: pulumi.Bool(true),
				Config:  pulumi.StringMap{"logAnalyticsWorkspaceResourceID": ws, "useAADAuth": pulumi.String("true")},
			},
			"azureKeyvaultSecretsProvider": containerservice.ManagedClusterAddonProfileArgs{
				Enabled: pulumi.Bool(true),
				Config:  pulumi.StringMap{"enableSecretRotation": pulumi.String("true")},
			},
		},
		AutoUpgradeProfile: &containerservice.ManagedClusterAutoUpgradeProfileArgs{
			UpgradeChannel: pulumi.String(a.UpgradeChannel), NodeOSUpgradeChannel: pulumi.String(a.NodeOSUpgradeChannel),
		},
		Tags: tags,
	}
	if a.KubernetesVersion != "" {
		args.KubernetesVersion = pulumi.String(a.KubernetesVersion)
	}
	withOperations(args, a, ws)
	aks, err := containerservice.NewManagedCluster(ctx, p+"aks", args, pulumi.Parent(s), pulumi.DependsOn([]pulumi.Resource{netRole}),
		pulumi.IgnoreChanges([]string{"agentPoolProfiles"}))
	if err != nil {
		return err
	}
	userPool, err := containerservice.NewAgentPool(ctx, p+"aks-"+topology.UserPool, &containerservice.AgentPoolArgs{
		ResourceGroupName: rg.Name, ResourceName: aks.Name, AgentPoolName: pulumi.String(topology.UserPool),
		Mode: pulumi.String("User"), VmSize: pulumi.String(a.UserVMSize),
		EnableAutoScaling: pulumi.Bool(true), MinCount: pulumi.Int(a.UserMinCount), MaxCount: pulumi.Int(a.UserMaxCount),
		AvailabilityZones: zone,
		OsType:            pulumi.String("Linux"), OsSKU: pulumi.String("AzureLinux"),
		Type:            pulumi.String("VirtualMachineScaleSets"),
		MaxPods:         pulumi.Int(a.MaxPods),
		VnetSubnetID:    subnet.ID(),
		PodSubnetID:     pods.ID(),
		UpgradeSettings: &containerservice.AgentPoolUpgradeSettingsArgs{MaxSurge: pulumi.String("33%")},
		Tags:            tags,
	}, pulumi.Parent(aks), pulumi.IgnoreChanges([]string{"count"}))
	if err != nil {
		return err
	}
	// The deploying principal creates the app's Kubernetes objects through the Entra ID
	// kubeconfig; with Azure RBAC for Kubernetes authorization and local accounts off, it
	// needs a Kubernetes data-plane role on the cluster or the first object gets 403
	// (https://learn.microsoft.com/en-us/azure/aks/manage-azure-rbac). New assignments take
	// up to five minutes to reach the cluster (internal/stack/README.md, "First deployment").
	admin, err := arm.NewRoleAssignment(ctx, p+"aks-deployer", arm.RoleArgs{
		Scope: aks.ID().ToStringOutput(), Role: arm.AKSRBACClusterAdmin, PrincipalID: g.DeployerObjectID,
		AnyPrincipal: true,
	}, pulumi.Parent(aks))
	if err != nil {
		return err
	}
	s.WorkloadDependencies = append(s.WorkloadDependencies, userPool, admin)
	if err := s.maintenance(ctx, t, st, rg, aks); err != nil {
		return err
	}
	if err := s.containerInsights(ctx, st, rg, aks, ws, tags); err != nil {
		return err
	}
	if _, err := arm.NewDiagnostics(ctx, p+"aks", arm.DiagnosticsArgs{ResourceID: aks.ID().ToStringOutput(), WorkspaceID: ws, Logs: true}, pulumi.Parent(aks)); err != nil {
		return err
	}
	s.ClusterName = aks.Name
	s.ClusterID = aks.ID().ToStringOutput()
	s.OIDCIssuerURL = aks.OidcIssuerProfile.IssuerURL().Elem()
	s.KubeletObjectID = aks.IdentityProfile.MapIndex(pulumi.String("kubeletidentity")).ObjectId().Elem()

	// Nodes pull the app image from the registry (its nearest replica) as the kubelet identity.
	pull, err := arm.NewRoleAssignment(ctx, p+"acr-pull", arm.RoleArgs{
		Scope: g.RegistryID, Role: arm.AcrPull, PrincipalID: s.KubeletObjectID,
	}, pulumi.Parent(aks))
	s.WorkloadDependencies = append(s.WorkloadDependencies, pull)
	return err
}

func (s *Stamp) appIdentity(ctx *pulumi.Context, st topology.Stamp, rg *resources.ResourceGroup, tags pulumi.StringMap, g *global.Global, r *regional.Regional, regions map[string]*regional.Regional) error {
	p := st.ID + "-"
	id, err := managedidentity.NewUserAssignedIdentity(ctx, p+"id-app", &managedidentity.UserAssignedIdentityArgs{
		ResourceName: pulumi.String(st.Names.AppIdentity), ResourceGroupName: rg.Name, Location: pulumi.String(st.Region), Tags: tags,
	}, pulumi.Parent(s))
	if err != nil {
		return err
	}
	s.AppIdentityID = id.ID().ToStringOutput()
	s.AppIdentityClientID = id.ClientId
	s.AppIdentityPrincipalID = id.PrincipalId
	if _, err := managedidentity.NewFederatedIdentityCredential(ctx, p+"id-app-federation", &managedidentity.FederatedIdentityCredentialArgs{
		ResourceName: id.Name, ResourceGroupName: rg.Name,
		FederatedIdentityCredentialResourceName: pulumi.String(topology.FederatedCredentialName),
		Issuer:                                  s.OIDCIssuerURL,
		Subject:                                 pulumi.String(topology.FederatedSubject()),
		Audiences:                               pulumi.StringArray{pulumi.String(topology.WorkloadIdentityAudience)},
	}, pulumi.Parent(id)); err != nil {
		return err
	}
	if _, err := g.NewCosmosDataContributor(ctx, p+"app-cosmos", global.CosmosRoleArgs{PrincipalID: id.PrincipalId}, pulumi.Parent(id)); err != nil {
		return err
	}
	roles := []struct {
		name  string
		role  arm.Role
		scope pulumi.StringInput
	}{
		{"app-blob", arm.StorageBlobDataContributor, r.BlobAccountID},
		{"app-queue", arm.StorageQueueDataContributor, r.QueueAccountID},
	}
	// Audio another region stored is read from this region's replica of it, else from the
	// origin's account or another region's replica while replication lags: read access to
	// every other region's audio account. A message deleted here is deleted at its origin
	// (replicas are read-only): write access to the other regions' audio containers.
	type grant = struct {
		name  string
		role  arm.Role
		scope pulumi.StringInput
	}
	for _, name := range sortedRegions(regions) {
		if name != st.Region {
			roles = append(roles,
				grant{"app-blob-read-" + name, arm.StorageBlobDataReader, regions[name].BlobAccountID},
				grant{"app-blob-origin-" + name, arm.StorageBlobDataContributor,
					pulumi.Sprintf("%s/blobServices/default/containers/%s", regions[name].BlobAccountID, topology.AudioContainer)})
		}
	}
	for _, ro := range roles {
		if _, err := arm.NewRoleAssignment(ctx, p+ro.name, arm.RoleArgs{
			Scope: ro.scope, Role: ro.role, PrincipalID: id.PrincipalId,
		}, pulumi.Parent(id)); err != nil {
			return err
		}
	}
	return s.secretReader(ctx, p+"app", id.PrincipalId, r, pulumi.Parent(id),
		secretGrant{"token", contract.OperatorTokenSecret, r.OperatorTokenSecret},
		secretGrant{"edge-tls", contract.EdgeCertificate, r.EdgeCertificate})
}

// UserKubeconfig returns the cluster's Entra ID kubeconfig (exec format, for kubelogin),
// decoded. It holds no credentials: kubelogin obtains a token at use. Deployment
// components build their Kubernetes provider from it.
func (s *Stamp) UserKubeconfig(ctx *pulumi.Context) pulumi.StringOutput {
	creds := containerservice.ListManagedClusterUserCredentialsOutput(ctx, containerservice.ListManagedClusterUserCredentialsOutputArgs{
		ResourceGroupName: s.ResourceGroupName, ResourceName: s.ClusterName, Format: pulumi.String("exec"),
	}, pulumi.Parent(s))
	return creds.Kubeconfigs().Index(pulumi.Int(0)).Value().ApplyT(func(v string) (string, error) {
		b, err := base64.StdEncoding.DecodeString(v)
		return string(b), err
	}).(pulumi.StringOutput)
}

func sortedRegions(m map[string]*regional.Regional) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
