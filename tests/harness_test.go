package tests

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/deploy/deploytest"
	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/naming"
	"github.com/voicemail-platform/voicemail/internal/stack"
)

const subscription = "00000000-0000-0000-0000-000000000001"

// Resource is one registered resource as the mocks saw it; the inventory snapshot format.
type Resource struct {
	Type   string         `json:"type"`
	Name   string         `json:"name"`
	Parent string         `json:"parent"`
	Inputs map[string]any `json:"inputs"`
	// Outputs is the state the mock returned (inputs plus simulated provider outputs).
	Outputs map[string]any `json:"-"`
	ID      string         `json:"-"`
	Custom  bool           `json:"-"`
	// DependsOn is what the resource explicitly waits for (logical names) beyond its
	// property dependencies: creation order the inputs alone do not show.
	DependsOn []string `json:"dependsOn,omitempty"`
}

// mocks records every registration and simulates the outputs Azure computes.
type mocks struct {
	mu        sync.Mutex
	resources []Resource
	invokes   []string
}

// nameKey is the input that carries a resource type's Azure name (its "name" output).
func nameKey(typ string) string {
	kind := typ[strings.LastIndex(typ, ":")+1:]
	return map[string]string{
		"ResourceGroup": "resourceGroupName", "Workspace": "workspaceName", "StorageAccount": "accountName",
		"DatabaseAccount": "accountName", "Registry": "registryName", "Vault": "vaultName",
		"Profile": "profileName", "Endpoint": "endpointName", "ManagedCluster": "resourceName",
		"UserAssignedIdentity": "resourceName", "Component": "resourceName", "VirtualNetwork": "virtualNetworkName",
		"Subnet": "subnetName", "PublicIPAddress": "publicIpAddressName", "VirtualMachineScaleSet": "vmScaleSetName",
		"BlobContainer": "containerName", "Queue": "queueName", "TableResourceTable": "tableName",
		"Replication": "replicationName", "RoleAssignment": "roleAssignmentName",
		"FederatedIdentityCredential": "federatedIdentityCredentialResourceName",
		"ObjectReplicationPolicy":     "objectReplicationPolicyId", "TableResourceTableRoleAssignment": "roleAssignmentId",
		"BlobServiceProperties": "blobServicesName", "Secret": "secretName", "AgentPool": "agentPoolName",
		"ManagementPolicy":     "managementPolicyName",
		"NetworkSecurityGroup": "networkSecurityGroupName", "PrivateEndpoint": "privateEndpointName",
		"PrivateZone": "privateZoneName", "ActionGroup": "actionGroupName",
	}[kind]
}

// armType is the ARM resource type of the mocked kinds whose ids other resources use.
func armType(kind string) string {
	return map[string]string{
		"StorageAccount": "Microsoft.Storage/storageAccounts", "Workspace": "Microsoft.OperationalInsights/workspaces",
		"DatabaseAccount": "Microsoft.DocumentDB/databaseAccounts", "Registry": "Microsoft.ContainerRegistry/registries",
		"Vault": "Microsoft.KeyVault/vaults", "Profile": "Microsoft.Network/trafficManagerProfiles",
		"ManagedCluster": "Microsoft.ContainerService/managedClusters", "Component": "Microsoft.Insights/components",
		"UserAssignedIdentity": "Microsoft.ManagedIdentity/userAssignedIdentities",
		"VirtualNetwork":       "Microsoft.Network/virtualNetworks", "PublicIPAddress": "Microsoft.Network/publicIPAddresses",
		"VirtualMachineScaleSet": "Microsoft.Compute/virtualMachineScaleSets",
		"AppServicePlan":         "Microsoft.Web/serverfarms", "WebApp": "Microsoft.Web/sites",
		"NetworkSecurityGroup": "Microsoft.Network/networkSecurityGroups", "PrivateZone": "Microsoft.Network/privateDnsZones",
	}[kind]
}

