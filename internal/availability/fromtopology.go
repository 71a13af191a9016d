package availability

import (
	"strconv"
	"strings"

	"github.com/voicemail-platform/voicemail/internal/topology"
)

// FromTopology reads the model's inputs from the deployment plan, so the model and
// the program can never disagree about regions, stamps or sizes.
func FromTopology(t topology.Topology) Topology {
	cfg := t.Config
	tier := strings.ToLower(cfg.AKS.Tier)
	out := Topology{
		Stack:    t.Environment,
		PeakLoad: float64(cfg.PeakLoad.ConcurrentCalls),
		LoadUnit: "concurrent calls",
		// The global component always enables both, and the policy pack refuses a
		// stack without them (cosmos-multi-region-write, cosmos-zone-redundant).
		CosmosMultiRegionWrite: true,
		CosmosZoneRedundant:    true,
		// Standard and Premium carry the Uptime SLA; Free has none.
		AKSStandardTier: tier == "standard" || tier == "premium",
	}
	for _, r := range t.Regions {
		region := Region{Name: r.Name}
		for _, s := range t.StampsIn(r.Name) {
			region.Stamps = append(region.Stamps, Stamp{
				Name:    s.ID,
				Zone:    strconv.Itoa(s.Zone),
				Nodes:   cfg.AKS.UserMinCount,
				Drained: s.Drained,
			})
		}
		out.Regions = append(out.Regions, region)
	}
	return out
}
