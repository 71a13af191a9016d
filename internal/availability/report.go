package availability

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Percent formats an availability with enough decimals to show its first
// digit below the nines, without trailing zeros (0.99988559 -> "99.9886 %").
func Percent(a float64) string {
	if a >= 1 {
		return "100 %"
	}
	if a <= 0 {
		return "0 %"
	}
	decimals := int(math.Ceil(-math.Log10(1-a) - 1e-9))
	decimals = min(max(decimals, 2), 12)
	scale := math.Pow(10, float64(decimals))
	return strconv.FormatFloat(math.Round(a*100*scale)/scale, 'f', -1, 64) + " %"
}

func formatLoad(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func formatDowntime(d time.Duration) string { return d.Round(time.Second).String() }

// limiter names the weakest factor in series, the one that bounds the composite.
func (r Result) limiter() Term {
	weakest := Term{Name: "the regions in parallel", Availability: r.AllRegions}
	for _, t := range r.Global {
		if t.Availability < weakest.Availability {
			weakest = t
		}
	}
	return weakest
}

// WriteTable prints the capacity and availability tables an operator reads.
func WriteTable(w io.Writer, r Result) error {
	active := 0
	for _, rr := range r.Regions {
		active += rr.ActiveStamps
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Stack %s: %d region(s), %d active stamp(s), peak %s %s\n\n",
		r.Stack, len(r.Regions), active, formatLoad(r.PeakLoad), r.LoadUnit)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	if r.Redundant {
		fmt.Fprintf(tw, "CAPACITY: each region carries peak/(N-1) so the others absorb the loss of any one\n")
	} else {
		fmt.Fprintf(tw, "CAPACITY: one region carries the whole peak; NO regional redundancy\n")
	}
	fmt.Fprintf(tw, "REGION\tACTIVE STAMPS\tCAPACITY\tPER STAMP\tONE STAMP\tREGION AVAILABILITY\n")
	for _, rr := range r.Regions {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", rr.Name, rr.ActiveStamps, formatLoad(rr.Capacity),
			formatLoad(rr.PerStamp), Percent(rr.Stamp), Percent(rr.Availability))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write capacity table: %w", err)
	}
	n := len(r.Regions)
	if r.Redundant {
		fmt.Fprintf(&b, "Headroom over an even share: %.1f %% (N = %d, N/(N-1) = %.3f)\n\n", r.Headroom*100, n, 1+r.Headroom)
	} else {
		fmt.Fprintf(&b, "Headroom over an even share: 0 %% (N = 1: losing the region loses the service)\n\n")
	}

	var sources []string
	ref := func(src string) string {
		for i, s := range sources {
			if s == src {
				return fmt.Sprintf("[%d]", i+1)
			}
		}
		sources = append(sources, src)
		return fmt.Sprintf("[%d]", len(sources))
	}
	fmt.Fprintf(&b, "AVAILABILITY: global services in series with the regions in parallel;\n")
	fmt.Fprintf(&b, "a region is its active stamps in parallel, in series with regional storage;\n")
	fmt.Fprintf(&b, "a stamp is its parts in series\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "FACTOR\tAVAILABILITY\tSOURCE\n")
	for _, t := range r.StampTerms {
		fmt.Fprintf(tw, "stamp: %s\t%s\t%s\n", t.Name, Percent(t.Availability), ref(t.Source))
	}
	for _, t := range r.RegionTerms {
		fmt.Fprintf(tw, "region: %s\t%s\t%s\n", t.Name, Percent(t.Availability), ref(t.Source))
	}
	for _, rr := range r.Regions {
		fmt.Fprintf(tw, "= region %s (%d stamps in parallel)\t%s\t\n", rr.Name, rr.ActiveStamps, Percent(rr.Availability))
	}
	fmt.Fprintf(tw, "= all regions in parallel\t%s\t\n", Percent(r.AllRegions))
	for _, t := range r.Global {
		fmt.Fprintf(tw, "global: %s\t%s\t%s\n", t.Name, Percent(t.Availability), ref(t.Source))
	}
	fmt.Fprintf(tw, "= COMPOSITE (service up)\t%s\tdowntime %s/year\n", Percent(r.Composite), formatDowntime(r.ExpectedDowntime()))
	if r.Redundant {
		fmt.Fprintf(tw, "= at full peak (%d of %d regions up)\t%s\tdowntime %s/year\n", len(r.Regions)-1, len(r.Regions),
			Percent(r.CompositeFullPeak), formatDowntime(DowntimePerYear(r.CompositeFullPeak)))
	}
	fmt.Fprintf(tw, "  TARGET\t%s\tdowntime %s/year\n", Percent(r.Target), formatDowntime(r.AllowedDowntime()))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write availability table: %w", err)
	}
	if r.MeetsTarget() {
		fmt.Fprintf(&b, "Result: meets the %s target.\n", Percent(r.Target))
	} else {
		l := r.limiter()
		fmt.Fprintf(&b, "Result: BELOW the %s target; the weakest factor in series is %s (%s).\n",
			Percent(r.Target), l.Name, Percent(l.Availability))
	}
	fmt.Fprintf(&b, "Figures are financially backed SLA minimums, not measurements.\n\nSources (SLA = %s):\n", slaDoc)
	for i, s := range sources {
		fmt.Fprintf(&b, "[%d] %s\n", i+1, strings.Replace(s, slaDoc, "SLA", 1))
	}
	if err := WritePaths(&b, r); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write availability report: %w", err)
	}
	return nil
}
