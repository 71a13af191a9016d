// Package config is the typed stack configuration of the voicemail program. The same
// parser serves the Pulumi program (FromPulumi) and tools that read a stack file from disk
// (LoadStackFile), so both see one validated Config. Every error names its config key.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/voicemail-platform/voicemail/contract"
)

// Namespace is the Pulumi project name that prefixes every key in stack files.
const Namespace = "voicemail"

// Config is the validated stack configuration.
type Config struct {
	Environment       string          `json:"environment"`
	NamePrefix        string          `json:"namePrefix"`
	Regions           []Region        `json:"regions"`
	Stamps            []Stamp         `json:"stamps"`
	PeakLoad          Load            `json:"peakLoad"`
	ReplicaCapacity   ReplicaCapacity `json:"replicaCapacity"`
	Image             string          `json:"image"`
	TrafficManager    TrafficManager  `json:"trafficManager"`
	AKS               AKS             `json:"aks"`
	Cosmos            Cosmos          `json:"cosmos"`
	Storage           Storage         `json:"storage"`
	Functions         Functions       `json:"functions"`
	Jumpbox           Jumpbox         `json:"jumpbox"`
	SIP               SIP             `json:"sip"`
	ObjectReplication bool            `json:"objectReplication"`
	LogRetentionDays  int             `json:"logRetentionDays"`
	Network           Network         `json:"network"`
	IMAP              IMAP            `json:"imap"`
	Maintenance       Maintenance     `json:"maintenance"`
	Monitoring        Monitoring      `json:"monitoring"`
}

// Region is an Azure region and the availability zones the stack uses in it. The order of
// regions is the Cosmos DB failover priority; the first is the home region.
type Region struct {
	Name  string `json:"name"`
	Short string `json:"short,omitempty"` // name code; defaults from internal/naming
	Zones []int  `json:"zones"`
	// RecoverKeyVault re-creates the region's Key Vault by recovering the soft-deleted one:
	// set it when the region was removed less than 90 days ago (purge protection keeps the
	// deleted vault's name reserved that long); a create of a fresh vault otherwise fails.
	RecoverKeyVault bool `json:"recoverKeyVault,omitempty"`
}

// Stamp is one (region, zone, version) deployment unit.
type Stamp struct {
	Region  string `json:"region"`
	Zone    int    `json:"zone"`
	Version string `json:"version"`
	Weight  int    `json:"weight"`
	Drained bool   `json:"drained"`
}

// Load is a traffic figure: concurrent calls and HTTP/IMAP requests per second.
type Load struct {
	ConcurrentCalls   int `json:"concurrentCalls"`
	RequestsPerSecond int `json:"requestsPerSecond"`
}

// ReplicaCapacity is what one app replica carries, used to size stamps.
type ReplicaCapacity struct {
	ConcurrentCalls   int `json:"concurrentCalls"`
	RequestsPerSecond int `json:"requestsPerSecond"`
	MinReplicas       int `json:"minReplicas"`
}

// TrafficManager configures global routing and the stamp health probe.
type TrafficManager struct {
	RoutingMethod     string `json:"routingMethod"`
	Protocol          string `json:"protocol"`
	Port              int    `json:"port"`
	TTL               int    `json:"ttl"`
	IntervalSeconds   int    `json:"intervalSeconds"`
	TimeoutSeconds    int    `json:"timeoutSeconds"`
	ToleratedFailures int    `json:"toleratedFailures"`
	// HealthWindowSeconds is the stamps' health-model window (contract.EnvHealthWindow): a stamp
	// taken out of rotation for failing requests returns at most this long after they stop.
	HealthWindowSeconds int `json:"healthWindowSeconds"`
}

// AKS sizes every stamp cluster.
type AKS struct {
	KubernetesVersion    string `json:"kubernetesVersion,omitempty"`
	Tier                 string `json:"tier"`
	SystemVMSize         string `json:"systemVmSize"`
	SystemNodeCount      int    `json:"systemNodeCount"`
	UserVMSize           string `json:"userVmSize"`
	UserMinCount         int    `json:"userMinCount"`
	UserMaxCount         int    `json:"userMaxCount"`
	MaxPods              int    `json:"maxPods"`
	UpgradeChannel       string `json:"upgradeChannel"`
	NodeOSUpgradeChannel string `json:"nodeOsUpgradeChannel"`
	// Defender turns on Microsoft Defender for Containers' sensor; AzurePolicy the Azure
	// Policy add-on. Both cost money and are switchable per stack.
	Defender    bool `json:"defender"`
	AzurePolicy bool `json:"azurePolicy"`
}

// Cosmos sizes the Cosmos DB for Table account.
type Cosmos struct {
	MaxThroughput int    `json:"maxThroughput"`
	BackupTier    string `json:"backupTier"`
}

// Storage selects the audio storage SKU.
type Storage struct {
	SKU string `json:"sku"`
}

