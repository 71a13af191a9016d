package availability

import "fmt"

// Figure is one availability commitment with where it is written. Percent is
// the monthly uptime committed (99.99 = 99.99 %).
type Figure struct {
	Service string
	Percent float64
	Source  string
}

// Fraction returns the figure as a probability (99.99 % -> 0.9999).
func (f Figure) Fraction() float64 { return f.Percent / 100 }

// Component names a service whose SLA enters the model.
type Component int

// The components of the model.
const (
	TrafficManager Component = iota
	DNS
	CosmosMultiRegionWrite
	CosmosSingleWriteRegion
	CosmosSingleRegionZoned
	CosmosSingleRegion
	AKSStandardZoned
	AKSStandard
	AKSFree
	NodePool
	SingleNode
	LoadBalancer
	StorageZRS
)

// slaDoc is the consolidated Microsoft SLA document the figures come from.
const slaDoc = "Microsoft, Service Level Agreements (SLA) for Online Services " +
	"(https://www.microsoft.com/licensing/docs/view/Service-Level-Agreements-SLA-for-Online-Services)"

// SLA returns the documented figure for a component. Each case cites the
// section of the document the number is taken from; change a number only
// together with its citation.
func SLA(c Component) Figure {
	switch c {
	case TrafficManager:
		// Traffic Manager: valid DNS responses from at least one Traffic Manager
		// name server cluster at least 99.99 % of the time.
		return Figure{"Azure Traffic Manager", 99.99, slaDoc + ", Traffic Manager"}
	case DNS:
		// Azure DNS: valid DNS requests get a response from at least one Azure
		// DNS name server 100 % of the time.
		return Figure{"Azure DNS", 100, slaDoc + ", Azure DNS"}
	case CosmosMultiRegionWrite:
		// Azure Cosmos DB, availability table: two or more regions with multiple
		// write regions: 99.999 % for reads and writes.
		return Figure{"Cosmos DB, multi-region writes", 99.999, slaDoc + ", Azure Cosmos DB (multi-region writes)"}
	case CosmosSingleWriteRegion:
		// Same table: several regions, one write region: writes 99.99 % (reads
		// 99.999 %). Deposits write, so the write figure counts.
		return Figure{"Cosmos DB, single write region", 99.99, slaDoc + ", Azure Cosmos DB (single write region)"}
	case CosmosSingleRegionZoned:
		// Same table: one region with availability zones: 99.995 %.
		return Figure{"Cosmos DB, one region with zones", 99.995, slaDoc + ", Azure Cosmos DB (single region, availability zones)"}
	case CosmosSingleRegion:
		// Same table: one region without availability zones: 99.99 %.
		return Figure{"Cosmos DB, one region", 99.99, slaDoc + ", Azure Cosmos DB (single region)"}
	case AKSStandardZoned:
		// Azure Kubernetes Service, Uptime SLA (Standard tier): API server
		// 99.95 % for clusters that use availability zones.
		return Figure{"AKS API server, Standard tier, zones", 99.95, slaDoc + ", Azure Kubernetes Service (Uptime SLA, availability zones)"}
	case AKSStandard:
		// Same section: 99.9 % for Standard-tier clusters without zones.
		return Figure{"AKS API server, Standard tier", 99.9, slaDoc + ", Azure Kubernetes Service (Uptime SLA)"}
	case AKSFree:
		// The Free tier has no SLA; AKS documents a 99.5 % service level
		// objective. Not financially backed.
		return Figure{"AKS API server, Free tier (SLO)", 99.5, "Microsoft Learn, AKS Free, Standard and Premium pricing tiers (https://learn.microsoft.com/azure/aks/free-standard-pricing-tiers)"}
	case NodePool:
		// Virtual Machines: two or more instances in the same availability set
		// or dedicated host group: 99.95 %. A stamp's pool is two or more scale
		// set instances in one zone over fault domains: the closest figure.
		return Figure{"AKS nodes, 2+ VMs in one zone", 99.95, slaDoc + ", Virtual Machines (two or more instances, availability set)"}
	case SingleNode:
		// Virtual Machines: single instance with Premium SSD or Ultra Disk: 99.9 %.
		return Figure{"AKS nodes, single VM", 99.9, slaDoc + ", Virtual Machines (single instance, Premium SSD)"}
	case LoadBalancer:
		// Load Balancer: Standard SKU with two or more healthy backend
		// instances: 99.99 %. It fronts the stamp's public IP.
		return Figure{"Standard Load Balancer", 99.99, slaDoc + ", Load Balancer (Standard)"}
	case StorageZRS:
		// Storage Accounts: LRS, ZRS, GRS, GZRS hot tier: 99.9 % of read and
		// write requests succeed. Audio blobs and the fallback queue share it.
		return Figure{"Storage, ZRS/GZRS hot", 99.9, slaDoc + ", Storage Accounts (hot tier)"}
	}
	panic(fmt.Sprintf("availability: unknown component %d", int(c)))
}
