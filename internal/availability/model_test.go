package availability

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const eps = 1e-12

func TestSerialAndParallel(t *testing.T) {
	assert.InDelta(t, 0.81, Serial(0.9, 0.9), eps)
	assert.InDelta(t, 1.0, Serial(), eps)
	assert.InDelta(t, 0.99, Parallel(0.9, 0.9), eps)
	assert.InDelta(t, 0.999999, Parallel(0.99, 0.99, 0.99), eps)
	assert.InDelta(t, 0.0, Parallel(), eps)
	assert.InDelta(t, 0.9, Parallel(0.9, 0), eps)
}

func TestHeadroomAndCapacity(t *testing.T) {
	// The seed's examples: two regions need 100 % headroom, four need 33 %.
	assert.InDelta(t, 1.0, Headroom(2), eps)
	assert.InDelta(t, 1.0/3, Headroom(4), eps)
	assert.InDelta(t, 0.5, Headroom(3), eps)
	assert.InDelta(t, 0.2, Headroom(6), eps)
	assert.InDelta(t, 0.0, Headroom(1), eps)

	for _, tc := range []struct {
		peak    float64
		regions int
		want    float64
	}{
		{1200, 1, 1200}, // no redundancy: one region carries the peak
		{1200, 2, 1200}, // 600 even share + 100 %
		{1200, 3, 600},  // 400 even share + 50 %
		{1200, 4, 400},  // 300 even share + 33 %
		{0, 4, 0},
	} {
		got, err := RegionCapacity(tc.peak, tc.regions)
		require.NoError(t, err)
		assert.InDelta(t, tc.want, got, eps, "peak %g over %d regions", tc.peak, tc.regions)
		if tc.regions >= 2 {
			// Capacity is the even share grown by the headroom.
			assert.InDelta(t, tc.peak/float64(tc.regions)*(1+Headroom(tc.regions)), got, 1e-9)
		}
	}
	_, err := RegionCapacity(100, 0)
	assert.ErrorContains(t, err, "no regions")
	_, err = RegionCapacity(-1, 2)
	assert.ErrorContains(t, err, "negative peak")
}

func TestDowntimePerYear(t *testing.T) {
	// 1e-5 of a 365.25-day year = 315.576 s.
	assert.Equal(t, 315576*time.Millisecond, DowntimePerYear(0.99999))
	assert.Equal(t, time.Duration(0), DowntimePerYear(1))
	// 99.99 %: 52 min 35.76 s.
	assert.Equal(t, 52*time.Minute+35760*time.Millisecond, DowntimePerYear(0.9999))
}

func region(name string, stamps ...Stamp) Region { return Region{Name: name, Stamps: stamps} }

func TestEvaluateTwoRegionsHandComputed(t *testing.T) {
	top := Topology{
		Stack: "two", PeakLoad: 1000, LoadUnit: "calls",
		CosmosMultiRegionWrite: true, CosmosZoneRedundant: true, AKSStandardTier: true,
		Regions: []Region{
			region("westeurope", Stamp{Name: "weu-1", Zone: "1", Nodes: 3}),
			region("northeurope", Stamp{Name: "neu-1", Zone: "1", Nodes: 3}),
		},
	}
	r, err := Evaluate(top)
	require.NoError(t, err)
	// stamp     = AKS 0.9995 x nodes 0.9995 x LB 0.9999 = 0.998900349975
	// region    = stamp x storage 0.999 = 0.997901449625025
	// regions   = 1 - (1 - 0.997901449625025)^2 = 0.9999955960863237
	// composite = TM 0.9999 x DNS 1 x Cosmos 0.99999 x regions = 0.9998855975707498
	require.Len(t, r.Regions, 2)
	assert.InDelta(t, 0.998900349975, r.Regions[0].Stamp, eps)
	assert.InDelta(t, 0.997901449625025, r.Regions[0].Availability, eps)
	assert.InDelta(t, 0.9999955960863237, r.AllRegions, eps)
	assert.InDelta(t, 0.9998855975707498, r.Composite, eps)
	assert.False(t, r.MeetsTarget())
	assert.True(t, r.Redundant)
	assert.InDelta(t, 1.0, r.Headroom, eps)
	assert.InDelta(t, 1000, r.Regions[0].Capacity, eps)
	assert.InDelta(t, 1000, r.Regions[0].PerStamp, eps)
	assert.Equal(t, "Cosmos DB, multi-region writes", r.Global[2].Name)
}