// Functions configures the regional Functions app that hosts the management service.
type Functions struct {
	Enabled bool   `json:"enabled"`
	PlanSKU string `json:"planSku"`
	// Package is the blob name, in the region's "deployments" container, of the management
	// service's run-from-package zip ("manager package" prints it). The pipeline uploads the
	// blob and sets this key; empty leaves the app without code.
	Package string `json:"package,omitempty"`
}

// Jumpbox configures the regional jump-box scale set.
type Jumpbox struct {
	Enabled   bool   `json:"enabled"`
	VMSize    string `json:"vmSize"`
	Instances int    `json:"instances"`
	// AdminSSHPublicKey is required by the VM API; the private half is meant to be discarded,
	// people log in with Entra ID.
	AdminSSHPublicKey string `json:"adminSshPublicKey"`
}

// SIP is the stamps' SIP ingress: a Kamailio dispatcher Deployment behind an internal load
// balancer in every stamp, and the DNS names (SRV) operators' SBCs find the stamps by.
type SIP struct {
	// DispatcherImage is the dispatcher's container image (app/Dockerfile, target
	// sip-dispatcher), registry/repository@sha256:<digest>.
	DispatcherImage string `json:"dispatcherImage"`
	// DispatcherReplicas per stamp, at least 2.
	DispatcherReplicas int `json:"dispatcherReplicas"`
	// DNSZone is the private DNS zone holding every stamp's SIP and IMAP records; empty means
	// "<namePrefix><environment>.voicemail.internal".
	DNSZone string `json:"dnsZone"`
	// IdleTimeoutMinutes is the internal load balancer's TCP idle timeout (4-100): long enough
	// for an SBC trunk's SIP connection between keepalives and for IMAP IDLE.
	IdleTimeoutMinutes int `json:"idleTimeoutMinutes"`
	// SBCPrefixes are the operator's SBC addresses (CIDR prefixes, at least /8 long). The
	// voicemail pods trust them and the stamp's pod subnet (the dispatchers) as SIP peers, so
	// no stamp runs SIP open to strangers.
	SBCPrefixes []string `json:"sbcPrefixes"`
	// MWIDomains are the hosts a mailbox's MWI target may name (domains with their subdomains,
	// or IP addresses); empty: no unsolicited MWI.
	MWIDomains []string `json:"mwiDomains"`
	// PlaceholderPeers admits SBC prefixes in the ranges reserved for documentation (RFC 5737,
	// RFC 3849) and MWI domains reserved for examples (RFC 2606, RFC 6761). Such a stack takes
	// no call (no SBC has those addresses) and sends no MWI; the committed example stacks set
	// it, and the program warns on every run that does.
	PlaceholderPeers bool `json:"placeholderPeers,omitempty"`
}

// documentationPrefixes are the address ranges reserved for documentation (RFC 5737, RFC 3849):
// no SBC sends from them.
var documentationPrefixes = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"),
}

// documentationPrefix reports whether p overlaps a documentation range.
func documentationPrefix(p netip.Prefix) bool {
	for _, d := range documentationPrefixes {
		if d.Overlaps(p) {
			return true
		}
	}
	return false
}

// PlaceholderPeerCount counts the SBC prefixes in documentation ranges and the MWI domains
// reserved for examples.
func (s SIP) PlaceholderPeerCount() int {
	n := 0
	for _, p := range s.SBCPrefixes {
		if pfx, err := netip.ParsePrefix(p); err == nil && documentationPrefix(pfx) {
			n++
		}
	}
	for _, d := range s.MWIDomains {
		if ReservedDomain(d) {
			n++
		}
	}
	return n
}

// Keys lists every config key the program reads, without the namespace.
func Keys() []string {
	return []string{"environment", "namePrefix", "regions", "stamps", "peakLoad", "replicaCapacity",
		"image", "trafficManager", "aks", "cosmos", "storage", "functions", "jumpbox", "sip",
		"objectReplication", "logRetentionDays", "network", "imap", "maintenance", "monitoring"}
}

