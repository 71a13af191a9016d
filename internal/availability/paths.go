package availability

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// PathResult is the composite availability of one protocol path: the factors it crosses in
// series, the regions in parallel behind them, and the factor that bounds it.
type PathResult struct {
	Name      string
	Via       string
	Terms     []Term // in series with the regions
	Regions   float64
	Composite float64
	Bound     Term // the weakest factor in series
	Target    float64
}

// MeetsTarget reports whether the path reaches the five-nines target.
func (p PathResult) MeetsTarget() bool { return p.Composite >= p.Target }

// Paths evaluates each protocol path from the same result:
//
//   - HTTP (API, web clients): Traffic Manager's DNS answer, then a stamp; Traffic Manager is
//     in series.
//   - SIP and IMAP: the operator's SBCs (two or more, the operator's part, not modelled) look
//     up the stamps' SRV records in Azure DNS and try the next record when one stamp fails;
//     Traffic Manager is not on this path.
//
// Both cross Cosmos DB (every deposit and mailbox read) and the regions in parallel.
func Paths(r Result) []PathResult {
	var cosmos Term
	for _, t := range r.Global {
		if strings.HasPrefix(t.Name, "Cosmos DB") {
			cosmos = t
		}
	}
	http := []Term{term(TrafficManager), term(DNS), cosmos}
	sip := []Term{term(DNS), cosmos}
	mk := func(name, via string, ts []Term) PathResult {
		p := PathResult{Name: name, Via: via, Terms: ts, Regions: r.AllRegions, Target: r.Target,
			Composite: Serial(product(ts), r.AllRegions)}
		p.Bound = Term{Name: "the regions in parallel", Availability: r.AllRegions}
		for _, t := range ts {
			if t.Availability < p.Bound.Availability {
				p.Bound = t
			}
		}
		return p
	}
	return []PathResult{
		mk("HTTP", "Traffic Manager -> stamp", http),
		mk("SIP/IMAP", "operator SBCs -> SRV records (Azure DNS) -> stamp", sip),
	}
}

// WritePaths prints the per-path table next to the target.
func WritePaths(w io.Writer, r Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nPER PROTOCOL PATH (target %s)\n", Percent(r.Target))
	fmt.Fprintf(tw, "PATH\tVIA\tCOMPOSITE\tDOWNTIME/YEAR\tBOUNDED BY\tMEETS TARGET\n")
	for _, p := range Paths(r) {
		meets := "no"
		if p.MeetsTarget() {
			meets = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (%s)\t%s\n", p.Name, p.Via, Percent(p.Composite),
			formatDowntime(DowntimePerYear(p.Composite)), p.Bound.Name, Percent(p.Bound.Availability), meets)
	}
	fmt.Fprintf(tw, "The SBCs and the IMAP balancer are the operator's, two or more in parallel, and not counted.\n")
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write path table: %w", err)
	}
	return nil
}

// pathOutputs renders the paths for the stack output.
func pathOutputs(r Result) map[string]any {
	out := map[string]any{}
	for _, p := range Paths(r) {
		out[p.Name] = map[string]any{
			"via":              p.Via,
			"compositePercent": pct(p.Composite),
			"boundedBy":        p.Bound.Name,
			"boundPercent":     pct(p.Bound.Availability),
			"meetsTarget":      p.MeetsTarget(),
		}
	}
	return out
}
