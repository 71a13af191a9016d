package global

import (
	"strings"

	authorization "github.com/pulumi/pulumi-azure-native-sdk/authorization/v2/v20220401"
	insights "github.com/pulumi/pulumi-azure-native-sdk/insights/v2/v20210501preview"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/naming"
)

// Built-in Azure role definition GUIDs used by the program.
const (
	RoleNetworkContributor         = "4d97b98b-1d4f-4787-a291-c67834d212e7"
	RoleStorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
	RoleStorageBlobDataOwner       = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
	RoleStorageQueueDataContrib    = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
	RoleKeyVaultSecretsUser        = "4633458b-17de-408a-b874-0445c86b69e6"
	RoleAcrPull                    = "7f951dda-4ed3-4680-a71e-0cc81ed8c6f4"
	// CosmosDataContributor is the Cosmos DB data-plane "Built-in Data Contributor", which
	// also governs Cosmos DB for Table data access.
	CosmosDataContributor = "00000000-0000-0000-0000-000000000002"
)

// DiagnosticsArgs routes one resource's platform logs and metrics to a workspace.
type DiagnosticsArgs struct {
	ResourceID  pulumi.StringInput
	WorkspaceID pulumi.StringInput
	// Logs is false for resources that only emit metrics (storage account root, VNet).
	Logs bool
}

// NewDiagnostics creates the diagnostic setting "to-workspace" on a resource.
func NewDiagnostics(ctx *pulumi.Context, name string, args DiagnosticsArgs, opts ...pulumi.ResourceOption) (*insights.DiagnosticSetting, error) {
	a := &insights.DiagnosticSettingArgs{
		Name:        pulumi.String("to-workspace"),
		ResourceUri: args.ResourceID,
		WorkspaceId: args.WorkspaceID,
		Metrics:     insights.MetricSettingsArray{insights.MetricSettingsArgs{Category: pulumi.String("AllMetrics"), Enabled: pulumi.Bool(true)}},
	}
	if args.Logs {
		a.LogAnalyticsDestinationType = pulumi.String("Dedicated")
		a.Logs = insights.LogSettingsArray{insights.LogSettingsArgs{CategoryGroup: pulumi.String("allLogs"), Enabled: pulumi.Bool(true)}}
	}
	return insights.NewDiagnosticSetting(ctx, name+"-diag", a, opts...)
}

// RoleArgs grants a built-in role to a principal on a scope.
type RoleArgs struct {
	// Key makes the assignment's GUID name deterministic; it must be unique per assignment.
	Key         string
	Scope       pulumi.StringInput
	RoleID      string // built-in role GUID
	PrincipalID pulumi.StringInput
	// PrincipalType is "ServicePrincipal" for managed identities (avoids replication races).
	PrincipalType string
}

// NewRoleAssignment creates an Azure RBAC role assignment.
func NewRoleAssignment(ctx *pulumi.Context, name string, args RoleArgs, opts ...pulumi.ResourceOption) (*authorization.RoleAssignment, error) {
	pt := args.PrincipalType
	if pt == "" {
		pt = "ServicePrincipal"
	}
	return authorization.NewRoleAssignment(ctx, name, &authorization.RoleAssignmentArgs{
		RoleAssignmentName: pulumi.String(naming.GUID("role", args.Key, args.RoleID)),
		Scope:              args.Scope,
		PrincipalId:        args.PrincipalID,
		PrincipalType:      pulumi.String(pt),
		RoleDefinitionId: args.Scope.ToStringOutput().ApplyT(func(scope string) string {
			return SubscriptionScope(scope) + "/providers/Microsoft.Authorization/roleDefinitions/" + args.RoleID
		}).(pulumi.StringOutput),
	}, opts...)
}

// SubscriptionScope returns "/subscriptions/<id>" of an Azure resource id.
func SubscriptionScope(resourceID string) string {
	parts := strings.SplitN(strings.TrimPrefix(resourceID, "/"), "/", 3)
	if len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions") {
		return "/subscriptions/" + parts[1]
	}
	return ""
}
