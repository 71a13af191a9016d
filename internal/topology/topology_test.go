package topology_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/naming"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

var allRegions = []string{"eastus2", "centralus", "westus3", "southcentralus", "northeurope", "westeurope"}

// cfg builds a config with n regions of three zones and one stamp per zone.
func cfg(n int) config.Config {
	c := config.Defaults()
	c.Environment, c.NamePrefix, c.Image = "prod", "vmp", "example.azurecr.io/vm:1"
	c.SIP.DispatcherImage = "example.azurecr.io/sip-dispatcher@sha256:" + strings.Repeat("a", 64)
	c.SIP.SBCPrefixes = []string{"100.64.0.0/28"}
	c.PeakLoad = config.Load{ConcurrentCalls: 30000, RequestsPerSecond: 12000}
	c.Jumpbox.AdminSSHPublicKey = "ssh-ed25519 AAAA test"
	for _, r := range allRegions[:n] {
		c.Regions = append(c.Regions, config.Region{Name: r, Zones: []int{1, 2, 3}})
		for z := 1; z <= 3; z++ {
			c.Stamps = append(c.Stamps, config.Stamp{Region: r, Zone: z, Version: "v1", Weight: 100})
		}
	}
	return c
}

func TestCapacityPerRegion(t *testing.T) {
	cases := []struct {
		n           int
		perRegion   int
		redundant   bool
		headroomPct float64
	}{
		{1, 30000, false, 0},
		{2, 30000, true, 100},
		{3, 15000, true, 50},
		{4, 10000, true, 100.0 / 3},
		{5, 7500, true, 25},
		{6, 6000, true, 20},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("N=%d", tc.n), func(t *testing.T) {
			topo, err := topology.Build(cfg(tc.n))
			require.NoError(t, err)
			assert.Equal(t, tc.perRegion, topo.Capacity.PerRegion.ConcurrentCalls)
			assert.Equal(t, tc.redundant, topo.Capacity.RegionalRedundancy)
			assert.InDelta(t, tc.headroomPct, topo.Capacity.HeadroomPercent, 1e-9)
			// Losing any one region leaves at least the peak.
			if tc.n > 1 {
				assert.GreaterOrEqual(t, (tc.n-1)*topo.Capacity.PerRegion.ConcurrentCalls, 30000)
			}
			for _, r := range topo.Regions {
				assert.Equal(t, topo.Capacity.PerRegion, r.Capacity)
			}
		})
	}
	assert.Equal(t, 4, topology.PerRegion(10, 4), "rounds up")
}

func TestStampSizingSurvivesAZoneLoss(t *testing.T) {
	topo, err := topology.Build(cfg(4))
	require.NoError(t, err)
	for _, s := range topo.Stamps {
		// 10000 calls per region over 3 zones, any 2 of which must carry it.
		assert.Equal(t, 5000, s.Capacity.ConcurrentCalls)
		assert.Equal(t, 25, s.Replicas, "5000 calls / 200 per replica")
	}
	c := cfg(1)
	c.Stamps[2].Drained = true
	topo, err = topology.Build(c)
	require.NoError(t, err)
	assert.Equal(t, 30000, topo.Stamps[0].Capacity.ConcurrentCalls, "two active zones: each carries the region")
}

