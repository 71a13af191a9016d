package deploy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/global"
	"github.com/voicemail-platform/voicemail/internal/topology"
	"github.com/voicemail-platform/voicemail/stamp"
)

// ArgsForStamp maps the stamp component's seam onto Args: everything the workload needs
// comes from the stamp (cluster, identity, public IP, endpoints), the global layer (tenant)
// and the plan (replicas, image, names).
func ArgsForStamp(ctx *pulumi.Context, t topology.Topology, g *global.Global, s *stamp.Stamp) (*Args, error) {
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
	env := map[string]pulumi.StringInput{
		// The stamp's own region's Table endpoint, then the others in failover order: the app
		// writes to its region and moves to the next while that endpoint fails.
		"VOICEMAIL_TABLE_ENDPOINT":           pulumi.String(s.CosmosTableEndpoints[0]),
		"VOICEMAIL_TABLE_FALLBACK_ENDPOINTS": pulumi.String(strings.Join(s.CosmosTableEndpoints[1:], ",")),
		// Other regions' audio accounts (region=endpoint): a message names the region that
		// stored its audio, read from this region's replica of it or, while replication lags,
		// from the origin or another replica.
		"VOICEMAIL_BLOB_REGIONS":     pulumi.Sprintf(strings.TrimPrefix(format, ","), blobRegions...),
		"VOICEMAIL_BLOB_ENDPOINT":    s.BlobEndpoint,
		"VOICEMAIL_QUEUE_ENDPOINT":   s.QueueEndpoint,
		"VOICEMAIL_TABLE":            pulumi.String(topology.ServiceTable),
		"VOICEMAIL_AUDIO_CONTAINER":  s.AudioContainer,
		"VOICEMAIL_QUEUE":            pulumi.String(topology.DepositQueue),
		"VOICEMAIL_STATE_CONTAINER":  s.StateContainer,
		"VOICEMAIL_STATE_BLOB":       s.StateBlob,
		"VOICEMAIL_HEALTH_TIMEOUT":   pulumi.String("3s"),
		"VOICEMAIL_HEALTH_CACHE_TTL": pulumi.String("10s"),
		"VOICEMAIL_HEALTH_WINDOW":    pulumi.Sprintf("%ds", t.Config.TrafficManager.HealthWindowSeconds),
		"VOICEMAIL_LOG_LEVEL":        pulumi.String("info"),
	}
	return &Args{
		Stamp:   info.ID,
		Region:  info.Region,
		Zone:    fmt.Sprint(info.Zone),
		Version: info.Version,

		Namespace:      topology.AppNamespace,
		ServiceAccount: topology.AppServiceAccount,

		Kubeconfig:   s.UserKubeconfig(ctx),
		AppClientID:  s.AppIdentityClientID,
		TenantID:     g.TenantID,
		KeyVaultName: pulumi.String(reg.Names.KeyVault),

		RegistryLoginServer: s.RegistryLoginServer,
		Image:               t.Config.Image,

		PublicIPName:          s.PublicIPName,
		PublicIPResourceGroup: s.ResourceGroupName,
		PublicIPAddress:       s.PublicIPAddress,

		DispatcherImage:    t.Config.SIP.DispatcherImage,
		DispatcherReplicas: t.Config.SIP.DispatcherReplicas,
		SIPDispatcherIP:    info.SIPDispatcherIP,
		NodeSubnetName:     info.Names.Subnet,
		IdleTimeoutMinutes: t.Config.SIP.IdleTimeoutMinutes,

		Env:          env,
		Replicas:     info.Replicas,
		Dependencies: s.WorkloadDependencies,
		// A pod is sized for replicaCapacity: one RTP port per concurrent call, and the HPA
		// adds pods at 70 % of the requests per second one pod is rated for.
		RTPPortMin:        DefaultRTPPortMin,
		RTPPortMax:        DefaultRTPPortMin + 2*(rc.ConcurrentCalls-1),
		RequestsPerSecond: max(1, rc.RequestsPerSecond*7/10),
	}, nil
}

// ForStamp deploys the voicemail workload into one stamp, as its child.
func ForStamp(ctx *pulumi.Context, t topology.Topology, g *global.Global, s *stamp.Stamp) (*Workload, error) {
	args, err := ArgsForStamp(ctx, t, g, s)
	if err != nil {
		return nil, err
	}
	return NewWorkload(ctx, WorkloadName(s.Info.ID), args, pulumi.Parent(s))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// WorkloadName is the logical name of a stamp's workload component.
func WorkloadName(stampID string) string { return strings.TrimSuffix(stampID, "-") + "-app" }
