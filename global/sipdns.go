package global

import (
	"strings"

	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Private DNS (API 2020-06-01), registered by type token like the other network types.
const (
	PrivateZoneType      = "azure-native:network/v20200601:PrivateZone"
	PrivateRecordSetType = "azure-native:network/v20200601:PrivateRecordSet"
)

// sipRecordTTL is short, so a drain or weight change in config reaches SBCs within a minute.
const sipRecordTTL = 60

// sipDNS creates the stack's SIP zone: an A record per stamp for its dispatcher's internal
// load balancer, and the SRV sets SBCs resolve (topology.SRVSets). It is a private zone:
// every stamp VNet is linked to it, and operators resolve it from their network through
// their peering (a DNS forwarder or Azure DNS Private Resolver in a linked VNet).
func (g *Global) sipDNS(ctx *pulumi.Context, t topology.Topology, rg *resources.ResourceGroup, tags pulumi.StringMap) error {
	var zone arm.Resource
	if err := arm.Register(ctx, PrivateZoneType, "sip-zone", pulumi.Map{
		"privateZoneName": pulumi.String(t.SIP.Zone), "resourceGroupName": rg.Name,
		"location": pulumi.String("global"), "tags": tags,
	}, &zone, pulumi.Parent(g)); err != nil {
		return err
	}
	g.SIPZoneName = zone.Name
	record := func(name, typ string, props pulumi.Map) error {
		props["privateZoneName"] = zone.Name
		props["resourceGroupName"] = rg.Name
		props["recordType"] = pulumi.String(typ)
		props["relativeRecordSetName"] = pulumi.String(name)
		props["ttl"] = pulumi.Float64(sipRecordTTL)
		var rs arm.Resource
		return arm.Register(ctx, PrivateRecordSetType, "sip-"+strings.ToLower(typ)+"-"+name, props, &rs, pulumi.Parent(&zone))
	}
	for _, s := range t.Stamps {
		if err := record(t.SIPHostLabel(s), "A", pulumi.Map{
			"aRecords": pulumi.Array{pulumi.Map{"ipv4Address": pulumi.String(s.SIPDispatcherIP)}},
		}); err != nil {
			return err
		}
	}
	for _, set := range t.SRVSets() {
		var recs pulumi.Array
		for _, r := range set.Records {
			recs = append(recs, pulumi.Map{
				"priority": pulumi.Int(r.Priority), "weight": pulumi.Int(r.Weight),
				"port": pulumi.Int(r.Port), "target": pulumi.String(r.Target),
			})
		}
		if err := record(set.Name, "SRV", pulumi.Map{"srvRecords": recs}); err != nil {
			return err
		}
	}
	return nil
}
