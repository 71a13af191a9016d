package main

import (
	"context"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/voicemail-platform/voicemail/policy/rules"
)

func wire(t *testing.T, pm resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(pm, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true})
	require.NoError(t, err)
	return s
}

func newTestAnalyzer(t *testing.T) *analyzer {
	t.Helper()
	pack, err := newPack()
	require.NoError(t, err)
	return newAnalyzer(pack, rules.StackRules())
}

func TestAnalyzeReportsResourceViolations(t *testing.T) {
	a := newTestAnalyzer(t)
	props := resource.NewPropertyMapFromMap(map[string]any{
		"sku":                   map[string]any{"name": "Standard_LRS"},
		"allowSharedKeyAccess":  false,
		"minimumTlsVersion":     "TLS1_2",
		"allowBlobPublicAccess": false,
		"publicNetworkAccess":   "Disabled",
	})
	resp, err := a.Analyze(context.Background(), &pulumirpc.AnalyzeRequest{
		Type: "azure-native:storage/v20230501:StorageAccount", Name: "st",
		Urn: "urn:pulumi:prod::voicemail::azure-native:storage/v20230501:StorageAccount::st", Properties: wire(t, props),
	})
	require.NoError(t, err)
	require.Len(t, resp.Diagnostics, 1)
	d := resp.Diagnostics[0]
	assert.Equal(t, "storage-zone-redundant", d.PolicyName)
	assert.Equal(t, pulumirpc.EnforcementLevel_MANDATORY, d.EnforcementLevel)
	assert.Contains(t, d.Message, "Standard_LRS")
	assert.Contains(t, d.Urn, "::st")
}

func TestAnalyzeSkipsUnknownsAndHonoursDisabled(t *testing.T) {
	a := newTestAnalyzer(t)
	props := resource.NewPropertyMapFromMap(map[string]any{
		"sku":                   map[string]any{"name": "Standard_ZRS"},
		"allowSharedKeyAccess":  resource.MakeComputed(resource.NewStringProperty("")),
		"minimumTlsVersion":     "TLS1_0",
		"allowBlobPublicAccess": false,
		"publicNetworkAccess":   "Disabled",
	})
	req := &pulumirpc.AnalyzeRequest{Type: "azure-native:storage:StorageAccount", Name: "st", Properties: wire(t, props)}
	resp, err := a.Analyze(context.Background(), req)
	require.NoError(t, err)
	require.Len(t, resp.Diagnostics, 1)
	assert.Equal(t, "storage-tls12", resp.Diagnostics[0].PolicyName)

	_, err = a.Configure(context.Background(), &pulumirpc.ConfigureAnalyzerRequest{
		PolicyConfig: map[string]*pulumirpc.PolicyConfig{"storage-tls12": {EnforcementLevel: pulumirpc.EnforcementLevel_DISABLED}},
	})
	require.NoError(t, err)
	resp, err = a.Analyze(context.Background(), req)
	require.NoError(t, err)
	assert.Empty(t, resp.Diagnostics)
}

func TestAnalyzeStackRunsStackRules(t *testing.T) {
	a := newTestAnalyzer(t)
	cluster := resource.NewPropertyMapFromMap(map[string]any{"location": "swedencentral"})
	cosmos := resource.NewPropertyMapFromMap(map[string]any{
		"enableMultipleWriteLocations": true,
		"locations":                    []any{map[string]any{"locationName": "westeurope", "failoverPriority": 0, "isZoneRedundant": true}},
	})
	cosmosURN := "urn:pulumi:prod::voicemail::azure-native:documentdb/v20230415:DatabaseAccount::cosmos"
	resp, err := a.AnalyzeStack(context.Background(), &pulumirpc.AnalyzeStackRequest{Resources: []*pulumirpc.AnalyzerResource{
		{Type: "azure-native:containerservice/v20240801:ManagedCluster", Name: "aks", Properties: wire(t, cluster),
			Urn: "urn:pulumi:prod::voicemail::azure-native:containerservice/v20240801:ManagedCluster::aks"},
		{Type: "azure-native:documentdb/v20230415:DatabaseAccount", Name: "cosmos", Properties: wire(t, cosmos), Urn: cosmosURN},
	}})
	require.NoError(t, err)
	resp.Diagnostics = only(resp.Diagnostics, "cosmos-stamp-regions-writable") // the fixture has no endpoints, locks or windows
	require.Len(t, resp.Diagnostics, 1)
	assert.Equal(t, "cosmos-stamp-regions-writable", resp.Diagnostics[0].PolicyName)
	assert.Equal(t, cosmosURN, resp.Diagnostics[0].Urn)
	assert.Contains(t, resp.Diagnostics[0].Message, "swedencentral")
}

func TestAnalyzerInfoListsEveryRule(t *testing.T) {
	a := newTestAnalyzer(t)
	info, err := a.GetAnalyzerInfo(context.Background(), &emptypb.Empty{})
	require.NoError(t, err)
	assert.Equal(t, packName, info.Name)
	assert.Len(t, info.Policies, len(rules.ResourceRules())+len(rules.StackRules()))
	for _, p := range info.Policies {
		assert.NotEmpty(t, p.Description, p.Name)
	}
}

