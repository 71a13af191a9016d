package topology_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/topology"
)

func TestSRVSetsFollowRegionsWeightsAndDrain(t *testing.T) {
	c := cfg(2)
	c.Stamps[1].Weight = 7
	c.Stamps[4].Drained = true
	topo, err := topology.Build(c)
	require.NoError(t, err)
	sets := map[string][]topology.SRV{}
	for _, s := range topo.SRVSets() {
		sets[s.Name] = s.Records
	}
	shared := sets["_sip._tcp"]
	require.Len(t, shared, 5, "six stamps, one drained")
	byHost := map[string]topology.SRV{}
	for _, r := range shared {
		byHost[r.Target] = r
		assert.Equal(t, topology.SIPPort, r.Port)
	}
	assert.Equal(t, 1, byHost[topo.Stamps[1].SIPHost].Priority)
	assert.Equal(t, 7, byHost[topo.Stamps[1].SIPHost].Weight)
	assert.Equal(t, 2, byHost[topo.Stamps[3].SIPHost].Priority, "second region after the home region")
	assert.NotContains(t, byHost, topo.Stamps[4].SIPHost, "drained stamp left out")
	for _, r := range sets["_sip._tcp.centralus"] {
		want := 2
		if r.Target == topo.Stamps[3].SIPHost || r.Target == topo.Stamps[5].SIPHost {
			want = 1
		}
		assert.Equal(t, want, r.Priority, r.Target)
	}
	assert.Len(t, sets["_sip._tcp."+topo.Stamps[4].Key], 1, "a drained stamp keeps its own name")
	assert.Equal(t, topology.IMAPPort, sets["_imap._tcp"][0].Port)
	assert.Contains(t, topo.SRVNames(), "_sip._udp.vmpprod.voicemail.internal")
}

// Pod subnet, node subnet and the dispatcher's fixed address fit the stamp's address space,
// and the dispatcher's address sits in the node subnet (where AKS puts internal load
// balancer frontends) without overlapping the pod subnet.
func TestStampSIPAddressPlan(t *testing.T) {
	topo, err := topology.Build(cfg(2))
	require.NoError(t, err)
	for _, s := range topo.Stamps {
		space := netip.MustParsePrefix(s.AddressSpace)
		node := netip.MustParsePrefix(s.NodeSubnet)
		pods := netip.MustParsePrefix(s.PodSubnet)
		ip := netip.MustParseAddr(s.SIPDispatcherIP)
		assert.True(t, space.Contains(node.Addr()) && space.Contains(pods.Addr()), s.ID)
		assert.False(t, node.Overlaps(pods), s.ID)
		assert.True(t, node.Contains(ip) && !pods.Contains(ip), s.ID)
		assert.Empty(t, s.PodCIDR, "no overlay pod range")
		assert.Equal(t, s.Key+"."+topo.SIP.Zone, s.SIPHost)
	}
}
