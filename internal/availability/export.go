package availability

import "math"

// OutputName is the stack output that carries the availability figures.
const OutputName = "availability"

// pct turns a fraction into a percentage rounded to 1e-9, dropping float noise.
func pct(a float64) float64 { return math.Round(a*1e11) / 1e9 }

// Outputs renders a result as the stack output value: stable keys, percentages as numbers,
// downtime in minutes per year. Plain values, so this package stays free of the Pulumi SDK
// (its tests then link in seconds); internal/stack exports it.
func Outputs(r Result) map[string]any {
	regions := map[string]any{}
	for _, rr := range r.Regions {
		regions[rr.Name] = map[string]any{
			"activeStamps":        rr.ActiveStamps,
			"capacity":            rr.Capacity,
			"capacityPerStamp":    rr.PerStamp,
			"availabilityPercent": pct(rr.Availability),
		}
	}
	return map[string]any{
		"compositePercent":               pct(r.Composite),
		"compositeFullPeakPercent":       pct(r.CompositeFullPeak),
		"targetPercent":                  pct(r.Target),
		"meetsTarget":                    r.MeetsTarget(),
		"expectedDowntimeMinutesPerYear": r.ExpectedDowntime().Minutes(),
		"allowedDowntimeMinutesPerYear":  r.AllowedDowntime().Minutes(),
		"regionalRedundancy":             r.Redundant,
		"headroomPercent":                pct(r.Headroom),
		"peakLoad":                       r.PeakLoad,
		"loadUnit":                       r.LoadUnit,
		"regions":                        regions,
		"paths":                          pathOutputs(r),
	}
}