func TestEvaluateSingleRegionDevHandComputed(t *testing.T) {
	top := Topology{
		Stack: "dev", PeakLoad: 50, LoadUnit: "calls",
		CosmosMultiRegionWrite: true, CosmosZoneRedundant: true, AKSStandardTier: false,
		Regions: []Region{region("westeurope",
			Stamp{Name: "weu-1", Zone: "1", Nodes: 1},
			Stamp{Name: "weu-2", Zone: "2", Nodes: 1})},
	}
	r, err := Evaluate(top)
	require.NoError(t, err)
	// stamp     = AKS Free SLO 0.995 x single VM 0.999 x LB 0.9999 = 0.9939055995
	// region    = (1 - (1 - 0.9939055995)^2) x 0.999 = (1 - 3.71417174544e-5) x 0.999 = 0.9989628954242631
	// composite = 0.9999 x 1 x Cosmos one region with zones 0.99995 x region = 0.9988130559847639
	assert.InDelta(t, 0.9939055995, r.Regions[0].Stamp, eps)
	assert.InDelta(t, 0.9989628954242631, r.Regions[0].Availability, eps)
	assert.InDelta(t, 0.9988130559847639, r.Composite, eps)
	assert.False(t, r.Redundant)
	assert.InDelta(t, 0, r.Headroom, eps)
	assert.InDelta(t, 50, r.Regions[0].Capacity, eps)
	assert.InDelta(t, 25, r.Regions[0].PerStamp, eps)
	assert.Equal(t, "Cosmos DB, one region with zones", r.Global[2].Name)
}

func TestEvaluateDrainedStampsAndCosmosChoice(t *testing.T) {
	top := Topology{
		PeakLoad: 900, CosmosMultiRegionWrite: false, AKSStandardTier: true,
		Regions: []Region{
			region("a", Stamp{Zone: "1", Nodes: 2}, Stamp{Zone: "2", Nodes: 2, Drained: true}),
			region("b", Stamp{Zone: "1", Nodes: 2, Drained: true}),
		},
	}
	r, err := Evaluate(top)
	require.NoError(t, err)
	// Region b has no active stamp, so it adds nothing; region a has one stamp.
	assert.Equal(t, 1, r.Regions[0].ActiveStamps)
	assert.Equal(t, 0, r.Regions[1].ActiveStamps)
	assert.InDelta(t, 0, r.Regions[1].Availability, eps)
	assert.InDelta(t, r.Regions[0].Availability, r.AllRegions, eps)
	// Two regions without multi-region writes: the single-write-region figure.
	assert.InDelta(t, 0.9999, r.Global[2].Availability, eps)
	assert.InDelta(t, 0.9999*1*0.9999*0.998900349975*0.999, r.Composite, eps)
	assert.InDelta(t, 900, r.Regions[0].PerStamp, eps)
}

func TestEvaluateRejectsBadTopology(t *testing.T) {
	_, err := Evaluate(Topology{PeakLoad: 10})
	assert.ErrorContains(t, err, "no regions")
	_, err = Evaluate(Topology{PeakLoad: 10, Regions: []Region{{}}})
	assert.ErrorContains(t, err, "without a name")
}

func TestEverySLAFigureIsCited(t *testing.T) {
	for c := TrafficManager; c <= StorageZRS; c++ {
		f := SLA(c)
		assert.NotEmpty(t, f.Service)
		assert.Contains(t, f.Source, "Microsoft", f.Service)
		assert.True(t, f.Percent > 99 && f.Percent <= 100, f.Service)
	}
}

func TestPercent(t *testing.T) {
	assert.Equal(t, "99.9886 %", Percent(0.9998855975707498))
	assert.Equal(t, "99.999 %", Percent(0.99999))
	assert.Equal(t, "99.99 %", Percent(0.9999))
	assert.Equal(t, "99.989 %", Percent(0.99989))
	assert.Equal(t, "99.9999999999 %", Percent(1-1e-12))
	assert.Equal(t, "99.9 %", Percent(0.999))
	assert.Equal(t, "100 %", Percent(1))
}

