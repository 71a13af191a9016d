// Package naming is the one place that derives Azure resource names and enforces each
// resource type's length and character rules, so a bad prefix fails at plan time, not in ARM.
package naming

import (
	"crypto/sha1"
	"fmt"
	"regexp"
	"strings"
)

// Kind is an Azure resource type with a naming rule.
type Kind string

// Kinds with naming rules. Limits follow "Naming rules and restrictions for Azure resources".
const (
	ResourceGroup     Kind = "resource group"
	StorageAccount    Kind = "storage account"
	ContainerRegistry Kind = "container registry"
	KeyVault          Kind = "key vault"
	CosmosAccount     Kind = "cosmos db account"
	CosmosTable       Kind = "cosmos db table"
	TrafficManager    Kind = "traffic manager profile"
	DNSLabel          Kind = "dns label"
	ManagedCluster    Kind = "aks cluster"
	AKSDNSPrefix      Kind = "aks dns prefix"
	AgentPool         Kind = "aks agent pool"
	Workspace         Kind = "log analytics workspace"
	AppInsights       Kind = "application insights"
	FunctionApp       Kind = "function app"
	AppServicePlan    Kind = "app service plan"
	ScaleSet          Kind = "vm scale set"
	ComputerPrefix    Kind = "computer name prefix"
	Identity          Kind = "user-assigned identity"
	PublicIP          Kind = "public ip"
	VirtualNetwork    Kind = "virtual network"
	Subnet            Kind = "subnet"
	BlobContainer     Kind = "blob container"
	Queue             Kind = "storage queue"
	TMEndpoint        Kind = "traffic manager endpoint"
)

type rule struct {
	min, max int
	re       *regexp.Regexp
	charset  string
}

