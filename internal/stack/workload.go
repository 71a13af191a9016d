package stack

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/app/deploy"
	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/global"
	"github.com/voicemail-platform/voicemail/internal/topology"
	"github.com/voicemail-platform/voicemail/stamp"
)

// ArgsForStamp maps the stamp component's seam onto the workload's Args: everything the
// workload needs comes from the stamp (cluster, identity, public IP, endpoints), the global
// layer (tenant) and the plan (replicas, image, names).
func ArgsForStamp(ctx *pulumi.Context, t topology.Topology, g *global.Global, s *stamp.Stamp) (*deploy.Args, error) {
	info := s.Info
	reg, ok := t.Region(info.Region)
	if !ok {
		return nil, fmt.Errorf("stamp %s: region %s is not in the topology", info.ID, info.Region)
	}
	rc := t.Config.ReplicaCapacity
	if rc.ConcurrentCalls < 1 {
		return nil, fmt.Errorf("stamp %s: replicaCapacity.concurrentCalls must be positive", info.ID)
	}
	if len(s.CosmosTableEndpoints) == 0 {
		return nil, fmt.Errorf("stamp %s: no Cosmos DB table endpoints", info.ID)
	}
	var blobRegions []any
	format := ""
	for _, name := range sortedKeys(s.BlobRegions) {
		format += "," + name + "=%s"
		blobRegions = append(blobRegions, s.BlobRegions[name])
	}
	svc := contract.DefaultStamp()
	svc.Table = contract.ServiceTable
	svc.Queue = contract.DepositQueue
	svc.HealthWindow = time.Duration(t.Config.TrafficManager.HealthWindowSeconds) * time.Second
	// The stamp's own region's Table endpoint, then the others in failover order: the app
	// writes to its region and moves to the next while that endpoint fails.
	svc.TableEndpoint = s.CosmosTableEndpoints[0]
	svc.TableFallbackEndpoints = s.CosmosTableEndpoints[1:]
	// SIP peers the pods believe: the stamp's pod subnet (its dispatchers) and the operator's
	// SBCs. Never empty in Azure, so no stamp answers strangers or believes their identity
	// headers.
	peers, err := contract.ParsePeers(strings.Join(append([]string{info.PodSubnet}, t.Config.SIP.SBCPrefixes...), ","))
	if err != nil {
		return nil, fmt.Errorf("stamp %s: trusted SIP peers: %w", info.ID, err)
	}
	svc.SIP.TrustedPeers = peers
	svc.SIP.MWIDomains = t.Config.SIP.MWIDomains
	// The operator's IMAP balancers (validated CIDRs) send a PROXY header naming the client.
	for _, r := range t.Config.Network.IMAPProxyRanges {
		svc.IMAP.ProxyFrom = append(svc.IMAP.ProxyFrom, netip.MustParsePrefix(r))
	}
	// How old a deposit must be before INBOX shows it (imap.visibilityDelay, validated: above
	// zero with several regions); the contract leaves the default out of the environment.
	svc.IMAP.VisibilityDelay = t.Config.IMAP.Delay()
	// Settings whose values are outputs of the stamp's resources.
	env := map[string]pulumi.StringInput{
		// Other regions' audio accounts (region=endpoint): a message names the region that
		// stored its audio, read from this region's replica of it or, while replication lags,
		// from the origin or another replica.
		contract.EnvBlobRegions.Name:    pulumi.Sprintf(strings.TrimPrefix(format, ","), blobRegions...),
		contract.EnvBlobEndpoint.Name:   s.BlobEndpoint,
		contract.EnvQueueEndpoint.Name:  s.QueueEndpoint,
		contract.EnvAudioContainer.Name: s.AudioContainer,
		contract.EnvStateContainer.Name: s.StateContainer,
		contract.EnvStateBlob.Name:      s.StateBlob,
	}
	return &deploy.Args{
		Stamp:   info.ID,
		Region:  info.Region,
		Zone:    fmt.Sprint(info.Zone),
		Version: info.Version,

		Namespace:      contract.Namespace,
		ServiceAccount: contract.ServiceAccount,

		Kubeconfig:         s.UserKubeconfig(ctx),
		AppClientID:        s.AppIdentityClientID,
		DispatcherClientID: s.DispatcherIdentityClientID,
		TenantID:           g.TenantID,
		KeyVaultName:       pulumi.String(reg.Names.KeyVault),

		RegistryLoginServer: s.RegistryLoginServer,
		Image:               t.Config.Image,

		PublicIPName:          s.PublicIPName,
		PublicIPResourceGroup: s.ResourceGroupName,
		PublicIPAddress:       s.PublicIPAddress,

		DispatcherImage:    t.Config.SIP.DispatcherImage,
		DispatcherReplicas: t.Config.SIP.DispatcherReplicas,
		SIPDispatcherIP:    info.SIPDispatcherIP,
		NodeSubnetName:     info.Names.Subnet,
		SBCPrefixes:        t.Config.SIP.SBCPrefixes,
		IdleTimeoutMinutes: t.Config.SIP.IdleTimeoutMinutes,

		Service:      &svc,
		Env:          env,
		Replicas:     info.Replicas,
		Dependencies: s.WorkloadDependencies,
		// A pod is sized for replicaCapacity: one RTP port per concurrent call, and the HPA
		// adds pods at 70 % of the requests per second one pod is rated for.
		RTPPortMin:        deploy.DefaultRTPPortMin,
		RTPPortMax:        deploy.DefaultRTPPortMin + 2*(rc.ConcurrentCalls-1),
		RequestsPerSecond: max(1, rc.RequestsPerSecond*7/10),
	}, nil
}

// workloadForStamp deploys the voicemail workload into one stamp, as its child.
func workloadForStamp(ctx *pulumi.Context, t topology.Topology, g *global.Global, s *stamp.Stamp) (*deploy.Workload, error) {
	args, err := ArgsForStamp(ctx, t, g, s)
	if err != nil {
		return nil, err
	}
	return deploy.NewWorkload(ctx, deploy.WorkloadName(s.Info.ID), args, pulumi.Parent(s))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