func guid(parts ...string) string { return naming.GUID(append([]string{"mock"}, parts...)...) }

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	// Secret inputs are recorded as "[secret]": the snapshot and the rules never see a value
	// such as the generated operator token (a new one each run).
	inputs := args.Inputs.MapRepl(nil, func(v resource.PropertyValue) (any, bool) {
		if v.IsSecret() {
			return "[secret]", true
		}
		return nil, false
	})
	out := args.Inputs.Mappable()
	typ := args.TypeToken
	str := func(k string) string { s, _ := inputs[k].(string); return s }
	azName := str("name")
	if k := nameKey(typ); k != "" && str(k) != "" {
		azName = str(k)
	}
	if azName != "" {
		out["name"] = azName
	}
	kind := typ[strings.LastIndex(typ, ":")+1:]
	id := args.Name + "_id"
	if strings.HasPrefix(typ, "azure-native:") {
		provider := strings.TrimPrefix(typ, "azure-native:")
		provider = provider[:strings.Index(provider, "/")]
		switch {
		case kind == "ResourceGroup":
			id = fmt.Sprintf("/subscriptions/%s/resourceGroups/%s", subscription, azName)
		case armType(kind) != "":
			id = fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s", subscription, str("resourceGroupName"), armType(kind), azName)
		case kind == "Subnet":
			id = fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s/subnets/%s", subscription, str("resourceGroupName"), str("virtualNetworkName"), azName)
		default:
			id = fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s/%s", subscription, str("resourceGroupName"), provider, kind, azName)
		}
	}
	switch kind {
	case "DatabaseAccount":
		out["documentEndpoint"] = "https://" + azName + ".documents.azure.com:443/"
	case "Registry":
		out["loginServer"] = azName + ".azurecr.io"
	case "Profile":
		dns, _ := inputs["dnsConfig"].(map[string]any)
		dns["fqdn"] = fmt.Sprint(dns["relativeName"]) + ".trafficmanager.net"
		out["dnsConfig"] = dns
	case "PublicIPAddress":
		h := sha256.Sum256([]byte(azName))
		out["ipAddress"] = fmt.Sprintf("20.%d.%d.%d", h[0], h[1], h[2])
		dns, _ := inputs["dnsSettings"].(map[string]any)
		dns["fqdn"] = fmt.Sprintf("%s.%s.cloudapp.azure.com", dns["domainNameLabel"], inputs["location"])
		out["dnsSettings"] = dns
	case "ManagedCluster":
		out["oidcIssuerProfile"] = map[string]any{"enabled": true, "issuerURL": "https://" + str("location") + ".oic.prod-aks.azure.com/tenant/" + guid(azName, "oidc") + "/"}
		out["identityProfile"] = map[string]any{"kubeletidentity": map[string]any{"objectId": guid(azName, "kubelet"), "clientId": guid(azName, "kubelet-client")}}
		out["fqdn"] = str("dnsPrefix") + ".hcp." + str("location") + ".azmk8s.io"
	case "UserAssignedIdentity":
		out["clientId"] = guid(azName, "client")
		out["principalId"] = guid(azName, "principal")
	case "WebApp":
		ident, _ := inputs["identity"].(map[string]any)
		ident["principalId"] = guid(azName, "principal")
		out["identity"] = ident
	case "Component":
		out["connectionString"] = "InstrumentationKey=" + guid(azName, "ikey")
	case "ObjectReplicationPolicy":
		if str("objectReplicationPolicyId") == "default" {
			out["policyId"] = guid(args.Name, "policy")
		} else {
			out["policyId"] = str("objectReplicationPolicyId")
		}
		rules, _ := inputs["rules"].([]any)
		for i, r := range rules {
			rm := r.(map[string]any)
			if rm["ruleId"] == nil {
				rm["ruleId"] = guid(args.Name, "rule", fmt.Sprint(i))
			}
		}
		out["rules"] = rules
	}
	parent := ""
	if p := args.RegisterRPC.GetParent(); p != "" && !strings.Contains(p, "::pulumi:pulumi:Stack::") {
		parent = p[strings.LastIndex(p, "::")+2:]
	}
	viaProperty := map[string]bool{}
	for _, d := range args.RegisterRPC.GetPropertyDependencies() {
		for _, urn := range d.GetUrns() {
			viaProperty[urn] = true
		}
	}
	var dependsOn []string
	for _, urn := range args.RegisterRPC.GetDependencies() {
		if !viaProperty[urn] {
			dependsOn = append(dependsOn, urn[strings.LastIndex(urn, "::")+2:])
		}
	}
	m.mu.Lock()
	m.resources = append(m.resources, Resource{Type: typ, Name: args.Name, Parent: parent, Inputs: inputs, Outputs: out, ID: id, Custom: args.Custom, DependsOn: dependsOn})
	m.mu.Unlock()
	return id, resource.NewPropertyMapFromMap(out), nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.invokes = append(m.invokes, args.Token)
	m.mu.Unlock()
	switch {
	case args.Token == "azure-native:authorization:getClientConfig":
		return resource.NewPropertyMapFromMap(map[string]any{
			"tenantId": "00000000-0000-0000-0000-0000000000aa", "subscriptionId": subscription,
			"clientId": "00000000-0000-0000-0000-0000000000cc", "objectId": "00000000-0000-0000-0000-0000000000dd",
		}), nil
	case strings.HasSuffix(args.Token, ":listManagedClusterUserCredentials"):
		out, _ := deploytest.AnswerCall(args) // an exec kubeconfig as AKS returns it
		return out, nil
	}
	return nil, fmt.Errorf("unexpected invoke %s", args.Token)
}

