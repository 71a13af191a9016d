package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Network configures the data planes' network exposure.
type Network struct {
	// DeployRunnerIPRanges are the public CIDRs of the deploy pipeline's runners. Empty (the
	// default) disables public network access on every data store; the pipeline must then run
	// inside a peered network. Non-empty keeps the registry and each region's package account
	// reachable from exactly these ranges (default action Deny) so the pipeline can push the
	// image and upload the manager package; Cosmos DB, audio storage and Key Vault stay private.
	DeployRunnerIPRanges []string `json:"deployRunnerIpRanges,omitempty"`
	// IMAPProxyRanges are the operator's IMAP load balancers (HAProxy with send-proxy-v2) in
	// front of the stamps' IMAP Services. Their connections start with a PROXY protocol header
	// naming the client, which the stamps believe from these ranges only, so per-source PIN
	// penalties and limits see subscribers rather than the balancer they share.
	IMAPProxyRanges []string `json:"imapProxyRanges,omitempty"`
}

// Maintenance staggers AKS auto-upgrades and node-OS updates. Every stamp gets one weekly
// window, used by both its aksManagedAutoUpgradeSchedule and aksManagedNodeOSUpgradeSchedule;
// windows of different zones or different regions never overlap.
type Maintenance struct {
	// DurationHours is each window's length; AKS accepts 4-24 hours.
	DurationHours int `json:"durationHours"`
	// ZoneStaggerHours separates the windows of a region's consecutive zones.
	ZoneStaggerHours int `json:"zoneStaggerHours"`
	// Windows gives each region's first-zone window (UTC). Regions left out get a slot
	// derived from their position; the result is validated the same way.
	Windows []MaintenanceWindow `json:"windows,omitempty"`
}

// MaintenanceWindow is a region's first weekly window, in UTC.
type MaintenanceWindow struct {
	Region    string `json:"region"`
	Day       string `json:"day"`       // Monday..Sunday
	StartTime string `json:"startTime"` // HH:MM, UTC
}

// Monitoring configures workspaces, alert routing and availability tests.
type Monitoring struct {
	// DailyCapGB caps each workspace's daily ingestion, so a logging storm cannot run up the
	// bill; ingestion stops for the day at the cap.
	DailyCapGB DailyCaps `json:"dailyCapGb"`
	// ActionGroups receive alerts; an alert of severity s goes to every group listing s.
	ActionGroups []ActionGroup `json:"actionGroups,omitempty"`
	// PlaceholderReceivers admits receivers in the domains reserved for documentation and
	// testing (example.com, *.example, *.test, *.invalid, localhost). Without it such a
	// receiver is an error: an alert sent there reaches nobody. The committed stack files set
	// it because their receivers are placeholders; the program warns on every run that does.
	PlaceholderReceivers bool `json:"placeholderReceivers,omitempty"`
	// HealthThreshold is the health score (0-1) below which a stamp, a region or the whole
	// deployment is unhealthy (red); below DegradedThreshold it is degraded (yellow).
	HealthThreshold   float64 `json:"healthThreshold"`
	DegradedThreshold float64 `json:"degradedThreshold"`
	// QueueBacklog is the deposit-queue message count that raises the backlog alert.
	QueueBacklog int `json:"queueBacklog"`
	// ReplicationLagMinutes is the Cosmos DB replication latency that raises its alert.
	ReplicationLagMinutes int `json:"replicationLagMinutes"`
	// AudioReplicationBacklog is the number of blob operations an object replication policy
	// may keep pending for a whole 15 minutes before the audio replication alert fires: a
	// backlog that never drains means replicas lag and reads fall back to the origin region.
	AudioReplicationBacklog int `json:"audioReplicationBacklog"`
	// CertificateExpiryDays raises the certificate-expiry alert this many days ahead.
	CertificateExpiryDays int `json:"certificateExpiryDays"`
	// ThrottledRequests is how many Cosmos DB requests answered 429 in five minutes raise the
	// throttling alert.
	ThrottledRequests int `json:"throttledRequests"`
}