func TestAnalyzeStackLinksChildrenThroughPropertyDependencies(t *testing.T) {
	a := newTestAnalyzer(t)
	urn := func(typ, name string) string { return "urn:pulumi:prod::voicemail::" + typ + "::" + name }
	const (
		acct = "azure-native:storage/v20230501:StorageAccount"
		svc  = "azure-native:storage/v20230501:BlobServiceProperties"
		orp  = "azure-native:storage/v20230501:ObjectReplicationPolicy"
	)
	stackReq := func(versioning bool) *pulumirpc.AnalyzeStackRequest {
		return &pulumirpc.AnalyzeStackRequest{Resources: []*pulumirpc.AnalyzerResource{
			{Type: acct, Name: "src", Urn: urn(acct, "src"), Properties: wire(t, resource.NewPropertyMapFromMap(map[string]any{"name": "srcacct"}))},
			{Type: acct, Name: "dst", Urn: urn(acct, "dst"), Properties: wire(t, resource.NewPropertyMapFromMap(map[string]any{"name": "dstacct"}))},
			// Outputs have no accountName: the link is the property dependency.
			{Type: svc, Name: "src-svc", Urn: urn(svc, "src-svc"),
				Properties:           wire(t, resource.NewPropertyMapFromMap(map[string]any{"name": "default", "isVersioningEnabled": versioning, "changeFeed": map[string]any{"enabled": true}})),
				PropertyDependencies: map[string]*pulumirpc.AnalyzerPropertyDependencies{"accountName": {Urns: []string{urn(acct, "src")}}}},
			{Type: svc, Name: "dst-svc", Urn: urn(svc, "dst-svc"),
				Properties:           wire(t, resource.NewPropertyMapFromMap(map[string]any{"name": "default", "isVersioningEnabled": true})),
				PropertyDependencies: map[string]*pulumirpc.AnalyzerPropertyDependencies{"accountName": {Urns: []string{urn(acct, "dst")}}}},
			{Type: orp, Name: "or", Urn: urn(orp, "or"),
				Properties: wire(t, resource.NewPropertyMapFromMap(map[string]any{"sourceAccount": "/x/storageAccounts/srcacct", "destinationAccount": "/x/storageAccounts/dstacct"})),
				PropertyDependencies: map[string]*pulumirpc.AnalyzerPropertyDependencies{
					"sourceAccount": {Urns: []string{urn(acct, "src")}}, "destinationAccount": {Urns: []string{urn(acct, "dst")}}}},
		}}
	}
	const rule = "storage-versioning-for-replication" // the fixture has no endpoints or locks
	resp, err := a.AnalyzeStack(context.Background(), stackReq(true))
	require.NoError(t, err)
	assert.Empty(t, only(resp.Diagnostics, rule))

	resp, err = a.AnalyzeStack(context.Background(), stackReq(false))
	require.NoError(t, err)
	resp.Diagnostics = only(resp.Diagnostics, rule)
	require.Len(t, resp.Diagnostics, 1)
	assert.Equal(t, "storage-versioning-for-replication", resp.Diagnostics[0].PolicyName)
	assert.Equal(t, urn(orp, "or"), resp.Diagnostics[0].Urn)
	assert.Contains(t, resp.Diagnostics[0].Message, "source account src")
}

// only keeps one policy's diagnostics.
func only(ds []*pulumirpc.AnalyzeDiagnostic, policy string) []*pulumirpc.AnalyzeDiagnostic {
	var out []*pulumirpc.AnalyzeDiagnostic
	for _, d := range ds {
		if d.PolicyName == policy {
			out = append(out, d)
		}
	}
	return out
}

func TestAnalyzeStackOrdersSubnetsThroughDependencies(t *testing.T) {
	a := newTestAnalyzer(t)
	urn := func(typ, name string) string { return "urn:pulumi:prod::voicemail::" + typ + "::" + name }
	const (
		vnet   = "azure-native:network/v20190601:VirtualNetwork"
		subnet = "azure-native:network/v20190601:Subnet"
		rule   = "network-subnets-one-at-a-time"
	)
	stackReq := func(chained bool) *pulumirpc.AnalyzeStackRequest {
		onVNet := map[string]*pulumirpc.AnalyzerPropertyDependencies{"virtualNetworkName": {Urns: []string{urn(vnet, "vnet")}}}
		second := &pulumirpc.AnalyzerResource{Type: subnet, Name: "b", Urn: urn(subnet, "b"),
			Properties: wire(t, resource.NewPropertyMapFromMap(map[string]any{"name": "snet-b"})), PropertyDependencies: onVNet,
			Dependencies: []string{urn(vnet, "vnet")}}
		if chained {
			second.Dependencies = append(second.Dependencies, urn(subnet, "a"))
		}
		return &pulumirpc.AnalyzeStackRequest{Resources: []*pulumirpc.AnalyzerResource{
			{Type: vnet, Name: "vnet", Urn: urn(vnet, "vnet"), Properties: wire(t, resource.NewPropertyMapFromMap(map[string]any{"name": "vnet-1"}))},
			{Type: subnet, Name: "a", Urn: urn(subnet, "a"), Properties: wire(t, resource.NewPropertyMapFromMap(map[string]any{"name": "snet-a"})),
				PropertyDependencies: onVNet, Dependencies: []string{urn(vnet, "vnet")}},
			second,
		}}
	}
	resp, err := a.AnalyzeStack(context.Background(), stackReq(true))
	require.NoError(t, err)
	assert.Empty(t, only(resp.Diagnostics, rule))

	resp, err = a.AnalyzeStack(context.Background(), stackReq(false))
	require.NoError(t, err)
	ds := only(resp.Diagnostics, rule)
	require.Len(t, ds, 1)
	assert.Equal(t, urn(subnet, "b"), ds[0].Urn)
}