func TestStampsIDsAndOrder(t *testing.T) {
	c := cfg(2)
	// Config order is not plan order; a replacement stamp sits beside the old one.
	c.Stamps = append([]config.Stamp{{Region: "centralus", Zone: 2, Version: "v2", Weight: 10}}, c.Stamps...)
	topo, err := topology.Build(c)
	require.NoError(t, err)
	var ids []string
	for _, s := range topo.Stamps {
		ids = append(ids, s.ID)
	}
	assert.Equal(t, []string{
		"eastus2-z1-v1", "eastus2-z2-v1", "eastus2-z3-v1",
		"centralus-z1-v1", "centralus-z2-v1", "centralus-z2-v2", "centralus-z3-v1",
	}, ids)
	for i, s := range topo.Stamps {
		assert.Equal(t, i+1, s.Priority)
		assert.Equal(t, topology.StampID(s.Region, s.Zone, s.Version), s.ID)
		assert.Equal(t, s.ID, s.StateBlob)
		assert.Equal(t, s.DNSLabel+"."+s.Region+".cloudapp.azure.com", s.FQDN)
	}
	s, ok := topo.Stamp("centralus-z2-v2")
	require.True(t, ok)
	assert.Equal(t, 10, s.Weight)
	assert.Len(t, topo.StampsIn("centralus"), 4)
	r, ok := topo.Region("centralus")
	require.True(t, ok)
	assert.Equal(t, []string{"eastus2"}, r.ReplicateTo, "replication wraps to the first region; with two regions, one destination")
	assert.Equal(t, []string{"eastus2"}, r.ReplicaOf)
	assert.Equal(t, "https://cosmos-vmp-prod-centralus.table.cosmos.azure.com:443/", r.CosmosTableEndpoint)
	s, _ = topo.Stamp("centralus-z2-v2")
	assert.Equal(t, []string{r.CosmosTableEndpoint, topo.Regions[0].CosmosTableEndpoint}, s.TableEndpoints, "own region first, then the others")
	assert.Len(t, r.StampIDs, 4)
	assert.True(t, topo.Regions[0].Home)
}

func TestAddressRangesDoNotOverlap(t *testing.T) {
	topo, err := topology.Build(cfg(6))
	require.NoError(t, err)
	var prefixes []netip.Prefix
	add := func(s string) netip.Prefix {
		p, err := netip.ParsePrefix(s)
		require.NoError(t, err, s)
		prefixes = append(prefixes, p)
		return p
	}
	for _, r := range topo.Regions {
		vnet := add(r.AddressSpace)
		sub := netip.MustParsePrefix(r.JumpboxSubnet)
		assert.True(t, vnet.Contains(sub.Addr()), r.Name)
	}
	pod := netip.MustParsePrefix(topology.PodCIDR)
	svc := netip.MustParsePrefix(topology.ServiceCIDR)
	for _, s := range topo.Stamps {
		vnet := add(s.AddressSpace)
		assert.True(t, vnet.Contains(netip.MustParsePrefix(s.NodeSubnet).Addr()), s.ID)
		assert.False(t, vnet.Overlaps(pod), "pod CIDR outside the vnet")
		assert.False(t, vnet.Overlaps(svc), "service CIDR outside the vnet")
	}
	assert.True(t, svc.Contains(netip.MustParseAddr(topology.DNSServiceIP)))
	for i := range prefixes {
		for j := i + 1; j < len(prefixes); j++ {
			assert.False(t, prefixes[i].Overlaps(prefixes[j]), "%s overlaps %s", prefixes[i], prefixes[j])
		}
	}
}