// DailyCaps is the daily ingestion cap per workspace kind, in GB.
type DailyCaps struct {
	Global int `json:"global"`
	Region int `json:"region"`
	Stamp  int `json:"stamp"`
}

// ActionGroup is one alert receiver set.
type ActionGroup struct {
	Name       string   `json:"name"`
	ShortName  string   `json:"shortName"`
	Emails     []string `json:"emails,omitempty"`
	Webhooks   []string `json:"webhooks,omitempty"`
	Severities []int    `json:"severities"`
}

// Weekdays are AKS's dayOfWeek values, Monday first.
var Weekdays = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

const minutesPerWeek = 7 * 24 * 60

// Window is one stamp zone's resolved weekly maintenance window.
type Window struct {
	Region        string
	Zone          int
	Day           string // Monday..Sunday, UTC
	StartTime     string // HH:MM, UTC
	DurationHours int
	// Start is the window's start in minutes after Monday 00:00 UTC.
	Start int
	// Key is the config key the window comes from, for error messages.
	Key string
}

// End is the window's end in minutes after Monday 00:00 UTC (may exceed one week).
func (w Window) End() int { return w.Start + w.DurationHours*60 }

func (w Window) String() string {
	return fmt.Sprintf("%s zone %d %s %s UTC for %d h", w.Region, w.Zone, w.Day, w.StartTime, w.DurationHours)
}

var (
	hhmmRe      = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)
	agNameRe    = regexp.MustCompile(`^[a-z][a-z0-9-]{1,30}$`)
	agShortRe   = regexp.MustCompile(`^[A-Za-z0-9-]{1,12}$`)
	emailRe     = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	alertLevels = []int{0, 1, 2, 3}
)

// MaintenanceWindows resolves every (region, zone) window of the stack: a region's first zone
// starts at its configured (or derived) slot and each further zone ZoneStaggerHours later.
// Errors name the key; windows are returned in region, zone order.
func (c Config) MaintenanceWindows() ([]Window, []error) {
	var e errs
	m := c.Maintenance
	configured := map[string]int{}
	for i, w := range m.Windows {
		key := fmt.Sprintf("maintenance.windows[%d]", i)
		if _, dup := configured[w.Region]; dup {
			e.add(key+".region", "region %q has two windows", w.Region)
			continue
		}
		if !slices.ContainsFunc(c.Regions, func(r Region) bool { return r.Name == w.Region }) {
			e.add(key+".region", "region %q is not in voicemail:regions", w.Region)
			continue
		}
		if !slices.Contains(Weekdays, w.Day) {
			e.add(key+".day", "%q must be one of %s", w.Day, strings.Join(Weekdays, ", "))
		}
		if !hhmmRe.MatchString(w.StartTime) {
			e.add(key+".startTime", "%q must be HH:MM (UTC)", w.StartTime)
		}
		configured[w.Region] = i
	}
	if len(e) > 0 {
		return nil, e
	}
	var out []Window
	slot, maxZones := 0, 1
	for _, r := range c.Regions {
		maxZones = max(maxZones, len(r.Zones))
	}
	for _, r := range c.Regions {
		zones := append([]int(nil), r.Zones...)
		sort.Ints(zones)
		var base int
		key := "maintenance"
		if i, ok := configured[r.Name]; ok {
			w := m.Windows[i]
			hh, _ := strconv.Atoi(w.StartTime[:2])
			mm, _ := strconv.Atoi(w.StartTime[3:])
			base = slices.Index(Weekdays, w.Day)*24*60 + hh*60 + mm
			key = fmt.Sprintf("maintenance.windows[%d]", i)
		} else {
			// Derived: regions side by side within one zone stagger, then the next block of
			// days once a stagger is full.
			perBlock := max(1, m.ZoneStaggerHours/max(1, m.DurationHours))
			base = (slot%perBlock)*m.DurationHours*60 + (slot/perBlock)*maxZones*m.ZoneStaggerHours*60
		}
		slot++
		for j, z := range zones {
			start := (base + j*m.ZoneStaggerHours*60) % minutesPerWeek
			out = append(out, Window{
				Region: r.Name, Zone: z, DurationHours: m.DurationHours, Start: start, Key: key,
				Day: Weekdays[start/(24*60)], StartTime: fmt.Sprintf("%02d:%02d", start%(24*60)/60, start%60),
			})
		}
	}
	// No two zones of a region and no two regions may be in maintenance at once.
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			a, b := out[i], out[j]
			if overlaps(a, b) {
				key := b.Key
				if key == "maintenance" {
					key = a.Key
				}
				e.add(key, "window %s overlaps %s: no two zones of a region and no two regions may be in maintenance at once", b, a)
			}
		}
	}
	return out, e
}

