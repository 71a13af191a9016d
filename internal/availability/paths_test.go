package availability

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The HTTP path has Traffic Manager in series and is bounded by it; the SIP/IMAP path
// resolves SRV records in Azure DNS instead and is bounded by Cosmos DB.
func TestPathsBoundingComponent(t *testing.T) {
	topo := Topology{Stack: "t", PeakLoad: 100, LoadUnit: "calls", CosmosMultiRegionWrite: true, CosmosZoneRedundant: true, AKSStandardTier: true}
	for _, r := range []string{"a", "b", "c", "d"} {
		topo.Regions = append(topo.Regions, Region{Name: r, Stamps: []Stamp{{Name: r + "1", Zone: "1", Nodes: 3}, {Name: r + "2", Zone: "2", Nodes: 3}, {Name: r + "3", Zone: "3", Nodes: 3}}})
	}
	res, err := Evaluate(topo)
	require.NoError(t, err)
	ps := Paths(res)
	require.Len(t, ps, 2)
	http, sip := ps[0], ps[1]
	assert.Equal(t, "HTTP", http.Name)
	assert.Equal(t, "Azure Traffic Manager", http.Bound.Name)
	assert.InDelta(t, res.Composite, http.Composite, 1e-15, "the HTTP path is the stack's composite")
	assert.False(t, http.MeetsTarget())
	assert.Equal(t, "SIP/IMAP", sip.Name)
	assert.Equal(t, "Cosmos DB, multi-region writes", sip.Bound.Name)
	assert.Greater(t, sip.Composite, http.Composite, "SIP/IMAP does not cross Traffic Manager")
	assert.InDelta(t, 0.99999*res.AllRegions, sip.Composite, 1e-15)
}