// Every derived name satisfies its Azure rule for the shipped stacks and for the longest
// names config allows.
func TestNamesWithinAzureLimits(t *testing.T) {
	long := cfg(6)
	long.Environment, long.NamePrefix = "stage", "abcdef"
	for i := range long.Stamps {
		long.Stamps[i].Version = "blue99"
	}
	check := func(t *testing.T, topo topology.Topology) {
		g := topo.Global
		for kind, names := range map[naming.Kind][]string{
			naming.ResourceGroup:     {g.ResourceGroup, g.MonitoringResourceGroup},
			naming.CosmosAccount:     {g.CosmosAccount},
			naming.ContainerRegistry: {g.Registry},
			naming.TrafficManager:    {g.TrafficManager},
			naming.DNSLabel:          {g.TrafficManagerDNS},
		} {
			for _, n := range names {
				assert.NoError(t, naming.Check(kind, n))
			}
		}
		for _, r := range topo.Regions {
			n := r.Names
			assert.NoError(t, naming.Check(naming.StorageAccount, n.BlobAccount))
			assert.NoError(t, naming.Check(naming.StorageAccount, n.QueueAccount))
			assert.NoError(t, naming.Check(naming.KeyVault, n.KeyVault))
			assert.NoError(t, naming.Check(naming.FunctionApp, n.FunctionApp))
			assert.NoError(t, naming.Check(naming.ComputerPrefix, n.JumpboxComputerPrefix))
		}
		for _, s := range topo.Stamps {
			assert.NoError(t, naming.Check(naming.ManagedCluster, s.Names.Cluster))
			assert.NoError(t, naming.Check(naming.AKSDNSPrefix, s.Names.DNSPrefix))
			assert.NoError(t, naming.Check(naming.DNSLabel, s.DNSLabel))
			assert.NoError(t, naming.Check(naming.ResourceGroup, s.Names.NodeResourceGroup))
			assert.LessOrEqual(t, len(s.Names.NodeResourceGroup), 80, "AKS node resource group limit")
		}
	}
	for _, c := range []config.Config{cfg(4), long} {
		topo, err := topology.Build(c)
		require.NoError(t, err)
		check(t, topo)
	}
	for _, st := range []string{"dev", "prod"} {
		c, err := config.LoadStackFile(filepath.Join("..", "..", "Pulumi."+st+".yaml"))
		require.NoError(t, err)
		topo, err := topology.Build(c)
		require.NoError(t, err)
		check(t, topo)
	}
}

// Config validation bounds every name part (prefix <= 6, environment <= 5, short code <= 6,
// version <= 6) so that every derived name fits; Build still checks each derived name and
// would report the config key it came from.
func TestNamePartsAreBoundedByValidation(t *testing.T) {
	c := cfg(2)
	c.Regions[1].Short = "toolong" // rejected by config validation already
	_, err := topology.Build(c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "voicemail:regions[1].short:")

	// The longest parts validation allows still give valid names.
	c = cfg(2)
	c.Regions[1].Short = "cus123"
	c.Environment, c.NamePrefix = "stage", "abcdef"
	topo, err := topology.Build(c)
	require.NoError(t, err)
	assert.Equal(t, "stabcdefstagecus123", topo.Regions[1].Names.BlobAccount)
}

func TestSingleRegionFlagsNoRedundancy(t *testing.T) {
	c, err := config.LoadStackFile(filepath.Join("..", "..", "Pulumi.dev.yaml"))
	require.NoError(t, err)
	topo, err := topology.Build(c)
	require.NoError(t, err)
	assert.False(t, topo.Capacity.RegionalRedundancy)
	assert.Empty(t, topo.Regions[0].ReplicateTo)
	assert.Equal(t, c.PeakLoad, topo.Capacity.PerRegion)
}

func TestMonitor(t *testing.T) {
	topo, err := topology.Build(cfg(2))
	require.NoError(t, err)
	m := topo.Monitor
	assert.Equal(t, "/health/stamp", m.Path)
	assert.Equal(t, 10*time.Second, m.Interval)
	assert.LessOrEqual(t, m.TTL, 30*time.Second)
	// 3 tolerated + 1 failing probes at 10 s, a 5 s timeout, a 30 s TTL.
	assert.Equal(t, 75*time.Second, m.DetectionTime())
	assert.Equal(t, [2]int{200, 299}, m.ExpectedStatus)
}

func TestSharedNames(t *testing.T) {
	assert.Equal(t, "system:serviceaccount:voicemail:voicemail", topology.FederatedSubject())
	assert.Equal(t, []string{"voicemail"}, topology.Tables(), "only tables a stamp uses are provisioned")
	assert.Equal(t, "audio-westus3", topology.ReplicaContainer("westus3"))
	assert.Equal(t, []string{"audio", "state"}, topology.Containers())
	assert.Equal(t, []string{"deposits", "notifications"}, topology.Queues())
	for _, tbl := range topology.Tables() {
		assert.NoError(t, naming.Check(naming.CosmosTable, tbl))
		assert.False(t, strings.ContainsAny(tbl, "-_"))
	}
}