// Defaults returns the configuration values used for keys and fields a stack leaves out.
func Defaults() Config {
	return Config{
		ReplicaCapacity: ReplicaCapacity{ConcurrentCalls: 200, RequestsPerSecond: 200, MinReplicas: 2},
		TrafficManager: TrafficManager{RoutingMethod: "Performance", Protocol: "HTTPS", Port: 443, TTL: 30,
			IntervalSeconds: 10, TimeoutSeconds: 5, ToleratedFailures: 3, HealthWindowSeconds: 60},
		AKS: AKS{Tier: "Standard", SystemVMSize: "Standard_D4ds_v5", SystemNodeCount: 3,
			UserVMSize: "Standard_D8ds_v5", UserMinCount: 3, UserMaxCount: 20, MaxPods: 50,
			UpgradeChannel: "patch", NodeOSUpgradeChannel: "NodeImage", Defender: true, AzurePolicy: true},
		Cosmos:            Cosmos{MaxThroughput: 4000, BackupTier: "Continuous30Days"},
		Storage:           Storage{SKU: "Standard_ZRS"},
		Functions:         Functions{Enabled: true, PlanSKU: "P1v3"},
		Jumpbox:           Jumpbox{Enabled: true, VMSize: "Standard_B2s", Instances: 1},
		SIP:               SIP{DispatcherReplicas: 2, IdleTimeoutMinutes: 30},
		IMAP:              IMAP{VisibilityDelay: contract.DefaultIMAP().VisibilityDelay.String()},
		ObjectReplication: true,
		LogRetentionDays:  30,
		Maintenance:       Maintenance{DurationHours: 4, ZoneStaggerHours: 24},
		Monitoring: Monitoring{DailyCapGB: DailyCaps{Global: 10, Region: 10, Stamp: 20},
			HealthThreshold: 0.5, DegradedThreshold: 0.8, QueueBacklog: 1000,
			ReplicationLagMinutes: 15, AudioReplicationBacklog: 1000, CertificateExpiryDays: 21, ThrottledRequests: 100},
	}
}

// FieldError is a validation failure of one config key (or a field inside it).
type FieldError struct {
	Key string // e.g. "voicemail:stamps[2].zone"
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// errs collects validation failures in key order.
type errs []error

func (e *errs) add(key, format string, args ...any) {
	*e = append(*e, &FieldError{Key: Namespace + ":" + key, Msg: fmt.Sprintf(format, args...)})
}

// Parse decodes and validates raw config values. Keys may carry the "voicemail:" prefix;
// structured values (objects, lists) are JSON, as Pulumi hands them to programs.
func Parse(raw map[string]string) (Config, error) {
	c := Defaults()
	var e errs
	known := map[string]bool{}
	for _, k := range Keys() {
		known[k] = true
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := map[string]string{}
	for _, k := range keys {
		short := strings.TrimPrefix(k, Namespace+":")
		if strings.Contains(short, ":") || !known[short] {
			e.add(short, "unknown key (known: %s)", strings.Join(Keys(), ", "))
			continue
		}
		vals[short] = raw[k]
	}

	str := func(key string, dst *string) {
		if v, ok := vals[key]; ok {
			*dst = v
		}
	}
	num := func(key string, dst *int) {
		if v, ok := vals[key]; ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				e.add(key, "%q is not an integer", v)
				return
			}
			*dst = n
		}
	}
	boolean := func(key string, dst *bool) {
		if v, ok := vals[key]; ok {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				e.add(key, "%q is not a boolean", v)
				return
			}
			*dst = b
		}
	}
	object := func(key string, dst any) bool {
		v, ok := vals[key]
		if !ok {
			return false
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(v)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			e.add(key, "cannot decode %s: %v", describe(dst), err)
			return false
		}
		return true
	}

	str("environment", &c.Environment)
	str("namePrefix", &c.NamePrefix)
	str("image", &c.Image)
	num("logRetentionDays", &c.LogRetentionDays)
	boolean("objectReplication", &c.ObjectReplication)
	object("regions", &c.Regions)
	var stamps []rawStamp
	if object("stamps", &stamps) {
		for _, s := range stamps {
			st := Stamp{Region: s.Region, Version: s.Version, Weight: 1}
			if s.Zone != nil {
				st.Zone = *s.Zone
			}
			if s.Weight != nil {
				st.Weight = *s.Weight
			}
			if s.Drained != nil {
				st.Drained = *s.Drained
			}
			if st.Version == "" {
				st.Version = "v1"
			}
			c.Stamps = append(c.Stamps, st)
		}
	}
	object("peakLoad", &c.PeakLoad)
	object("replicaCapacity", &c.ReplicaCapacity)
	object("trafficManager", &c.TrafficManager)
	object("aks", &c.AKS)
	object("cosmos", &c.Cosmos)
	object("storage", &c.Storage)
	object("functions", &c.Functions)
	object("jumpbox", &c.Jumpbox)
	object("sip", &c.SIP)
	object("network", &c.Network)
	object("imap", &c.IMAP)
	object("maintenance", &c.Maintenance)
	object("monitoring", &c.Monitoring)

	if len(e) == 0 {
		e = append(e, c.Validate()...)
	}
	if len(e) > 0 {
		return Config{}, errors.Join(e...)
	}
	return c, nil
}

// rawStamp tells an absent field from a zero one.
type rawStamp struct {
	Region  string `json:"region"`
	Zone    *int   `json:"zone"`
	Version string `json:"version"`
	Weight  *int   `json:"weight"`
	Drained *bool  `json:"drained"`
}

func describe(dst any) string {
	switch dst.(type) {
	case *[]Region:
		return "list of {name, short, zones, recoverKeyVault}"
	case *[]rawStamp:
		return "list of {region, zone, version, weight, drained}"
	}
	return "object"
}