// stackConfig reads a stack file's config as the Pulumi CLI would pass it to the program.
func stackConfig(t testing.TB, stack string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "Pulumi."+stack+".yaml"))
	require.NoError(t, err)
	raw, err := config.StackFileValues(data)
	require.NoError(t, err)
	return raw
}

func withConfig(cfg map[string]string) pulumi.RunOption {
	return func(info *pulumi.RunInfo) { info.Config = cfg }
}

// run executes fn (the program, or a wrapper around it) under mocks for a stack.
func run(t testing.TB, stack string, cfg map[string]string, fn pulumi.RunFunc) (*mocks, error) {
	t.Helper()
	m := &mocks{}
	err := pulumi.RunErr(fn, pulumi.WithMocks("voicemail", stack, m), withConfig(cfg))
	return m, err
}

// stackRuns memoises one run of the real program per committed stack config: most graph
// tests only read what the mocks recorded, and a prod run takes about half a second.
var stackRuns sync.Map // stack name -> *stackRun

type stackRun struct {
	once sync.Once
	m    *mocks
	err  error
}

// stackGraph returns the shared, read-only recording of the program run for a committed
// stack config. Tests that change config, or that must see a fresh run, call run.
func stackGraph(t testing.TB, st string) *mocks {
	t.Helper()
	v, _ := stackRuns.LoadOrStore(st, &stackRun{})
	r := v.(*stackRun)
	r.once.Do(func() { r.m, r.err = run(t, st, stackConfig(t, st), stack.Run) })
	require.NoError(t, r.err, "stack %s", st)
	return r.m
}

// sorted returns the resources ordered by (type, name) as the snapshot lists them.
func (m *mocks) sorted() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]Resource(nil), m.resources...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func (m *mocks) ofType(suffix string) []Resource {
	var out []Resource
	for _, r := range m.sorted() {
		if strings.HasSuffix(r.Type, ":"+suffix) {
			out = append(out, r)
		}
	}
	return out
}

func (m *mocks) byName(name string) (Resource, bool) {
	for _, r := range m.sorted() {
		if r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// inventory renders the snapshot JSON.
func (m *mocks) inventory(t testing.TB) []byte {
	b, err := json.MarshalIndent(m.sorted(), "", "  ")
	require.NoError(t, err)
	return append(b, '\n')
}

// get walks a path of map keys and list indexes in a plain value.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}
