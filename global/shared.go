package global

import (
	"strings"

	authorization "github.com/pulumi/pulumi-azure-native-sdk/authorization/v2/v20220401"
	insights "github.com/pulumi/pulumi-azure-native-sdk/insights/v2/v20210501preview"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/naming"
)

// Built-in Azure role definition GUIDs used by the program, as "Azure built-in roles"
// (https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles) lists
// them. The policy pack keeps the same table (policy/rules) and rejects any other GUID, so a
// mistyped id fails a test instead of `pulumi up`.
const (
	RoleNetworkContributor         = "4d97b98b-1d4f-4787-a291-c67834d212e7"
	RoleStorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
	RoleStorageBlobDataOwner       = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
	RoleStorageBlobDataReader      = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
	RoleStorageQueueDataContrib    = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
	RoleKeyVaultSecretsUser        = "4633458b-17de-408a-b874-0445c86b69e6"
	RoleAcrPull                    = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
	RoleMonitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb"
	// RoleAKSRBACClusterAdmin is the Kubernetes data-plane role of clusters that use Azure
	// RBAC for Kubernetes authorization (Microsoft Entra ID authorization).
	RoleAKSRBACClusterAdmin = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
	// CosmosTableDataContributor is Cosmos DB for Table's "Cosmos DB Built-in Data
	// Contributor", a table role definition (tableRoleDefinitions/<id>) of the account, not a
	// SQL one: https://learn.microsoft.com/en-us/azure/cosmos-db/table/security/how-to-grant-data-plane-role-based-access
	CosmosTableDataContributor = "00000000-0000-0000-0000-000000000002"
)

// Metric categories of diagnostic settings. Storage accounts and their blob and queue services
// offer Transaction (and Capacity, which is not exportable) only; Cosmos DB accounts offer
// Requests; the other resource types of this program offer AllMetrics. See the "Supported
// metrics" pages of Azure Monitor, e.g.
// https://learn.microsoft.com/en-us/azure/azure-monitor/reference/supported-metrics/microsoft-storage-storageaccounts-metrics
const (
	MetricsAll         = "AllMetrics"
	MetricsTransaction = "Transaction"
	MetricsRequests    = "Requests"
)

// DiagnosticsArgs routes one resource's platform logs and metrics to a workspace.
type DiagnosticsArgs struct {
	ResourceID  pulumi.StringInput
	WorkspaceID pulumi.StringInput
	// Logs is false for resources that only emit metrics (storage account root, VNet).
	Logs bool
	// Metrics is the metric category the resource type offers; empty means MetricsAll.
	Metrics string
}

// NewDiagnostics creates the diagnostic setting "to-workspace" on a resource.
func NewDiagnostics(ctx *pulumi.Context, name string, args DiagnosticsArgs, opts ...pulumi.ResourceOption) (*insights.DiagnosticSetting, error) {
	category := args.Metrics
	if category == "" {
		category = MetricsAll
	}
	a := &insights.DiagnosticSettingArgs{
		Name:        pulumi.String("to-workspace"),
		ResourceUri: args.ResourceID,
		WorkspaceId: args.WorkspaceID,
		Metrics:     insights.MetricSettingsArray{insights.MetricSettingsArgs{Category: pulumi.String(category), Enabled: pulumi.Bool(true)}},
	}
	if args.Logs {
		a.LogAnalyticsDestinationType = pulumi.String("Dedicated")
		a.Logs = insights.LogSettingsArray{insights.LogSettingsArgs{CategoryGroup: pulumi.String("allLogs"), Enabled: pulumi.Bool(true)}}
	}
	return insights.NewDiagnosticSetting(ctx, name+"-diag", a, opts...)
}

// RoleArgs grants a built-in role to a principal on a scope.
type RoleArgs struct {
	Scope       pulumi.StringInput
	RoleID      string // built-in role GUID
	PrincipalID pulumi.StringInput
	// PrincipalType is "ServicePrincipal" (the default) for managed identities: ARM then does
	// not wait for the new identity to replicate in Entra ID. AnyPrincipal omits it, for
	// principals whose type the program does not know (the deploying user or pipeline).
	PrincipalType string
	AnyPrincipal  bool
}

// RoleDefinitionID is the subscription-scoped id of a built-in role.
func RoleDefinitionID(scope, roleID string) string {
	return SubscriptionScope(scope) + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID
}

// RoleAssignmentName is the name of the assignment of roleDefinitionID to principal on scope.
// Role assignment names are GUIDs that must be unique in the whole Entra tenant, whatever
// their scope, so the name is derived from all three (as Microsoft recommends:
// https://learn.microsoft.com/en-us/azure/azure-resource-manager/bicep/scenarios-rbac#name):
// two stacks, or two assignments of one stack, never collide, and the same grant keeps its name.
func RoleAssignmentName(scope, principal, roleDefinitionID string) string {
	return naming.GUID(strings.ToLower(scope), strings.ToLower(principal), strings.ToLower(roleDefinitionID))
}

// RoleAssignmentType is the assignment's type token, for AnyPrincipal assignments registered
// without the SDK: its constructor fills in principalType "User" when none is given, which
// ARM rejects for a service principal (UnmatchedPrincipalType).
const RoleAssignmentType = "azure-native:authorization/v20220401:RoleAssignment"

// NewRoleAssignment creates an Azure RBAC role assignment.
func NewRoleAssignment(ctx *pulumi.Context, name string, args RoleArgs, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	roleDef := args.Scope.ToStringOutput().ApplyT(func(scope string) string {
		return RoleDefinitionID(scope, args.RoleID)
	}).(pulumi.StringOutput)
	a := &authorization.RoleAssignmentArgs{
		RoleAssignmentName: pulumi.All(args.Scope, args.PrincipalID, roleDef).ApplyT(func(v []any) string {
			return RoleAssignmentName(v[0].(string), v[1].(string), v[2].(string))
		}).(pulumi.StringOutput),
		Scope:            args.Scope,
		PrincipalId:      args.PrincipalID,
		RoleDefinitionId: roleDef,
	}
	if args.AnyPrincipal {
		var ra Resource
		err := ctx.RegisterResource(RoleAssignmentType, name, pulumi.Map{
			"roleAssignmentName": a.RoleAssignmentName, "scope": a.Scope,
			"principalId": a.PrincipalId, "roleDefinitionId": a.RoleDefinitionId,
		}, &ra, opts...)
		return &ra, err
	}
	pt := args.PrincipalType
	if pt == "" {
		pt = "ServicePrincipal"
	}
	a.PrincipalType = pulumi.String(pt)
	return authorization.NewRoleAssignment(ctx, name, a, opts...)
}

// SubscriptionScope returns "/subscriptions/<id>" of an Azure resource id.
func SubscriptionScope(resourceID string) string {
	parts := strings.SplitN(strings.TrimPrefix(resourceID, "/"), "/", 3)
	if len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions") {
		return "/subscriptions/" + parts[1]
	}
	return ""
}
