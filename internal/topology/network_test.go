package topology_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Each VNet's subnets lie inside it and do not overlap each other.
func TestSubnetsInsideTheirVNet(t *testing.T) {
	topo, err := topology.Build(cfg(6))
	require.NoError(t, err)
	check := func(vnet string, subnets ...string) {
		v := netip.MustParsePrefix(vnet)
		var ps []netip.Prefix
		for _, s := range subnets {
			p := netip.MustParsePrefix(s)
			assert.True(t, v.Contains(p.Addr()) && p.Bits() >= v.Bits(), "%s inside %s", s, vnet)
			for _, q := range ps {
				assert.False(t, p.Overlaps(q), "%s overlaps %s", p, q)
			}
			ps = append(ps, p)
		}
	}
	for _, r := range topo.Regions {
		check(r.AddressSpace, r.JumpboxSubnet, r.PrivateEndpointRange(), r.FunctionsRange())
	}
	for _, s := range topo.Stamps {
		check(s.AddressSpace, s.NodeSubnet, s.PrivateEndpointRange())
	}
	assert.Equal(t, "nsg-vnet-a-pe", topology.NSGName("vnet-a", topology.PrivateEndpointSubnet))
}
