// Package stack is the Pulumi program: config -> topology -> global -> regions -> stamps ->
// outputs. It lives outside package main so tests/ can run the real program under mocks;
// main.go only hands it to pulumi.Run.
package stack

import (
	"fmt"

	azurenative "github.com/pulumi/pulumi-azure-native-sdk/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/global"
	"github.com/voicemail-platform/voicemail/internal/availability"
	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/topology"
	"github.com/voicemail-platform/voicemail/monitoring"
	"github.com/voicemail-platform/voicemail/regional"
	"github.com/voicemail-platform/voicemail/stamp"
)

// Deployment is what Run built, for callers that add layers (the app deploy component).
type Deployment struct {
	Topology topology.Topology
	Provider *azurenative.Provider
	Global   *global.Global
	Regions  map[string]*regional.Regional
	Stamps   []*stamp.Stamp
}

// Run is the program. Config is parsed and validated before any resource is registered.
func Run(ctx *pulumi.Context) error {
	_, err := Deploy(ctx)
	return err
}

// Deploy builds every layer and exports the stack outputs.
func Deploy(ctx *pulumi.Context) (*Deployment, error) {
	cfg, err := config.FromPulumi(ctx)
	if err != nil {
		return nil, fmt.Errorf("stack config: %w", err)
	}
	topo, err := topology.Build(cfg)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	// Validation admits reserved example domains only when the stack says its receivers are
	// placeholders; every preview and update then says that alerts reach nobody.
	if n := cfg.Monitoring.PlaceholderReceiverCount(); n > 0 {
		if err := ctx.Log.Warn(fmt.Sprintf("voicemail:monitoring: %d alert receiver(s) are placeholders in reserved example domains; alerts sent to them reach nobody", n), nil); err != nil {
			return nil, err
		}
	}

	// The same for SIP: SBC prefixes in documentation ranges admit no caller.
	if n := cfg.SIP.PlaceholderPeerCount(); n > 0 {
		if err := ctx.Log.Warn(fmt.Sprintf("voicemail:sip: %d SBC prefix(es) or MWI domain(s) are placeholders reserved for documentation; no call reaches the stamps and no MWI is delivered until the operator's are set", n), nil); err != nil {
			return nil, err
		}
	}

	// One explicit provider, so every resource (whatever SDK module declares its type) is
	// served by the same azure-native plugin version.
	prov, err := azurenative.NewProvider(ctx, "azure-native", &azurenative.ProviderArgs{})
	if err != nil {
		return nil, err
	}
	withProv := pulumi.Providers(prov)
	d := &Deployment{Topology: topo, Provider: prov, Regions: map[string]*regional.Regional{}}

	d.Global, err = global.New(ctx, "global", &global.Args{Topology: topo}, withProv)
	if err != nil {
		return nil, fmt.Errorf("global: %w", err)
	}
	for _, r := range topo.Regions {
		rr, err := regional.New(ctx, r.Name, &regional.Args{Topology: topo, Region: r, Global: d.Global}, withProv)
		if err != nil {
			return nil, fmt.Errorf("region %s: %w", r.Name, err)
		}
		d.Regions[r.Name] = rr
	}
	for _, r := range topo.Regions {
		for _, to := range r.ReplicateTo {
			dst, _ := topo.Region(to)
			if err := regional.NewObjectReplication(ctx, r.Name+"-to-"+dst.Name, &regional.ReplicationArgs{
				Source: d.Regions[r.Name], Destination: d.Regions[dst.Name],
				SourceResourceGroup: r.Names.ResourceGroup, DestResourceGroup: dst.Names.ResourceGroup,
			}, pulumi.Parent(d.Regions[r.Name])); err != nil {
				return nil, fmt.Errorf("object replication %s: %w", r.Name, err)
			}
		}
	}
	for _, s := range topo.Stamps {
		st, err := stamp.New(ctx, s.ID, &stamp.Args{Topology: topo, Stamp: s, Region: d.Regions[s.Region], Global: d.Global, Regions: d.Regions}, withProv)
		if err != nil {
			return nil, fmt.Errorf("stamp %s: %w", s.ID, err)
		}
		d.Stamps = append(d.Stamps, st)
		// The voicemail workload in the stamp's cluster.
		if _, err := workloadForStamp(ctx, topo, d.Global, st); err != nil {
			return nil, fmt.Errorf("stamp %s workload: %w", s.ID, err)
		}
	}

	// The health model as code: KQL functions, alerts, availability tests and the workbook.
	if _, err := monitoring.New(ctx, "health", &monitoring.Args{Topology: topo, Global: d.Global, Regions: d.Regions}, withProv); err != nil {
		return nil, fmt.Errorf("health model: %w", err)
	}

	exportOutputs(ctx, d)
	avail, err := availability.Evaluate(availability.FromTopology(topo))
	if err != nil {
		return nil, fmt.Errorf("availability: %w", err)
	}
	ctx.Export(availability.OutputName, pulumi.ToMap(availability.Outputs(avail)))
	return d, nil
}

