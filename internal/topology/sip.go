package topology

import (
	"slices"
	"strings"
)

// Ports of the stamp's SIP ingress, on the dispatcher's internal load balancer.
const (
	SIPPort  = 5060
	SIPSPort = 5061
	IMAPPort = 143
)

// SRV is one SRV record of a set (RFC 2782).
type SRV struct {
	Priority, Weight, Port int
	Target                 string // a stamp's SIPHost
}

// SRVSet is one name of the SIP zone with its records; Name is relative to the zone.
type SRVSet struct {
	Name    string // e.g. "_sip._tcp" or "_sip._tcp.eastus2"
	Records []SRV
}

// SRVSets are the SRV names the program publishes in the SIP zone, so any SBC finds the stamps:
//
//   - "_sip._tcp", "_sip._udp", "_imap._tcp": every stamp in service; priority is the region's
//     place in the config (home region 1), weight the stamp's configured weight;
//   - the same three under "<region>." for SBCs near a region: that region's stamps at
//     priority 1, the others after it in config order;
//   - the same three under "<stamp key>." for one stamp alone (tests, pinning).
//
// A drained stamp is left out of the shared and regional sets (it keeps its own), so a drain
// in config moves new dialogs away once resolvers' caches expire.
func (t Topology) SRVSets() []SRVSet {
	services := []struct {
		prefix string
		port   int
	}{{"_sip._tcp", SIPPort}, {"_sip._udp", SIPPort}, {"_imap._tcp", IMAPPort}}
	var out []SRVSet
	add := func(suffix string, prio func(Stamp) int, stamps []Stamp) {
		for _, svc := range services {
			set := SRVSet{Name: svc.prefix + suffix}
			for _, s := range stamps {
				set.Records = append(set.Records, SRV{Priority: prio(s), Weight: s.Weight, Port: svc.port, Target: s.SIPHost})
			}
			if len(set.Records) > 0 {
				out = append(out, set)
			}
		}
	}
	var live []Stamp
	for _, s := range t.Stamps {
		if !s.Drained {
			live = append(live, s)
		}
	}
	add("", func(s Stamp) int { return s.RegionIndex + 1 }, live)
	for _, r := range t.Regions {
		add("."+r.Name, func(s Stamp) int {
			if s.Region == r.Name {
				return 1
			}
			// The others keep their config order behind the region itself.
			return 2 + s.RegionIndex - boolInt(s.RegionIndex > r.Index)
		}, live)
	}
	for _, s := range t.Stamps {
		add("."+s.Key, func(Stamp) int { return 1 }, []Stamp{s})
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SIPHostLabel is a stamp's SIPHost relative to the SIP zone (its A record's name).
func (t Topology) SIPHostLabel(s Stamp) string {
	return strings.TrimSuffix(s.SIPHost, "."+t.SIP.Zone)
}

// SRVNames lists the fully qualified SRV names, for stack outputs.
func (t Topology) SRVNames() []string {
	var out []string
	for _, set := range t.SRVSets() {
		out = append(out, set.Name+"."+t.SIP.Zone)
	}
	slices.Sort(out)
	return out
}
