// Package topology turns a validated stack config into the plan of what to deploy: regions,
// stamps, every Azure resource name, address ranges and capacity. It is plain Go with no
// Pulumi in it, shared by the Pulumi program, the availability model and the local runner.
package topology

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/naming"
)

// Names of the plan. Those the binaries must spell the same come from package contract.
const (
	Project = "voicemail"
	// AppNamespace and AppServiceAccount are the Kubernetes namespace and service account
	// the app runs as; the workload identity's federated credential trusts exactly them.
	AppNamespace      = contract.Namespace
	AppServiceAccount = contract.ServiceAccount
	// WorkloadIdentityAudience is the token audience of AKS workload identity.
	WorkloadIdentityAudience = "api://AzureADTokenExchange"
	// FederatedCredentialName names the credential on each stamp's app identity.
	FederatedCredentialName = "voicemail-aks"

	HealthPath   = contract.StampHealthPath
	LivenessPath = contract.LivenessPath

	OperatorTokenSecret = contract.OperatorTokenSecret

	AudioContainer    = contract.AudioContainer
	StateContainer    = contract.StateContainer
	DepositQueue      = contract.DepositQueue
	NotificationQueue = contract.NotificationQueue

	SystemPool = "system"
	UserPool   = "user"

	// Address plan: pods take VNet addresses from their stamp's pod subnet (Azure CNI with a
	// pod subnet, not overlay), because each pod advertises its own address in SIP Contact
	// and SDP and callers' SBCs send RTP straight to it. The service range never leaves the
	// cluster, so every stamp reuses it. PodCIDR is kept for the overlay mode the plan no
	// longer uses; stamps leave it empty.
	PodCIDR      = "192.168.0.0/16"
	ServiceCIDR  = "172.16.0.0/16"
	DNSServiceIP = "172.16.0.10"
)

// FederatedSubject is the subject of the app's service-account tokens.
func FederatedSubject() string {
	return "system:serviceaccount:" + AppNamespace + ":" + AppServiceAccount
}

// DispatcherFederatedSubject is the subject of the stamp dispatcher's service-account tokens.
func DispatcherFederatedSubject() string {
	return "system:serviceaccount:" + AppNamespace + ":" + contract.DispatcherServiceAccount
}

// ServiceTable is the table the voicemail service keeps its CRDT rows in.
const ServiceTable = contract.ServiceTable

// Tables are the Cosmos DB tables the program creates: only the service's table, since every
// provisioned table is billed for its throughput in every region whether used or not.
func Tables() []string { return []string{ServiceTable} }

// Containers are the blob containers every region's audio account has; it also has one
// ReplicaContainer per region that replicates into it.
func Containers() []string { return []string{AudioContainer, StateContainer} }

// ReplicaContainer is the container that receives origin's AudioContainer by object
// replication (see contract.ReplicaContainer).
func ReplicaContainer(origin string) string { return contract.ReplicaContainer(AudioContainer, origin) }

// MaxReplicationDestinations is how many other regions receive a region's audio. Azure lets a
// source account replicate to at most two destination accounts and an account be the
// destination of at most two policies
// (https://learn.microsoft.com/en-us/azure/storage/blobs/object-replication-overview#replication-policies-and-rules),
// so each region replicates to the next two regions in the list: every region then sends two
// policies and receives two, and each message's audio lives in three regions.
const MaxReplicationDestinations = 2

// Queues are the storage queues of each region's queue account.
func Queues() []string { return []string{DepositQueue, NotificationQueue} }

// Load is a traffic figure (concurrent calls, requests per second).
type Load = config.Load

// Topology is the full deployment plan of one stack.
type Topology struct {
	Environment string
	Prefix      string
	Config      config.Config // the validated config, for SKUs and switches
	Regions     []Region      // in failover priority order; Regions[0] is home
	Stamps      []Stamp       // ordered by region, zone, version
	Global      Global
	Monitor     Monitor
	Capacity    Capacity
	SIP         SIP
}

// SIP is the stack's SIP ingress naming: one private DNS zone with every stamp's dispatcher
// host and the SRV sets SBCs resolve.
type SIP struct {
	Zone string // e.g. "vmpdev.voicemail.internal"
}

