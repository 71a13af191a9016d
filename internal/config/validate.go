package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/naming"
)

var (
	envRe     = regexp.MustCompile(`^[a-z][a-z0-9]{1,4}$`)
	prefixRe  = regexp.MustCompile(`^[a-z][a-z0-9]{1,5}$`)
	regionRe  = regexp.MustCompile(`^[a-z][a-z0-9]{2,29}$`)
	shortRe   = regexp.MustCompile(`^[a-z][a-z0-9]{1,5}$`)
	versionRe = regexp.MustCompile(`^[a-z][a-z0-9]{0,5}$`)
	vmSizeRe  = regexp.MustCompile(`^Standard_[A-Za-z0-9_]+$`)
	k8sVerRe  = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`)
	// registry/repository[:tag][@sha256:digest], with a tag or a digest.
	// A flat blob name (no virtual folders) ending in .zip, as "manager package" prints it.
	packageRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,250}\.zip$`)
	imageRe   = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]{1,128})?(@sha256:[a-f0-9]{64})?$`)
)

// MaxStampsPerRegion bounds the per-region address plan (one /16 per stamp).
const MaxStampsPerRegion = 15

// MaxRegions bounds the address plan (one /12 of 10.0.0.0/8 per region).
const MaxRegions = 16

// NodeOSUpgradeChannels are the node OS upgrade channels a stack may choose: those of the
// pinned AKS API (containerservice 2023-06-01 accepts NodeImage, None and Unmanaged;
// SecurityPatch needs 2024-05-01 or later) that keep nodes patched (not None).
var NodeOSUpgradeChannels = []string{"NodeImage", "Unmanaged"}

// MinKubernetesMinor is the oldest Kubernetes 1.x minor the workload's pod spec runs on: its
// preStop hook uses the sleep action, beta and on by default from 1.30
// (https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/#hook-handler-implementations).
const MinKubernetesMinor = 30

// ServicePortsBesidesRTP are the stamp Service's ports other than one RTP port per call
// (HTTP, SIP over UDP and TCP, IMAP).
const ServicePortsBesidesRTP = 4

// MaxLoadBalancerRulesPerNIC is Azure's limit of load-balancing rules a node's NIC may be in
// (https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/azure-subscription-service-limits#load-balancer):
// every port of a LoadBalancer Service is one rule on every node, so a pod's calls are bounded
// by it.
const MaxLoadBalancerRulesPerNIC = 300

// Validate checks every rule that needs no Azure call. Errors name the key.
// dnsZoneRe is a lower-case DNS name of two or more labels.
var dnsZoneRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

func (c Config) Validate() []error {
	var e errs
	if !envRe.MatchString(c.Environment) {
		e.add("environment", "%q must be 2-5 lowercase letters/digits starting with a letter (it is part of every resource name)", c.Environment)
	}
	if !prefixRe.MatchString(c.NamePrefix) {
		e.add("namePrefix", "%q must be 2-6 lowercase letters/digits starting with a letter (storage account names allow only those, at most 24 characters)", c.NamePrefix)
	}

	if len(c.Regions) == 0 {
		e.add("regions", "at least one region is required")
	}
	if len(c.Regions) > MaxRegions {
		e.add("regions", "%d regions, at most %d are supported by the address plan", len(c.Regions), MaxRegions)
	}
	regionZones := map[string][]int{}
	shorts := map[string]int{}
	for i, r := range c.Regions {
		key := fmt.Sprintf("regions[%d]", i)
		if !regionRe.MatchString(r.Name) {
			e.add(key+".name", "%q is not an Azure region name (lowercase, e.g. eastus2)", r.Name)
			continue
		}
		if _, dup := regionZones[r.Name]; dup {
			e.add(key+".name", "region %q is listed twice", r.Name)
			continue
		}
		short := r.Short
		if short == "" {
			s, ok := naming.RegionShort(r.Name)
			if !ok {
				e.add(key+".short", "region %q has no known short code or availability zones; set short explicitly if it has zones", r.Name)
			}
			short = s
		} else if !shortRe.MatchString(short) {
			e.add(key+".short", "%q must be 2-6 lowercase letters/digits", short)
		}
		if j, dup := shorts[short]; dup && short != "" {
			e.add(key+".short", "short code %q is already used by regions[%d]", short, j)
		}
		shorts[short] = i
		if len(r.Zones) == 0 {
			e.add(key+".zones", "at least one availability zone is required")
		}
		seen := map[int]bool{}
		for j, z := range r.Zones {
			if z < 1 || z > 3 {
				e.add(fmt.Sprintf("%s.zones[%d]", key, j), "zone %d: Azure availability zones are 1, 2 or 3", z)
			}
			if seen[z] {
				e.add(fmt.Sprintf("%s.zones[%d]", key, j), "zone %d is listed twice", z)
			}
			seen[z] = true
		}
		regionZones[r.Name] = r.Zones
	}

	if len(c.Stamps) == 0 {
		e.add("stamps", "at least one stamp is required")
	}
	type sk struct {
		region  string
		zone    int
		version string
	}
	stampSeen := map[sk]int{}
	perRegion := map[string]int{}
	active := 0
	for i, s := range c.Stamps {
		key := fmt.Sprintf("stamps[%d]", i)
		zones, ok := regionZones[s.Region]
		if !ok {
			e.add(key+".region", "region %q is not in voicemail:regions", s.Region)
		} else if !slices.Contains(zones, s.Zone) {
			e.add(key+".zone", "zone %d is not one of region %s's zones %v", s.Zone, s.Region, zones)
		}
		if !versionRe.MatchString(s.Version) {
			e.add(key+".version", "%q must be 1-6 lowercase letters/digits starting with a letter", s.Version)
		}
		if s.Weight < 1 || s.Weight > 1000 {
			e.add(key+".weight", "%d is out of Traffic Manager's range 1-1000", s.Weight)
		}
		k := sk{s.Region, s.Zone, s.Version}
		if j, dup := stampSeen[k]; dup {
			e.add(key, "duplicate of stamps[%d] (%s zone %d version %s)", j, s.Region, s.Zone, s.Version)
		}
		stampSeen[k] = i
		perRegion[s.Region]++
		if !s.Drained {
			active++
		}
	}
	if len(c.Stamps) > 0 && active == 0 {
		e.add("stamps", "every stamp is drained; at least one must take traffic")
	}
	for i, r := range c.Regions {
		if perRegion[r.Name] == 0 && len(c.Stamps) > 0 {
			e.add(fmt.Sprintf("regions[%d]", i), "region %q has no stamps (every region is a Cosmos write region and counts toward capacity)", r.Name)
		}
		if perRegion[r.Name] > MaxStampsPerRegion {
			e.add(fmt.Sprintf("regions[%d]", i), "region %q has %d stamps, at most %d", r.Name, perRegion[r.Name], MaxStampsPerRegion)
		}
	}

	if c.PeakLoad.ConcurrentCalls < 1 {
		e.add("peakLoad.concurrentCalls", "%d: the expected peak must be at least 1", c.PeakLoad.ConcurrentCalls)
	}
	if c.PeakLoad.RequestsPerSecond < 1 {
		e.add("peakLoad.requestsPerSecond", "%d: the expected peak must be at least 1", c.PeakLoad.RequestsPerSecond)
	}
	if c.ReplicaCapacity.ConcurrentCalls < 1 {
		e.add("replicaCapacity.concurrentCalls", "%d must be at least 1", c.ReplicaCapacity.ConcurrentCalls)
	} else if n := c.ReplicaCapacity.ConcurrentCalls + ServicePortsBesidesRTP; n > MaxLoadBalancerRulesPerNIC {
		e.add("replicaCapacity.concurrentCalls", "%d: one RTP port per call plus %d other ports is %d load-balancer rules, Azure allows %d per node NIC", c.ReplicaCapacity.ConcurrentCalls, ServicePortsBesidesRTP, n, MaxLoadBalancerRulesPerNIC)
	}
	if c.ReplicaCapacity.RequestsPerSecond < 1 {
		e.add("replicaCapacity.requestsPerSecond", "%d must be at least 1", c.ReplicaCapacity.RequestsPerSecond)
	}
	if c.ReplicaCapacity.MinReplicas < 2 {
		e.add("replicaCapacity.minReplicas", "%d: at least 2 so a disruption budget can keep one running", c.ReplicaCapacity.MinReplicas)
	}

	if c.Image == "" {
		e.add("image", "required: the voicemail container image, registry/repository@sha256:<digest>")
	} else if m := imageRe.FindStringSubmatch(c.Image); m == nil || m[2] == "" && m[3] == "" {
		e.add("image", "%q must be registry/repository with a :tag or @sha256:<digest>", c.Image)
	}

	switch sip := c.SIP; {
	case sip.DispatcherImage == "":
		e.add("sip.dispatcherImage", "required: the SIP dispatcher image, registry/repository@sha256:<digest>")
	case imageRe.FindStringSubmatch(sip.DispatcherImage) == nil || imageRe.FindStringSubmatch(sip.DispatcherImage)[3] == "":
		e.add("sip.dispatcherImage", "%q must be registry/repository@sha256:<digest>", sip.DispatcherImage)
	}
	if c.SIP.DispatcherReplicas < 2 {
		e.add("sip.dispatcherReplicas", "%d: at least 2 so a rollout or a lost node keeps one", c.SIP.DispatcherReplicas)
	}
	if n := c.SIP.IdleTimeoutMinutes; n < 4 || n > 100 {
		// Azure Load Balancer accepts a TCP idle timeout of 4 to 100 minutes.
		e.add("sip.idleTimeoutMinutes", "%d must be 4-100 (Azure Load Balancer's range)", n)
	}
	// Every stamp exposes SIP to the SBCs through its dispatcher, which admits calls and
	// subscriptions only from these prefixes: without them no call could reach a stamp.
	if len(c.SIP.SBCPrefixes) == 0 {
		e.add("sip.sbcPrefixes", "required: the operator's SBC addresses (CIDR prefixes); each stamp's dispatcher admits INVITE and SUBSCRIBE, and believes P-Asserted-Identity, only from them")
	}
	for i, p := range c.SIP.SBCPrefixes {
		pfx, err := netip.ParsePrefix(p)
		switch {
		case err != nil:
			e.add(fmt.Sprintf("sip.sbcPrefixes[%d]", i), "%q is not a CIDR prefix like 192.0.2.0/28", p)
		case pfx.Bits() < 8 || (pfx.Addr().Is6() && pfx.Bits() < 32):
			e.add(fmt.Sprintf("sip.sbcPrefixes[%d]", i), "%q is too broad to name SBCs (at least /8, /32 for IPv6)", p)
		case pfx.Masked() != pfx:
			e.add(fmt.Sprintf("sip.sbcPrefixes[%d]", i), "%q has host bits set; write %s", p, pfx.Masked())
		case documentationPrefix(pfx) && !c.SIP.PlaceholderPeers:
			e.add(fmt.Sprintf("sip.sbcPrefixes[%d]", i), "%q is reserved for documentation, so no SBC sends from it and no call would reach a stamp; name the operator's SBCs (or set sip.placeholderPeers: true for a stack that takes no calls)", p)
		}
	}
	for i, d := range c.SIP.MWIDomains {
		switch {
		case !contract.ValidMWIDomain(d):
			e.add(fmt.Sprintf("sip.mwiDomains[%d]", i), "%q is not a domain name or IP address", d)
		case ReservedDomain(d) && !c.SIP.PlaceholderPeers:
			e.add(fmt.Sprintf("sip.mwiDomains[%d]", i), "%q is reserved for examples, so no MWI would be delivered; name the operator's domains (or set sip.placeholderPeers: true)", d)
		}
	}
	if z := c.SIP.DNSZone; z != "" && !dnsZoneRe.MatchString(z) {
		e.add("sip.dnsZone", "%q is not a DNS zone name", z)
	}

	tm := c.TrafficManager
	if !slices.Contains([]string{"Performance", "Weighted", "Priority"}, tm.RoutingMethod) {
		e.add("trafficManager.routingMethod", "%q must be Performance, Weighted or Priority", tm.RoutingMethod)
	}
	// Stamps serve the API and their health path over HTTPS on 443 only (the edge certificate from
	// Key Vault); an HTTP probe would find nothing and take every stamp out of DNS. Traffic
	// Manager's HTTPS probe checks that a certificate is presented, not that it is valid, so a
	// renewal never fails it.
	// https://learn.microsoft.com/azure/traffic-manager/traffic-manager-monitoring
	if tm.Protocol != "HTTPS" {
		e.add("trafficManager.protocol", "%q: must be HTTPS, the only protocol the stamps' API serves", tm.Protocol)
	}
	if tm.Port != 443 {
		e.add("trafficManager.port", "%d: must be 443, where the stamps serve HTTPS", tm.Port)
	}
	if tm.TTL < 1 || tm.TTL > 30 {
		e.add("trafficManager.ttl", "%d s: DNS TTL must be 1-30 s so clients follow failover quickly", tm.TTL)
	}
	if tm.IntervalSeconds != 10 && tm.IntervalSeconds != 30 {
		e.add("trafficManager.intervalSeconds", "%d: Traffic Manager probes every 10 or 30 s", tm.IntervalSeconds)
	}
	maxTimeout := 10
	if tm.IntervalSeconds == 10 {
		maxTimeout = 9
	}
	if tm.TimeoutSeconds < 5 || tm.TimeoutSeconds > maxTimeout {
		e.add("trafficManager.timeoutSeconds", "%d: must be 5-%d s for a %d s interval", tm.TimeoutSeconds, maxTimeout, tm.IntervalSeconds)
	}
	if tm.ToleratedFailures < 0 || tm.ToleratedFailures > 9 {
		e.add("trafficManager.toleratedFailures", "%d must be 0-9", tm.ToleratedFailures)
	}
	if tm.HealthWindowSeconds < 10 || tm.HealthWindowSeconds > 600 {
		e.add("trafficManager.healthWindowSeconds", "%d s must be 10-600 (the stamps' health-model window)", tm.HealthWindowSeconds)
	}

	a := c.AKS
	if a.KubernetesVersion != "" {
		if m := k8sVerRe.FindStringSubmatch(a.KubernetesVersion); m == nil {
			e.add("aks.kubernetesVersion", "%q must look like 1.30 or 1.30.4", a.KubernetesVersion)
		} else if major, minor, _ := strings.Cut(a.KubernetesVersion, "."); major != "1" || atoi(strings.Split(minor, ".")[0]) < MinKubernetesMinor {
			e.add("aks.kubernetesVersion", "%q: the workload's pod spec (preStop sleep) needs Kubernetes 1.%d or later", a.KubernetesVersion, MinKubernetesMinor)
		}
	}
	if a.Tier != "Free" && a.Tier != "Standard" && a.Tier != "Premium" {
		e.add("aks.tier", "%q must be Free, Standard or Premium", a.Tier)
	}
	if !vmSizeRe.MatchString(a.SystemVMSize) {
		e.add("aks.systemVmSize", "%q is not a VM size (Standard_...)", a.SystemVMSize)
	}
	if !vmSizeRe.MatchString(a.UserVMSize) {
		e.add("aks.userVmSize", "%q is not a VM size (Standard_...)", a.UserVMSize)
	}
	if a.SystemNodeCount < 1 || a.SystemNodeCount > 100 {
		e.add("aks.systemNodeCount", "%d must be 1-100", a.SystemNodeCount)
	}
	if a.UserMinCount < 1 || a.UserMinCount > 1000 {
		e.add("aks.userMinCount", "%d must be 1-1000", a.UserMinCount)
	}
	if a.UserMaxCount < a.UserMinCount || a.UserMaxCount > 1000 {
		e.add("aks.userMaxCount", "%d must be between userMinCount (%d) and 1000", a.UserMaxCount, a.UserMinCount)
	}
	if a.MaxPods < 10 || a.MaxPods > 250 {
		e.add("aks.maxPods", "%d must be 10-250", a.MaxPods)
	}
	if !slices.Contains([]string{"patch", "stable", "rapid", "node-image"}, a.UpgradeChannel) {
		e.add("aks.upgradeChannel", "%q must be patch, stable, rapid or node-image (automatic upgrades are required)", a.UpgradeChannel)
	}
	if !slices.Contains(NodeOSUpgradeChannels, a.NodeOSUpgradeChannel) {
		e.add("aks.nodeOsUpgradeChannel", "%q must be one of %s (nodes must be patched, and the pinned AKS API 2023-06-01 has no SecurityPatch)", a.NodeOSUpgradeChannel, strings.Join(NodeOSUpgradeChannels, ", "))
	}

	if c.Cosmos.MaxThroughput < 1000 || c.Cosmos.MaxThroughput > 1000000 || c.Cosmos.MaxThroughput%1000 != 0 {
		e.add("cosmos.maxThroughput", "%d RU/s: autoscale maximum must be a multiple of 1000 between 1000 and 1000000", c.Cosmos.MaxThroughput)
	}
	if c.Cosmos.BackupTier != "Continuous7Days" && c.Cosmos.BackupTier != "Continuous30Days" {
		e.add("cosmos.backupTier", "%q must be Continuous7Days or Continuous30Days", c.Cosmos.BackupTier)
	}
	if !slices.Contains([]string{"Standard_ZRS", "Standard_GZRS", "Standard_RAGZRS", "Premium_ZRS"}, c.Storage.SKU) {
		e.add("storage.sku", "%q must be zone-redundant: Standard_ZRS, Standard_GZRS, Standard_RAGZRS or Premium_ZRS", c.Storage.SKU)
	}
	if c.Functions.Enabled && !regexp.MustCompile(`^(B[1-3]|S[1-3]|P[0-3]v[23]|P[1-3]mv3|EP[1-3])$`).MatchString(c.Functions.PlanSKU) {
		e.add("functions.planSku", "%q is not a Linux App Service/Functions plan SKU (e.g. P1v3, EP1, B1)", c.Functions.PlanSKU)
	}
	if p := c.Functions.Package; p != "" && (!packageRe.MatchString(p) || strings.Contains(p, "..")) {
		e.add("functions.package", "%q must be a blob name of letters, digits, '.', '_' and '-' (no '/', no '..'), at most 255 characters, ending in .zip (e.g. the manager-<hash>.zip that \"manager package\" prints)", p)
	}
	if c.Jumpbox.Enabled {
		if !vmSizeRe.MatchString(c.Jumpbox.VMSize) {
			e.add("jumpbox.vmSize", "%q is not a VM size (Standard_...)", c.Jumpbox.VMSize)
		}
		if c.Jumpbox.Instances < 1 || c.Jumpbox.Instances > 10 {
			e.add("jumpbox.instances", "%d must be 1-10", c.Jumpbox.Instances)
		}
		k := strings.Fields(c.Jumpbox.AdminSSHPublicKey)
		if len(k) < 2 || !slices.Contains([]string{"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"}, k[0]) {
			e.add("jumpbox.adminSshPublicKey", "required when the jump box is enabled: an OpenSSH public key (ssh-ed25519 ...)")
		}
	}
	if c.LogRetentionDays < 30 || c.LogRetentionDays > 730 {
		e.add("logRetentionDays", "%d must be 30-730", c.LogRetentionDays)
	}
	e = append(e, c.validateIMAP()...)
	if len(e) == 0 {
		e = append(e, c.validateOperations()...)
	}
	return e
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}
