// Package availability models what a stack's topology gives: per-region
// capacity and headroom for losing one region, and composite availability from
// documented component SLAs. It is plain Go so the slo command, tests and the
// Pulumi program share one set of formulas.
package availability

import (
	"errors"
	"fmt"
	"time"
)

// Target is the platform's availability goal: five nines.
const Target = 0.99999

// year is the Julian year (365.25 days) used for downtime budgets.
const year = time.Duration(365.25 * 24 * float64(time.Hour))

// Topology is what the model needs from a stack's config.
type Topology struct {
	Stack    string
	Regions  []Region
	PeakLoad float64 // expected peak, in LoadUnit
	LoadUnit string
	// CosmosMultiRegionWrite: every region accepts writes.
	CosmosMultiRegionWrite bool
	// CosmosZoneRedundant: every Cosmos location is zone redundant.
	CosmosZoneRedundant bool
	// AKSStandardTier: clusters carry the Uptime SLA (Standard tier) rather than Free.
	AKSStandardTier bool
}

// Region is one Azure region and the stamps it runs.
type Region struct {
	Name   string
	Stamps []Stamp
}

// Stamp is one AKS stamp pinned to one zone.
type Stamp struct {
	Name    string
	Zone    string
	Nodes   int  // minimum nodes in the stamp's user pool
	Drained bool // drained stamps take no traffic
}

// Serial is the availability of components that must all be up.
func Serial(as ...float64) float64 {
	p := 1.0
	for _, a := range as {
		p *= a
	}
	return p
}

// Parallel is the availability of redundant components of which one suffices.
// With no components nothing is up.
func Parallel(as ...float64) float64 {
	if len(as) == 0 {
		return 0
	}
	down := 1.0
	for _, a := range as {
		down *= 1 - a
	}
	return 1 - down
}

// AtLeast is the probability that at least k of the independent components are
// up. AtLeast(1, ...) is Parallel and AtLeast(len, ...) is Serial.
func AtLeast(k int, as ...float64) float64 {
	if k <= 0 {
		return 1
	}
	// up[j] is the probability that exactly j of the components seen so far are up.
	up := make([]float64, len(as)+1)
	up[0] = 1
	for i, a := range as {
		for j := i + 1; j >= 1; j-- {
			up[j] = up[j]*(1-a) + up[j-1]*a
		}
		up[0] *= 1 - a
	}
	p := 0.0
	for j := k; j <= len(as); j++ {
		p += up[j]
	}
	return p
}

// DowntimePerYear is the expected downtime in a (Julian) year at availability a.
func DowntimePerYear(a float64) time.Duration {
	// Rounded to the millisecond: finer digits are float noise.
	return time.Duration((1 - a) * float64(year)).Round(time.Millisecond)
}

// Headroom is the extra capacity each region carries over an even share so that
// the others absorb the loss of any one region: N/(N-1) - 1 (2 regions: 1.0,
// i.e. 100 %; 4 regions: 1/3, i.e. 33 %). One region has no redundancy: 0.
func Headroom(regions int) float64 {
	if regions < 2 {
		return 0
	}
	n := float64(regions)
	return n/(n-1) - 1
}

// RegionCapacity is the peak load each region must carry alone: peak/(N-1) for
// N >= 2 regions; a single region carries the whole peak.
func RegionCapacity(peak float64, regions int) (float64, error) {
	if regions < 1 {
		return 0, errors.New("availability: no regions")
	}
	if peak < 0 {
		return 0, fmt.Errorf("availability: negative peak load %g", peak)
	}
	if regions == 1 {
		return peak, nil
	}
	return peak / float64(regions-1), nil
}

// Term is one factor of the composite with the figure it comes from.
type Term struct {
	Name         string
	Availability float64
	Source       string
}

// RegionResult is the model's view of one region.
type RegionResult struct {
	Name         string
	ActiveStamps int
	Capacity     float64 // load the region must carry alone
	PerStamp     float64 // share of Capacity per active stamp
	Stamp        float64 // availability of one stamp (serial over its parts)
	Availability float64 // stamps in parallel, then serial with regional storage
}