// Global names the resources shared by all regions.
type Global struct {
	HomeRegion              string
	ResourceGroup           string
	MonitoringResourceGroup string
	Workspace               string
	CosmosAccount           string
	CosmosTableEndpoint     string
	Registry                string
	TrafficManager          string
	TrafficManagerDNS       string // relative DNS name
	TrafficManagerFQDN      string
}

// Monitor is the Traffic Manager routing and probe configuration, which the local traffic
// manager also follows.
type Monitor struct {
	RoutingMethod     string
	Protocol          string
	Port              int
	Path              string
	TTL               time.Duration
	Interval          time.Duration
	Timeout           time.Duration
	ToleratedFailures int
	// ExpectedStatus is the inclusive range of healthy HTTP status codes.
	ExpectedStatus [2]int
}

// DetectionTime is the worst case until Traffic Manager stops answering with a failed
// endpoint: the failed probes it tolerates plus the one that marks it degraded, plus the TTL
// for clients to drop the cached answer.
func (m Monitor) DetectionTime() time.Duration {
	return time.Duration(m.ToleratedFailures+1)*m.Interval + m.Timeout + m.TTL
}

// Capacity is the sizing rule: each region carries peak / (N-1) so any one region can fail.
type Capacity struct {
	Regions            int
	RegionalRedundancy bool // false for a single-region stack
	Peak               Load
	PerRegion          Load
	// HeadroomPercent is how much more than its share of the peak a region can carry:
	// 100 / (N-1); 0 for one region.
	HeadroomPercent float64
}

// Region is one Azure region of the stack.
type Region struct {
	Name             string
	Short            string
	Index            int
	FailoverPriority int
	Home             bool
	Zones            []int
	// RecoverKeyVault creates the region's vault in recover mode (config regions[i].recoverKeyVault).
	RecoverKeyVault bool
	// ReplicateTo are the regions whose ReplicaContainer(Name) receives this region's audio
	// container (object replication to the next MaxReplicationDestinations regions in the
	// list, wrapping); ReplicaOf are the regions this region's account holds a replica of.
	ReplicateTo []string
	ReplicaOf   []string
	// CosmosTableEndpoint is the Cosmos DB for Table account's endpoint in this region.
	CosmosTableEndpoint string
	Names               RegionNames
	AddressSpace        string
	JumpboxSubnet       string
	Capacity            Load
	StampIDs            []string
	Tags                map[string]string
}

// RegionNames are the Azure names of a region's resources.
type RegionNames struct {
	ResourceGroup         string
	Workspace             string
	AppInsights           string
	KeyVault              string
	BlobAccount           string // audio and state containers
	QueueAccount          string // queues and the Functions host storage
	FunctionApp           string
	FunctionPlan          string
	VNet                  string
	JumpboxSubnet         string
	Jumpbox               string
	JumpboxComputerPrefix string
	RegistryReplication   string
}

// Stamp is one (region, zone, version) deployment unit.
type Stamp struct {
	ID          string // "<region>-z<zone>-<version>"
	Key         string // "<short>-z<zone>-<version>", used in Azure names
	Region      string
	RegionShort string
	RegionIndex int
	Zone        int
	Version     string
	Weight      int
	Priority    int // unique 1..n in stamp order, for Priority routing
	Drained     bool
	Names       StampNames
	// Address plan.
	AddressSpace string
	NodeSubnet   string
	PodCIDR      string
	// PodSubnet is the VNet subnet pods take their addresses from (Azure CNI pod subnet).
	PodSubnet    string
	ServiceCIDR  string
	DNSServiceIP string
	// SIPDispatcherIP is the frontend address of the stamp's internal load balancer in front
	// of its SIP dispatcher (a fixed address of the node subnet, so DNS records are planned),
	// and SIPHost its name in the SIP zone.
	SIPDispatcherIP string
	SIPHost         string
	// DNSLabel is the public IP's label; FQDN the name Traffic Manager targets.
	DNSLabel string
	FQDN     string
	// StateBlob is the blob in the region's state container whose presence keeps the stamp
	// in rotation.
	StateBlob string
	// TableEndpoints are the Cosmos DB for Table endpoints the stamp uses, its own region's
	// first, then the other regions in failover order starting after its own: each stamp
	// writes to its region, and a region's outage moves its stamps to the next region.
	TableEndpoints []string
	Capacity       Load
	Replicas       int
	Tags           map[string]string
}