// overlaps reports whether two weekly windows share a minute, including across the week's end.
func overlaps(a, b Window) bool {
	for _, shift := range []int{-minutesPerWeek, 0, minutesPerWeek} {
		if a.Start+shift < b.End() && b.Start < a.End()+shift {
			return true
		}
	}
	return false
}

func (c Config) validateOperations() []error {
	var e errs
	for i, r := range c.Network.IMAPProxyRanges {
		key := fmt.Sprintf("network.imapProxyRanges[%d]", i)
		if p, err := netip.ParsePrefix(r); err != nil {
			e.add(key, "%q is not a CIDR prefix", r)
		} else if p.Bits() < 8 {
			e.add(key, "%q is wider than /8: any address in it may name any client", r)
		}
	}
	for i, r := range c.Network.DeployRunnerIPRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil || !p.Addr().Is4() {
			e.add(fmt.Sprintf("network.deployRunnerIpRanges[%d]", i), "%q is not an IPv4 CIDR", r)
			continue
		}
		if p.Bits() < 16 || p.Addr().IsPrivate() {
			e.add(fmt.Sprintf("network.deployRunnerIpRanges[%d]", i), "%q must be a public range of /16 or narrower (the data planes' firewall is not a way to reopen them)", r)
		}
	}

	m := c.Maintenance
	if m.DurationHours < 4 || m.DurationHours > 24 {
		e.add("maintenance.durationHours", "%d: AKS maintenance windows last 4-24 hours", m.DurationHours)
	}
	if m.ZoneStaggerHours < m.DurationHours || m.ZoneStaggerHours > 72 {
		e.add("maintenance.zoneStaggerHours", "%d must be between durationHours (%d) and 72, so a region's zones are never in maintenance together", m.ZoneStaggerHours, m.DurationHours)
	}
	if len(e) == 0 {
		_, werrs := c.MaintenanceWindows()
		e = append(e, werrs...)
	}

	mo := c.Monitoring
	for name, v := range map[string]int{"global": mo.DailyCapGB.Global, "region": mo.DailyCapGB.Region, "stamp": mo.DailyCapGB.Stamp} {
		if v < 1 || v > 10000 {
			e.add("monitoring.dailyCapGb."+name, "%d must be 1-10000 GB", v)
		}
	}
	if mo.HealthThreshold <= 0 || mo.HealthThreshold >= 1 {
		e.add("monitoring.healthThreshold", "%g must be between 0 and 1", mo.HealthThreshold)
	}
	if mo.DegradedThreshold <= mo.HealthThreshold || mo.DegradedThreshold >= 1 {
		e.add("monitoring.degradedThreshold", "%g must be between healthThreshold (%g) and 1", mo.DegradedThreshold, mo.HealthThreshold)
	}
	if mo.QueueBacklog < 1 {
		e.add("monitoring.queueBacklog", "%d must be at least 1", mo.QueueBacklog)
	}
	if mo.ReplicationLagMinutes < 1 || mo.ReplicationLagMinutes > 1440 {
		e.add("monitoring.replicationLagMinutes", "%d must be 1-1440", mo.ReplicationLagMinutes)
	}
	if mo.AudioReplicationBacklog < 1 {
		e.add("monitoring.audioReplicationBacklog", "%d must be at least 1", mo.AudioReplicationBacklog)
	}
	if mo.ThrottledRequests < 1 {
		e.add("monitoring.throttledRequests", "%d must be at least 1", mo.ThrottledRequests)
	}
	if mo.CertificateExpiryDays < 1 || mo.CertificateExpiryDays > 90 {
		e.add("monitoring.certificateExpiryDays", "%d must be 1-90", mo.CertificateExpiryDays)
	}
	routed := map[int]bool{}
	names := map[string]bool{}
	for i, g := range mo.ActionGroups {
		key := fmt.Sprintf("monitoring.actionGroups[%d]", i)
		if !agNameRe.MatchString(g.Name) {
			e.add(key+".name", "%q must be 2-31 lowercase letters, digits or '-'", g.Name)
		}
		if names[g.Name] {
			e.add(key+".name", "%q is listed twice", g.Name)
		}
		names[g.Name] = true
		if !agShortRe.MatchString(g.ShortName) {
			e.add(key+".shortName", "%q must be 1-12 letters, digits or '-' (the SMS/email sender name)", g.ShortName)
		}
		if len(g.Emails)+len(g.Webhooks) == 0 {
			e.add(key, "needs at least one email or webhook receiver")
		}
		for j, m := range g.Emails {
			if !emailRe.MatchString(m) {
				e.add(fmt.Sprintf("%s.emails[%d]", key, j), "%q is not an email address", m)
			} else if _, domain, _ := strings.Cut(m, "@"); ReservedDomain(domain) && !mo.PlaceholderReceivers {
				e.add(fmt.Sprintf("%s.emails[%d]", key, j), "%q is in a domain reserved for examples, so its alerts reach nobody; name a real receiver (or set monitoring.placeholderReceivers: true for a stack that must not page anyone)", m)
			}
		}
		for j, w := range g.Webhooks {
			if !strings.HasPrefix(w, "https://") {
				e.add(fmt.Sprintf("%s.webhooks[%d]", key, j), "webhooks must use https://")
			} else if u, err := url.Parse(w); err == nil && ReservedDomain(u.Hostname()) && !mo.PlaceholderReceivers {
				e.add(fmt.Sprintf("%s.webhooks[%d]", key, j), "%q is in a domain reserved for examples, so its alerts reach nobody; name a real receiver (or set monitoring.placeholderReceivers: true for a stack that must not page anyone)", w)
			}
		}
		if len(g.Severities) == 0 {
			e.add(key+".severities", "list the alert severities (0-3) this group receives")
		}
		for j, s := range g.Severities {
			if !slices.Contains(alertLevels, s) {
				e.add(fmt.Sprintf("%s.severities[%d]", key, j), "%d: alert severities are 0 (critical) to 3", s)
			}
			routed[s] = true
		}
	}
	if len(mo.ActionGroups) > 0 {
		for _, s := range alertLevels {
			if !routed[s] {
				e.add("monitoring.actionGroups", "no group receives severity %d alerts; every severity the alerts use must reach someone", s)
			}
		}
	}
	return e
}

// reservedDomains are the names RFC 2606 and RFC 6761 reserve for documentation and testing:
// mail to them is never delivered.
var reservedDomains = []string{"example", "example.com", "example.net", "example.org", "test", "invalid", "localhost"}

// ReservedDomain reports whether a host name is, or lies under, a reserved name.
func ReservedDomain(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range reservedDomains {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// PlaceholderReceiverCount counts the receivers in reserved domains.
func (mo Monitoring) PlaceholderReceiverCount() int {
	n := 0
	for _, g := range mo.ActionGroups {
		for _, m := range g.Emails {
			if _, d, _ := strings.Cut(m, "@"); ReservedDomain(d) {
				n++
			}
		}
		for _, w := range g.Webhooks {
			if u, err := url.Parse(w); err == nil && ReservedDomain(u.Hostname()) {
				n++
			}
		}
	}
	return n
}

// ActionGroupsFor returns the names of the action groups that receive alerts of severity s.
func (mo Monitoring) ActionGroupsFor(s int) []string {
	var out []string
	for _, g := range mo.ActionGroups {
		if slices.Contains(g.Severities, s) {
			out = append(out, g.Name)
		}
	}
	return out
}
