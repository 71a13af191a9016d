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
	CosmosAccountType        = "azure-native:documentdb/v20230415:DatabaseAccount"
	CosmosTableType          = "azure-native:documentdb/v20230415:TableResourceTable"
	CosmosRoleAssignmentType = "azure-native:documentdb/v20230415:SqlResourceSqlRoleAssignment"
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
	if _, err := arm.NewDiagnostics(ctx, "cosmos", arm.DiagnosticsArgs{ResourceID: acct.ID().ToStringOutput(), WorkspaceID: g.WorkspaceID, Logs: true}, pulumi.Parent(&acct)); err != nil {
		return err
	}
	g.CosmosAccountName = acct.Name
	g.CosmosAccountID = acct.ID().ToStringOutput()
	g.CosmosEndpoint = acct.DocumentEndpoint
	g.CosmosTableEndpoint = pulumi.String(t.Global.CosmosTableEndpoint).ToStringOutput()
	return nil
}

// CosmosRoleArgs grants the Cosmos DB Built-in Data Contributor role on the whole account.
type CosmosRoleArgs struct {
	Key         string // makes the assignment GUID deterministic and unique
	PrincipalID pulumi.StringInput
}

// NewCosmosDataContributor grants a principal data-plane read/write on the global account.
func (g *Global) NewCosmosDataContributor(ctx *pulumi.Context, name string, args CosmosRoleArgs, opts ...pulumi.ResourceOption) (*CosmosRoleAssignment, error) {
	var ra CosmosRoleAssignment
	err := ctx.RegisterResource(CosmosRoleAssignmentType, name, pulumi.Map{
		"accountName":       g.CosmosAccountName,
		"resourceGroupName": g.ResourceGroupName,
		"roleAssignmentId":  pulumi.String(arm.AssignmentName("cosmos", args.Key, arm.CosmosDataContributor)),
		"roleDefinitionId": g.CosmosAccountID.ApplyT(func(id string) string {
			return id + "/sqlRoleDefinitions/" + arm.CosmosDataContributor.ID
		}).(pulumi.StringOutput),
		"scope":       g.CosmosAccountID,
		"principalId": args.PrincipalID,
	}, &ra, opts...)
	if err != nil {
		return nil, err
	}
	return &ra, nil
}