var (
	alnumHyphen      = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)
	lowerAlnumHyphen = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	lowerAlnum       = regexp.MustCompile(`^[a-z0-9]+$`)
	alnum            = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
	armName          = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9_])?$`)
)

// rules returns the rule table; a function, not a mutable package variable.
func rules(k Kind) (rule, bool) {
	switch k {
	case ResourceGroup:
		return rule{1, 90, regexp.MustCompile(`^[a-zA-Z0-9._()-]*[a-zA-Z0-9_()-]$`), "alphanumerics, '.', '_', '-', '(', ')', not ending in '.'"}, true
	case StorageAccount:
		return rule{3, 24, lowerAlnum, "lowercase letters and digits"}, true
	case ContainerRegistry:
		return rule{5, 50, alnum, "letters and digits"}, true
	case KeyVault:
		return rule{3, 24, regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`), "letters, digits and '-', starting with a letter, no '--'"}, true
	case CosmosAccount:
		return rule{3, 44, lowerAlnumHyphen, "lowercase letters, digits and '-'"}, true
	case CosmosTable:
		return rule{3, 63, regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`), "letters and digits, starting with a letter"}, true
	case TrafficManager, ManagedCluster:
		return rule{1, 63, regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_-]*[a-zA-Z0-9])?$`), "letters, digits, '_' and '-'"}, true
	case DNSLabel:
		return rule{3, 63, regexp.MustCompile(`^[a-z][a-z0-9-]*[a-z0-9]$`), "lowercase letters, digits and '-', starting with a letter"}, true
	case AKSDNSPrefix:
		return rule{1, 54, alnumHyphen, "letters, digits and '-'"}, true
	case AgentPool:
		return rule{1, 12, regexp.MustCompile(`^[a-z][a-z0-9]*$`), "lowercase letters and digits, starting with a letter"}, true
	case Workspace:
		return rule{4, 63, alnumHyphen, "letters, digits and '-'"}, true
	case AppInsights:
		return rule{1, 260, regexp.MustCompile(`^[^%&\\?/]+$`), "no '%', '&', '\\', '?', '/'"}, true
	case FunctionApp:
		return rule{2, 60, alnumHyphen, "letters, digits and '-'"}, true
	case AppServicePlan:
		return rule{1, 60, regexp.MustCompile(`^[a-zA-Z0-9-]+$`), "letters, digits and '-'"}, true
	case ScaleSet:
		return rule{1, 64, armName, "letters, digits, '.', '_', '-'"}, true
	case ComputerPrefix:
		return rule{1, 15, alnumHyphen, "letters, digits and '-'"}, true
	case Identity:
		return rule{3, 128, regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`), "letters, digits, '_' and '-'"}, true
	case PublicIP, Subnet:
		return rule{1, 80, armName, "letters, digits, '.', '_', '-'"}, true
	case VirtualNetwork:
		return rule{2, 64, armName, "letters, digits, '.', '_', '-'"}, true
	case BlobContainer, Queue:
		return rule{3, 63, lowerAlnumHyphen, "lowercase letters, digits and '-'"}, true
	case TMEndpoint:
		return rule{1, 260, armName, "letters, digits, '.', '_', '-'"}, true
	}
	return rule{}, false
}

// Check reports whether name satisfies the Azure rule for kind.
func Check(kind Kind, name string) error {
	r, ok := rules(kind)
	if !ok {
		return fmt.Errorf("no naming rule for %q", kind)
	}
	if n := len(name); n < r.min || n > r.max {
		return fmt.Errorf("%s name %q is %d characters, Azure allows %d-%d", kind, name, n, r.min, r.max)
	}
	if !r.re.MatchString(name) || strings.Contains(name, "--") && kind == KeyVault {
		return fmt.Errorf("%s name %q breaks Azure's charset rule (%s)", kind, name, r.charset)
	}
	return nil
}

// Namer derives every resource name from the stack's prefix and environment.
type Namer struct {
	Prefix, Env string
}

func (n Namer) join(parts ...string) string { return strings.Join(parts, "-") }
func (n Namer) base() string                { return n.Prefix + "-" + n.Env }

// Global names.
func (n Namer) GlobalResourceGroup() string     { return n.join("rg", n.base(), "global") }
func (n Namer) MonitoringResourceGroup() string { return n.join("rg", n.base(), "monitoring") }
func (n Namer) GlobalWorkspace() string         { return n.join("log", n.base(), "global") }
func (n Namer) CosmosAccount() string           { return n.join("cosmos", n.base()) }
func (n Namer) TrafficManager() string          { return n.join("tm", n.base()) }
func (n Namer) TrafficManagerDNS() string       { return n.base() }
func (n Namer) Registry() string                { return "acr" + n.Prefix + n.Env }

// Regional names; short is the region's short code.
func (n Namer) RegionResourceGroup(short string) string { return n.join("rg", n.base(), short) }
func (n Namer) RegionWorkspace(short string) string     { return n.join("log", n.base(), short) }
func (n Namer) AppInsights(short string) string         { return n.join("appi", n.base(), short) }
func (n Namer) KeyVault(short string) string            { return n.join("kv", n.base(), short) }
func (n Namer) BlobAccount(short string) string         { return "st" + n.Prefix + n.Env + short }
func (n Namer) QueueAccount(short string) string        { return "sq" + n.Prefix + n.Env + short }
func (n Namer) FunctionApp(short string) string         { return n.join("func", n.base(), short) }
func (n Namer) FunctionPlan(short string) string        { return n.join("plan", n.base(), short) }
func (n Namer) RegionVNet(short string) string          { return n.join("vnet", n.base(), short) }
func (n Namer) Jumpbox(short string) string             { return n.join("vmss", n.base(), short, "jump") }
func (n Namer) JumpboxComputerPrefix(short string) string {
	return "jump" + short
}

// Stamp names; key is the stamp's short key "<short>-z<zone>-<version>".
func (n Namer) StampResourceGroup(key string) string { return n.join("rg", n.base(), key) }
func (n Namer) NodeResourceGroup(key string) string  { return n.join("rg", n.base(), key, "nodes") }
func (n Namer) Cluster(key string) string            { return n.join("aks", n.base(), key) }
func (n Namer) ClusterDNSPrefix(key string) string   { return n.join(n.base(), key) }
func (n Namer) ClusterIdentity(key string) string    { return n.join("id", n.base(), key, "aks") }
func (n Namer) AppIdentity(key string) string        { return n.join("id", n.base(), key, "app") }
func (n Namer) DispatcherIdentity(key string) string { return n.join("id", n.base(), key, "sip") }
func (n Namer) PublicIP(key string) string           { return n.join("pip", n.base(), key) }
func (n Namer) PublicIPLabel(key string) string      { return n.join(n.base(), key) }
func (n Namer) StampVNet(key string) string          { return n.join("vnet", n.base(), key) }
func (n Namer) StampWorkspace(key string) string     { return n.join("log", n.base(), key) }

// GUID returns a deterministic RFC 4122 version-5 style GUID for names that Azure requires
// to be GUIDs (role assignments), so re-running the program yields the same name.
func GUID(parts ...string) string {
	h := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
