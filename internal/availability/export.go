package availability

import (
	"math"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// OutputName is the stack output that carries the availability figures.
const OutputName = "availability"

// pct turns a fraction into a percentage rounded to 1e-9, dropping float noise.
func pct(a float64) pulumi.Float64 { return pulumi.Float64(math.Round(a*1e11) / 1e9) }

// Outputs renders a result as the stack output value: stable keys, percentages
// as numbers, downtime in minutes per year.
func Outputs(r Result) pulumi.Map {
	regions := pulumi.Map{}
	for _, rr := range r.Regions {
		regions[rr.Name] = pulumi.Map{
			"activeStamps":        pulumi.Int(rr.ActiveStamps),
			"capacity":            pulumi.Float64(rr.Capacity),
			"capacityPerStamp":    pulumi.Float64(rr.PerStamp),
			"availabilityPercent": pct(rr.Availability),
		}
	}
	return pulumi.Map{
		"compositePercent":               pct(r.Composite),
		"compositeFullPeakPercent":       pct(r.CompositeFullPeak),
		"targetPercent":                  pct(r.Target),
		"meetsTarget":                    pulumi.Bool(r.MeetsTarget()),
		"expectedDowntimeMinutesPerYear": pulumi.Float64(r.ExpectedDowntime().Minutes()),
		"allowedDowntimeMinutesPerYear":  pulumi.Float64(r.AllowedDowntime().Minutes()),
		"regionalRedundancy":             pulumi.Bool(r.Redundant),
		"headroomPercent":                pct(r.Headroom),
		"peakLoad":                       pulumi.Float64(r.PeakLoad),
		"loadUnit":                       pulumi.String(r.LoadUnit),
		"regions":                        regions,
	}
}

// Export evaluates the topology and exports the figures as the "availability"
// stack output. main.go calls it once the topology is known.
func Export(ctx *pulumi.Context, t Topology) (Result, error) {
	r, err := Evaluate(t)
	if err != nil {
		return Result{}, err
	}
	ctx.Export(OutputName, Outputs(r))
	return r, nil
}