// Result is everything the slo table and the stack outputs show.
type Result struct {
	Stack     string
	LoadUnit  string
	PeakLoad  float64
	Redundant bool    // survives the loss of a region
	Headroom  float64 // fraction over an even share (0.333 = 33 %)
	Regions   []RegionResult
	// Global terms in series with the regions: Traffic Manager, DNS, Cosmos.
	Global []Term
	// StampTerms and RegionTerms are the per-stamp and per-region factors.
	StampTerms  []Term
	RegionTerms []Term
	// AllRegions is the regions in parallel: the service is up while any one is.
	AllRegions float64
	Composite  float64
	// FullPeakRegions is the probability that enough regions are up to carry the
	// whole peak: N-1 of N, since each region is sized for peak/(N-1).
	FullPeakRegions   float64
	CompositeFullPeak float64
	Target            float64
}

// MeetsTarget reports whether the composite reaches the five-nines target.
func (r Result) MeetsTarget() bool { return r.Composite >= r.Target }

// AllowedDowntime is the yearly downtime the target allows.
func (r Result) AllowedDowntime() time.Duration { return DowntimePerYear(r.Target) }

// ExpectedDowntime is the yearly downtime the composite implies.
func (r Result) ExpectedDowntime() time.Duration { return DowntimePerYear(r.Composite) }

func term(c Component) Term {
	f := SLA(c)
	return Term{Name: f.Service, Availability: f.Fraction(), Source: f.Source}
}

// cosmosTerm picks the Cosmos DB figure that applies to the account's layout.
func cosmosTerm(t Topology) Term {
	switch {
	case len(t.Regions) >= 2 && t.CosmosMultiRegionWrite:
		return term(CosmosMultiRegionWrite)
	case len(t.Regions) >= 2:
		return term(CosmosSingleWriteRegion)
	case t.CosmosZoneRedundant:
		return term(CosmosSingleRegionZoned)
	default:
		return term(CosmosSingleRegion)
	}
}

// stampTerms are the parts of one stamp in series: the AKS control plane, its
// node pool and the load balancer in front of it.
func stampTerms(t Topology, s Stamp) []Term {
	aks := term(AKSFree)
	if t.AKSStandardTier {
		aks = term(AKSStandardZoned)
	}
	nodes := term(SingleNode)
	if s.Nodes >= 2 {
		nodes = term(NodePool)
	}
	return []Term{aks, nodes, term(LoadBalancer)}
}

func product(ts []Term) float64 {
	p := 1.0
	for _, t := range ts {
		p *= t.Availability
	}
	return p
}

// Evaluate computes capacity and composite availability for a topology.
//
//	composite = TrafficManager x DNS x Cosmos x Parallel(regions)
//	full peak = TrafficManager x DNS x Cosmos x AtLeast(N-1 of N regions)
//	region    = Parallel(active stamps) x regional storage
//	stamp     = AKS API server x node pool x load balancer
func Evaluate(t Topology) (Result, error) {
	capacity, err := RegionCapacity(t.PeakLoad, len(t.Regions))
	if err != nil {
		return Result{}, err
	}
	res := Result{
		Stack:       t.Stack,
		LoadUnit:    t.LoadUnit,
		PeakLoad:    t.PeakLoad,
		Redundant:   len(t.Regions) >= 2,
		Headroom:    Headroom(len(t.Regions)),
		Global:      []Term{term(TrafficManager), term(DNS), cosmosTerm(t)},
		RegionTerms: []Term{term(StorageZRS)},
		Target:      Target,
	}
	regional := product(res.RegionTerms)
	var regionAvail []float64
	for _, r := range t.Regions {
		if r.Name == "" {
			return Result{}, errors.New("availability: region without a name")
		}
		rr := RegionResult{Name: r.Name, Capacity: capacity}
		var stamps []float64
		for _, s := range r.Stamps {
			if s.Drained {
				continue
			}
			ts := stampTerms(t, s)
			if res.StampTerms == nil {
				res.StampTerms = ts
			}
			rr.Stamp = product(ts)
			stamps = append(stamps, rr.Stamp)
		}
		rr.ActiveStamps = len(stamps)
		if rr.ActiveStamps > 0 {
			rr.PerStamp = capacity / float64(rr.ActiveStamps)
		}
		rr.Availability = Serial(Parallel(stamps...), regional)
		regionAvail = append(regionAvail, rr.Availability)
		res.Regions = append(res.Regions, rr)
	}
	res.AllRegions = Parallel(regionAvail...)
	res.Composite = Serial(product(res.Global), res.AllRegions)
	res.FullPeakRegions = AtLeast(max(len(regionAvail)-1, 1), regionAvail...)
	res.CompositeFullPeak = Serial(product(res.Global), res.FullPeakRegions)
	return res, nil
}