// StampNames are the Azure names of a stamp's resources.
type StampNames struct {
	ResourceGroup     string
	NodeResourceGroup string
	Cluster           string
	DNSPrefix         string
	ClusterIdentity   string
	AppIdentity       string
	// DispatcherIdentity is the SIP dispatcher's own identity (it reads the edge certificate).
	DispatcherIdentity string
	PublicIP           string
	VNet               string
	Subnet             string
	Workspace          string
	Endpoint           string
}

// Region returns the region with the given name.
func (t Topology) Region(name string) (Region, bool) {
	for _, r := range t.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// Stamp returns the stamp with the given id.
func (t Topology) Stamp(id string) (Stamp, bool) {
	for _, s := range t.Stamps {
		if s.ID == id {
			return s, true
		}
	}
	return Stamp{}, false
}

// StampsIn returns a region's stamps in order.
func (t Topology) StampsIn(region string) []Stamp {
	var out []Stamp
	for _, s := range t.Stamps {
		if s.Region == region {
			out = append(out, s)
		}
	}
	return out
}

// StampID is the id of a stamp: "<region>-z<zone>-<version>".
func StampID(region string, zone int, version string) string {
	return fmt.Sprintf("%s-z%d-%s", region, zone, version)
}

// PerRegion is the load each of n regions must carry so that n-1 regions carry the peak.
// With one region there is no redundancy and it carries the peak.
func PerRegion(peak, n int) int {
	if n <= 1 {
		return peak
	}
	return int(math.Ceil(float64(peak) / float64(n-1)))
}

// Build validates cfg and derives the topology. Errors name the config key they come from.
func Build(cfg config.Config) (Topology, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return Topology{}, joinErrs(errs)
	}
	nm := naming.Namer{Prefix: cfg.NamePrefix, Env: cfg.Environment}
	var v validator
	tags := func(extra ...string) map[string]string {
		m := map[string]string{"project": Project, "environment": cfg.Environment, "managed-by": "pulumi"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}

	t := Topology{Environment: cfg.Environment, Prefix: cfg.NamePrefix, Config: cfg}
	t.SIP.Zone = cfg.SIP.DNSZone
	if t.SIP.Zone == "" {
		t.SIP.Zone = cfg.NamePrefix + cfg.Environment + ".voicemail.internal"
	}
	home := cfg.Regions[0].Name
	t.Global = Global{
		HomeRegion:              home,
		ResourceGroup:           v.name("namePrefix", naming.ResourceGroup, nm.GlobalResourceGroup()),
		MonitoringResourceGroup: v.name("namePrefix", naming.ResourceGroup, nm.MonitoringResourceGroup()),
		Workspace:               v.name("namePrefix", naming.Workspace, nm.GlobalWorkspace()),
		CosmosAccount:           v.name("namePrefix", naming.CosmosAccount, nm.CosmosAccount()),
		Registry:                v.name("namePrefix", naming.ContainerRegistry, nm.Registry()),
		TrafficManager:          v.name("namePrefix", naming.TrafficManager, nm.TrafficManager()),
		TrafficManagerDNS:       v.name("namePrefix", naming.DNSLabel, nm.TrafficManagerDNS()),
	}
	t.Global.CosmosTableEndpoint = "https://" + t.Global.CosmosAccount + ".table.cosmos.azure.com:443/"
	t.Global.TrafficManagerFQDN = t.Global.TrafficManagerDNS + ".trafficmanager.net"
	for _, tbl := range Tables() {
		v.name("namePrefix", naming.CosmosTable, tbl)
	}

	tm := cfg.TrafficManager
	t.Monitor = Monitor{
		RoutingMethod: tm.RoutingMethod, Protocol: tm.Protocol, Port: tm.Port, Path: HealthPath,
		TTL: time.Duration(tm.TTL) * time.Second, Interval: time.Duration(tm.IntervalSeconds) * time.Second,
		Timeout: time.Duration(tm.TimeoutSeconds) * time.Second, ToleratedFailures: tm.ToleratedFailures,
		ExpectedStatus: [2]int{200, 299},
	}

	n := len(cfg.Regions)
	t.Capacity = Capacity{
		Regions:            n,
		RegionalRedundancy: n > 1,
		Peak:               cfg.PeakLoad,
		PerRegion: Load{
			ConcurrentCalls:   PerRegion(cfg.PeakLoad.ConcurrentCalls, n),
			RequestsPerSecond: PerRegion(cfg.PeakLoad.RequestsPerSecond, n),
		},
	}
	if n > 1 {
		t.Capacity.HeadroomPercent = 100 / float64(n-1)
	}

	for i, rc := range cfg.Regions {
		short := rc.Short
		if short == "" {
			short, _ = naming.RegionShort(rc.Name)
		}
		key := fmt.Sprintf("regions[%d]", i)
		r := Region{
			Name: rc.Name, Short: short, Index: i, FailoverPriority: i, Home: i == 0, RecoverKeyVault: rc.RecoverKeyVault,
			Zones: append([]int(nil), rc.Zones...), Capacity: t.Capacity.PerRegion,
			AddressSpace:  fmt.Sprintf("10.%d.0.0/22", 16*i),
			JumpboxSubnet: fmt.Sprintf("10.%d.0.0/27", 16*i),
			Tags:          tags("region", rc.Name),
		}
		sort.Ints(r.Zones)
		if cfg.ObjectReplication {
			for k := 1; k <= min(MaxReplicationDestinations, n-1); k++ {
				r.ReplicateTo = append(r.ReplicateTo, cfg.Regions[(i+k)%n].Name)
			}
			for k := 1; k <= min(MaxReplicationDestinations, n-1); k++ {
				r.ReplicaOf = append(r.ReplicaOf, cfg.Regions[(i-k+n)%n].Name)
			}
			for _, o := range r.ReplicaOf {
				v.name(key, naming.BlobContainer, ReplicaContainer(o))
			}
		}
		r.CosmosTableEndpoint = CosmosRegionalTableEndpoint(t.Global.CosmosAccount, rc.Name)
		r.Names = RegionNames{
			ResourceGroup:         v.name(key, naming.ResourceGroup, nm.RegionResourceGroup(short)),
			Workspace:             v.name(key, naming.Workspace, nm.RegionWorkspace(short)),
			AppInsights:           v.name(key, naming.AppInsights, nm.AppInsights(short)),
			KeyVault:              v.name(key, naming.KeyVault, nm.KeyVault(short)),
			BlobAccount:           v.name(key, naming.StorageAccount, nm.BlobAccount(short)),
			QueueAccount:          v.name(key, naming.StorageAccount, nm.QueueAccount(short)),
			FunctionApp:           v.name(key, naming.FunctionApp, nm.FunctionApp(short)),
			FunctionPlan:          v.name(key, naming.AppServicePlan, nm.FunctionPlan(short)),
			VNet:                  v.name(key, naming.VirtualNetwork, nm.RegionVNet(short)),
			JumpboxSubnet:         v.name(key, naming.Subnet, "snet-jumpbox"),
			Jumpbox:               v.name(key, naming.ScaleSet, nm.Jumpbox(short)),
			JumpboxComputerPrefix: v.name(key, naming.ComputerPrefix, nm.JumpboxComputerPrefix(short)),
			RegistryReplication:   v.name(key, naming.ContainerRegistry, rc.Name),
		}
		t.Regions = append(t.Regions, r)
	}

	// Stamps in region order, then zone, then version; remember each one's config index.
	idx := make([]int, len(cfg.Stamps))
	for i := range idx {
		idx[i] = i
	}
	regionIndex := map[string]int{}
	for i, r := range cfg.Regions {
		regionIndex[r.Name] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		sa, sb := cfg.Stamps[idx[a]], cfg.Stamps[idx[b]]
		if ra, rb := regionIndex[sa.Region], regionIndex[sb.Region]; ra != rb {
			return ra < rb
		}
		if sa.Zone != sb.Zone {
			return sa.Zone < sb.Zone
		}
		return sa.Version < sb.Version
	})
	perRegionCount := map[string]int{}
	for prio, ci := range idx {
		sc := cfg.Stamps[ci]
		r := &t.Regions[regionIndex[sc.Region]]
		key := fmt.Sprintf("stamps[%d]", ci)
		k := perRegionCount[sc.Region]
		perRegionCount[sc.Region]++
		second := 16*r.Index + 1 + k
		sk := fmt.Sprintf("%s-z%d-%s", r.Short, sc.Zone, sc.Version)
		s := Stamp{
			ID: StampID(sc.Region, sc.Zone, sc.Version), Key: sk,
			Region: sc.Region, RegionShort: r.Short, RegionIndex: r.Index,
			Zone: sc.Zone, Version: sc.Version, Weight: sc.Weight, Priority: prio + 1, Drained: sc.Drained,
			AddressSpace: fmt.Sprintf("10.%d.0.0/16", second),
			NodeSubnet:   fmt.Sprintf("10.%d.0.0/20", second),
			// 4096 pod addresses: the user pool's maximum nodes times max pods, with room.
			PodSubnet:   fmt.Sprintf("10.%d.16.0/20", second),
			ServiceCIDR: ServiceCIDR, DNSServiceIP: DNSServiceIP,
			SIPDispatcherIP: fmt.Sprintf("10.%d.15.250", second),
		}
		s.StateBlob = s.ID
		for k := range len(t.Regions) {
			s.TableEndpoints = append(s.TableEndpoints, t.Regions[(r.Index+k)%len(t.Regions)].CosmosTableEndpoint)
		}
		s.Tags = tags("region", sc.Region, "stamp", s.ID)
		s.Names = StampNames{
			ResourceGroup:      v.name(key, naming.ResourceGroup, nm.StampResourceGroup(sk)),
			NodeResourceGroup:  v.name(key, naming.ResourceGroup, nm.NodeResourceGroup(sk)),
			Cluster:            v.name(key, naming.ManagedCluster, nm.Cluster(sk)),
			DNSPrefix:          v.name(key, naming.AKSDNSPrefix, nm.ClusterDNSPrefix(sk)),
			ClusterIdentity:    v.name(key, naming.Identity, nm.ClusterIdentity(sk)),
			AppIdentity:        v.name(key, naming.Identity, nm.AppIdentity(sk)),
			DispatcherIdentity: v.name(key, naming.Identity, nm.DispatcherIdentity(sk)),
			PublicIP:           v.name(key, naming.PublicIP, nm.PublicIP(sk)),
			VNet:               v.name(key, naming.VirtualNetwork, nm.StampVNet(sk)),
			Subnet:             v.name(key, naming.Subnet, "snet-aks"),
			Workspace:          v.name(key, naming.Workspace, nm.StampWorkspace(sk)),
			Endpoint:           v.name(key, naming.TMEndpoint, s.ID),
		}
		s.SIPHost = sk + "." + t.SIP.Zone
		s.DNSLabel = v.name(key, naming.DNSLabel, nm.PublicIPLabel(sk))
		s.FQDN = s.DNSLabel + "." + sc.Region + ".cloudapp.azure.com"
		r.StampIDs = append(r.StampIDs, s.ID)
		t.Stamps = append(t.Stamps, s)
	}

	// Within a region, each stamp is sized so the region keeps its capacity with one zone lost.
	rcap := cfg.ReplicaCapacity
	for i := range t.Stamps {
		s := &t.Stamps[i]
		zones := map[int]bool{}
		for _, o := range t.Stamps {
			if o.Region == s.Region && !o.Drained {
				zones[o.Zone] = true
			}
		}
		div := max(1, len(zones)-1)
		s.Capacity = Load{
			ConcurrentCalls:   ceilDiv(t.Capacity.PerRegion.ConcurrentCalls, div),
			RequestsPerSecond: ceilDiv(t.Capacity.PerRegion.RequestsPerSecond, div),
		}
		s.Replicas = max(rcap.MinReplicas,
			ceilDiv(s.Capacity.ConcurrentCalls, rcap.ConcurrentCalls),
			ceilDiv(s.Capacity.RequestsPerSecond, rcap.RequestsPerSecond))
	}

	if len(v) > 0 {
		return Topology{}, joinErrs(v)
	}
	return t, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// CosmosRegionalTableEndpoint is a Cosmos DB for Table account's endpoint in one region,
// https://<account>-<region>.table.cosmos.azure.com:443/ (the regional endpoints of a
// multi-region account: https://learn.microsoft.com/en-us/azure/cosmos-db/how-to-multi-master).
func CosmosRegionalTableEndpoint(account, region string) string {
	return "https://" + account + "-" + region + ".table.cosmos.azure.com:443/"
}

// validator checks derived names, keeping the first failure per name.
type validator []error

func (v *validator) name(key string, kind naming.Kind, name string) string {
	if err := naming.Check(kind, name); err != nil {
		*v = append(*v, &config.FieldError{Key: config.Namespace + ":" + key, Msg: err.Error()})
	}
	return name
}
