// Package arm holds the Azure Resource Manager pieces every layer of the program uses: the
// built-in roles it grants (by name and definition id), role assignments with deterministic
// names, diagnostic settings, and registration of resources by type token.
package arm

import (
	"strings"

	authorization "github.com/pulumi/pulumi-azure-native-sdk/authorization/v2/v20220401"
	insights "github.com/pulumi/pulumi-azure-native-sdk/insights/v2/v20210501preview"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/naming"
)

// Role is an Azure built-in role: its name as Azure lists it and its role definition id,
// which is the same in every tenant and subscription. The ids are the documented ones:
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles (control and
// storage data plane) and
// https://learn.microsoft.com/azure/cosmos-db/how-to-setup-rbac#built-in-role-definitions
// (Cosmos DB data plane, which also governs Cosmos DB for Table).
type Role struct {
	Name string
	ID   string
}

// The built-in roles the program grants.
var (
	NetworkContributor          = Role{"Network Contributor", "4d97b98b-1d4f-4787-a291-c67834d212e7"}
	StorageBlobDataContributor  = Role{"Storage Blob Data Contributor", "ba92f5b4-2d11-453d-a403-e96b0029c9fe"}
	StorageBlobDataOwner        = Role{"Storage Blob Data Owner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"}
	StorageQueueDataContributor = Role{"Storage Queue Data Contributor", "974c5e8b-45b9-4653-ba55-5f855dd0fb88"}
	KeyVaultSecretsUser         = Role{"Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6"}
	AcrPull                     = Role{"AcrPull", "7f951dda-4ed3-4680-a7ca-43fe172d538d"}
	// CosmosDataContributor is a Cosmos DB data-plane role (a sqlRoleDefinition of the
	// account, not an Azure RBAC role definition).
	CosmosDataContributor = Role{"Cosmos DB Built-in Data Contributor", "00000000-0000-0000-0000-000000000002"}
)

// Roles lists every role above, for tests that check them against the documentation.
func Roles() []Role {
	return []Role{NetworkContributor, StorageBlobDataContributor, StorageBlobDataOwner, StorageQueueDataContributor, KeyVaultSecretsUser, AcrPull, CosmosDataContributor}
}

// AssignmentName is the deterministic GUID name of one role assignment: kind separates Azure
// RBAC ("role") from Cosmos DB data-plane ("cosmos") assignments, key is unique per assignment.
// The same inputs give the same name on every run, so an assignment is never duplicated.
func AssignmentName(kind, key string, r Role) string { return naming.GUID(kind, key, r.ID) }

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
	Role        Role
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
		RoleAssignmentName: pulumi.String(AssignmentName("role", args.Key, args.Role)),
		Scope:              args.Scope,
		PrincipalId:        args.PrincipalID,
		PrincipalType:      pulumi.String(pt),
		RoleDefinitionId: args.Scope.ToStringOutput().ApplyT(func(scope string) string {
			return SubscriptionScope(scope) + "/providers/Microsoft.Authorization/roleDefinitions/" + args.Role.ID
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