func prodLike() Topology {
	top := Topology{Stack: "prod", PeakLoad: 1200, LoadUnit: "concurrent calls",
		CosmosMultiRegionWrite: true, CosmosZoneRedundant: true, AKSStandardTier: true}
	for _, name := range []string{"westeurope", "northeurope", "swedencentral", "francecentral"} {
		top.Regions = append(top.Regions, region(name,
			Stamp{Zone: "1", Nodes: 3}, Stamp{Zone: "2", Nodes: 3}, Stamp{Zone: "3", Nodes: 3}))
	}
	return top
}

func TestWriteTable(t *testing.T) {
	r, err := Evaluate(prodLike())
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, r))
	out := buf.String()
	for _, want := range []string{
		"Stack prod: 4 region(s), 12 active stamp(s), peak 1200.0 concurrent calls",
		"Headroom over an even share: 33.3 % (N = 4, N/(N-1) = 1.333)",
		"westeurope", "400.0", "133.3",
		"Azure Traffic Manager", "99.99 %",
		"TARGET", "99.999 %", "downtime 5m16s/year",
		"BELOW the 99.999 % target; the weakest factor in series is Azure Traffic Manager",
		"Sources (SLA = Microsoft, Service Level Agreements (SLA) for Online Services", "[5] SLA, Traffic Manager",
	} {
		assert.Contains(t, out, want)
	}
}

func TestOutputsPublishFigures(t *testing.T) {
	r, err := Evaluate(prodLike())
	require.NoError(t, err)
	assert.InDelta(t, 1.0/3, r.Headroom, eps)

	out := Outputs(r)
	for _, k := range []string{"compositePercent", "targetPercent", "meetsTarget", "expectedDowntimeMinutesPerYear",
		"allowedDowntimeMinutesPerYear", "headroomPercent", "regions"} {
		assert.Contains(t, out, k)
	}
	assert.Equal(t, 99.999, out["targetPercent"])
	assert.Equal(t, r.MeetsTarget(), out["meetsTarget"])
	assert.Len(t, out["regions"], 4)
}

func TestAtLeast(t *testing.T) {
	assert.InDelta(t, Parallel(0.9, 0.8), AtLeast(1, 0.9, 0.8), eps)
	assert.InDelta(t, Serial(0.9, 0.8), AtLeast(2, 0.9, 0.8), eps)
	assert.InDelta(t, 1, AtLeast(0, 0.5), eps)
	assert.InDelta(t, 0, AtLeast(3, 0.9, 0.9), eps)
	// 3 of 4 regions at 0.999: a^4 + 4 a^3 (1-a) = 0.996005996001 + 0.003988011996.
	assert.InDelta(t, 0.999994007997, AtLeast(3, 0.999, 0.999, 0.999, 0.999), eps)
	// 2 of 3 mixed: ab(1-c) + a(1-b)c + (1-a)bc + abc with a=.9 b=.8 c=.7
	// = .216 + .126 + .056 + .504 = .902
	assert.InDelta(t, 0.902, AtLeast(2, 0.9, 0.8, 0.7), eps)
}

func TestFullPeakNeedsNMinusOneRegions(t *testing.T) {
	r, err := Evaluate(prodLike())
	require.NoError(t, err)
	region := r.Regions[0].Availability
	want := Serial(0.9999, 1, 0.99999, AtLeast(3, region, region, region, region))
	assert.InDelta(t, want, r.CompositeFullPeak, eps)
	assert.Less(t, r.CompositeFullPeak, r.Composite)

	// With two regions, one region carries the full peak: both figures agree.
	two, err := Evaluate(Topology{PeakLoad: 10, AKSStandardTier: true, CosmosMultiRegionWrite: true,
		Regions: []Region{region2("a"), region2("b")}})
	require.NoError(t, err)
	assert.InDelta(t, two.Composite, two.CompositeFullPeak, eps)
}

func region2(name string) Region {
	return region(name, Stamp{Zone: "1", Nodes: 2}, Stamp{Zone: "2", Nodes: 2})
}
