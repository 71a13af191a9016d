package global

import (
	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Cosmos DB resources are registered by type token: the only documentdb SDK module this
// project may use (v2.0.0, API 2023-04-15) does not compile against the v2.90.0 root SDK
// (it calls a PkgVersion function the root no longer has). The azure-native provider
// serves these tokens all the same; the structs below declare the outputs we read.
const (
	CosmosAccountType = "azure-native:documentdb/v20230415:DatabaseAccount"
	CosmosTableType   = "azure-native:documentdb/v20230415:TableResourceTable"
	// Table accounts authorise data-plane calls with table role definitions and assignments
	// (API 2024-12-01-preview, served by the azure-native provider this program pins), not the
	// SQL ones: https://learn.microsoft.com/en-us/azure/cosmos-db/table/security/how-to-grant-data-plane-role-based-access
	CosmosRoleAssignmentType = "azure-native:documentdb/v20241201preview:TableResourceTableRoleAssignment"
)

// CosmosAccount is a Cosmos DB database account.
type CosmosAccount struct {
	pulumi.CustomResourceState
	Name             pulumi.StringOutput `pulumi:"name"`
	DocumentEndpoint pulumi.StringOutput `pulumi:"documentEndpoint"`
}

// CosmosTable is a Cosmos DB for Table table.
type CosmosTable struct {
	pulumi.CustomResourceState
	Name pulumi.StringOutput `pulumi:"name"`
}

// CosmosRoleAssignment is a Cosmos DB data-plane role assignment.
type CosmosRoleAssignment struct {
	pulumi.CustomResourceState
	Name pulumi.StringOutput `pulumi:"name"`
}

func (g *Global) cosmos(ctx *pulumi.Context, t topology.Topology, rg *resources.ResourceGroup, tags pulumi.StringMap) error {
	var locs pulumi.Array
	for _, r := range t.Regions {
		locs = append(locs, pulumi.Map{
			"locationName":     pulumi.String(r.Name),
			"failoverPriority": pulumi.Int(r.FailoverPriority),
			"isZoneRedundant":  pulumi.Bool(true),
		})
	}
	var acct CosmosAccount
	if err := ctx.RegisterResource(CosmosAccountType, "cosmos", pulumi.Map{
		"accountName":              pulumi.String(t.Global.CosmosAccount),
		"resourceGroupName":        rg.Name,
		"location":                 pulumi.String(t.Global.HomeRegion),
		"kind":                     pulumi.String("GlobalDocumentDB"),
		"databaseAccountOfferType": pulumi.String("Standard"),
		"capabilities":             pulumi.Array{pulumi.Map{"name": pulumi.String("EnableTable")}},
		"locations":                locs,
		// Every region writes its own CRDT rows; LWW conflict resolution never drops a write.
		"enableMultipleWriteLocations":       pulumi.Bool(true),
		"enableAutomaticFailover":            pulumi.Bool(true),
		"consistencyPolicy":                  pulumi.Map{"defaultConsistencyLevel": pulumi.String("Session")},
		"disableLocalAuth":                   pulumi.Bool(true),
		"disableKeyBasedMetadataWriteAccess": pulumi.Bool(true),
		"minimalTlsVersion":                  pulumi.String("Tls12"),
		// Reached only through private endpoints in the stamps' and regions' VNets.
		"publicNetworkAccess": pulumi.String("Disabled"),
		"backupPolicy": pulumi.Map{
			"type":                     pulumi.String("Continuous"),
			"continuousModeProperties": pulumi.Map{"tier": pulumi.String(t.Config.Cosmos.BackupTier)},
		},
		"tags": tags,
	}, &acct, pulumi.Parent(g)); err != nil {
		return err
	}
	for _, name := range topology.Tables() {
		var tbl CosmosTable
		if err := ctx.RegisterResource(CosmosTableType, "cosmos-table-"+name, pulumi.Map{
			"accountName":       acct.Name,
			"resourceGroupName": rg.Name,
			"tableName":         pulumi.String(name),
			"resource":          pulumi.Map{"id": pulumi.String(name)},
			"options": pulumi.Map{
				"autoscaleSettings": pulumi.Map{"maxThroughput": pulumi.Int(t.Config.Cosmos.MaxThroughput)},
			},
		}, &tbl, pulumi.Parent(&acct)); err != nil {
			return err
		}
	}
	if _, err := arm.NewDiagnostics(ctx, "cosmos", arm.DiagnosticsArgs{ResourceID: acct.ID().ToStringOutput(), WorkspaceID: g.WorkspaceID, Logs: true, Metrics: arm.MetricsRequests}, pulumi.Parent(&acct)); err != nil {
		return err
	}
	g.CosmosAccountName = acct.Name
	g.CosmosAccountID = acct.ID().ToStringOutput()
	g.CosmosEndpoint = acct.DocumentEndpoint
	g.CosmosTableEndpoint = pulumi.String(t.Global.CosmosTableEndpoint).ToStringOutput()
	return nil
}

// CosmosRoleArgs grants the Cosmos DB for Table Built-in Data Contributor role on the account.
type CosmosRoleArgs struct {
	PrincipalID pulumi.StringInput
}

// NewCosmosDataContributor grants a principal data-plane read/write on the global account.
// The assignment's id is derived from scope, principal and role like an RBAC assignment's.
func (g *Global) NewCosmosDataContributor(ctx *pulumi.Context, name string, args CosmosRoleArgs, opts ...pulumi.ResourceOption) (*CosmosRoleAssignment, error) {
	var ra CosmosRoleAssignment
	roleDef := g.CosmosAccountID.ApplyT(func(id string) string {
		return id + "/tableRoleDefinitions/" + arm.CosmosTableDataContributor.ID
	}).(pulumi.StringOutput)
	err := ctx.RegisterResource(CosmosRoleAssignmentType, name, pulumi.Map{
		"accountName":       g.CosmosAccountName,
		"resourceGroupName": g.ResourceGroupName,
		"roleAssignmentId": pulumi.All(g.CosmosAccountID, args.PrincipalID, roleDef).ApplyT(func(v []any) string {
			return arm.AssignmentName(v[0].(string), v[1].(string), v[2].(string))
		}).(pulumi.StringOutput),
		"roleDefinitionId": roleDef,
		"scope":            g.CosmosAccountID,
		"principalId":      args.PrincipalID,
	}, &ra, opts...)
	if err != nil {
		return nil, err
	}
	return &ra, nil
}