// Output names are part of the operator interface; keep them stable.
const (
	OutTrafficManagerFQDN  = "trafficManagerFqdn"
	OutCosmosEndpoint      = "cosmosEndpoint"
	OutCosmosTableEndpoint = "cosmosTableEndpoint"
	OutRegistryLoginServer = "registryLoginServer"
	OutCapacityPerRegion   = "capacityPerRegion"
	OutRegionalRedundancy  = "regionalRedundancy"
	OutHeadroomPercent     = "headroomPercent"
	OutStamps              = "stamps"
	OutRegions             = "regions"
	OutImage               = "image"
	OutDispatcherImage     = "dispatcherImage"
	// OutSIP is the SIP ingress operators configure their SBCs with: the private zone, its
	// SRV names and each stamp's dispatcher host and address.
	OutSIP = "sip"
)

func exportOutputs(ctx *pulumi.Context, d *Deployment) {
	t := d.Topology
	ctx.Export(OutTrafficManagerFQDN, d.Global.TrafficManagerFQDN)
	ctx.Export(OutCosmosEndpoint, d.Global.CosmosEndpoint)
	ctx.Export(OutCosmosTableEndpoint, d.Global.CosmosTableEndpoint)
	ctx.Export(OutRegistryLoginServer, d.Global.RegistryLoginServer)
	ctx.Export(OutCapacityPerRegion, pulumi.Map{
		"concurrentCalls":   pulumi.Int(t.Capacity.PerRegion.ConcurrentCalls),
		"requestsPerSecond": pulumi.Int(t.Capacity.PerRegion.RequestsPerSecond),
	})
	ctx.Export(OutRegionalRedundancy, pulumi.Bool(t.Capacity.RegionalRedundancy))
	ctx.Export(OutHeadroomPercent, pulumi.Float64(t.Capacity.HeadroomPercent))
	// The image the stamps run, so a preview can start from what is deployed (pr.yml).
	ctx.Export(OutImage, pulumi.String(t.Config.Image))
	ctx.Export(OutDispatcherImage, pulumi.String(t.Config.SIP.DispatcherImage))

	scheme := "http"
	if t.Monitor.Protocol == "HTTPS" {
		scheme = "https"
	}
	var stamps pulumi.Array
	for _, s := range d.Stamps {
		i := s.Info
		stamps = append(stamps, pulumi.Map{
			"id":            pulumi.String(i.ID),
			"region":        pulumi.String(i.Region),
			"zone":          pulumi.Int(i.Zone),
			"version":       pulumi.String(i.Version),
			"weight":        pulumi.Int(i.Weight),
			"drained":       pulumi.Bool(i.Drained),
			"replicas":      pulumi.Int(i.Replicas),
			"resourceGroup": s.ResourceGroupName,
			"clusterName":   s.ClusterName,
			"publicIp":      s.PublicIPAddress,
			"fqdn":          s.PublicIPFQDN,
			"healthUrl":     pulumi.Sprintf("%s://%s:%d%s", scheme, s.PublicIPFQDN, t.Monitor.Port, t.Monitor.Path),
			"appClientId":   s.AppIdentityClientID,
		})
	}
	ctx.Export(OutStamps, stamps)

	ctx.Export(OutRegions, RegionOutputs(d))

	var hosts pulumi.Array
	for _, s := range t.Stamps {
		hosts = append(hosts, pulumi.Map{
			"stamp": pulumi.String(s.ID), "host": pulumi.String(s.SIPHost),
			"address": pulumi.String(s.SIPDispatcherIP), "drained": pulumi.Bool(s.Drained),
		})
	}
	ctx.Export(OutSIP, pulumi.Map{
		"zone":       d.Global.SIPZoneName,
		"srvNames":   pulumi.ToStringArray(t.SRVNames()),
		"dispatcher": hosts,
	})
}

// RegionOutputs is the "regions" stack output. The deploy pipeline reads the manager package
// fields: it uploads the package to managerPackageAccount/managerPackageContainerUrl (empty
// when functions are disabled) and checks that managerPackageUrl, what the Functions app runs
// from (empty until functions.package is set), exists.
func RegionOutputs(d *Deployment) pulumi.Array {
	var regions pulumi.Array
	for _, r := range d.Topology.Regions {
		rr := d.Regions[r.Name]
		regions = append(regions, pulumi.Map{
			"name":                       pulumi.String(r.Name),
			"resourceGroup":              rr.ResourceGroupName,
			"blobEndpoint":               rr.BlobEndpoint,
			"queueEndpoint":              rr.QueueEndpoint,
			"keyVaultUri":                rr.KeyVaultURI,
			"functionAppName":            rr.FunctionAppName,
			"managerPackageAccount":      rr.ManagerPackageAccount,
			"managerPackageContainerUrl": rr.ManagerPackageContainerURL,
			"managerPackageUrl":          rr.ManagerPackageURL,
		})
	}
	return regions
}
