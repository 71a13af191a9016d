// Package arm holds the Azure Resource Manager pieces every layer of the program uses: the
// built-in roles it grants (by name and definition id), role assignments with names derived
// from what they grant, diagnostic settings, and registration of resources by type token.
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
// https://learn.microsoft.com/azure/cosmos-db/table/security/how-to-grant-data-plane-role-based-access
// (Cosmos DB for Table data plane). The policy pack keeps the same table (policy/rules) and
// rejects any other id, so a mistyped id fails a test instead of `pulumi up`.
type Role struct {
	Name string
	ID   string
}

// The built-in roles the program grants.
var (
	NetworkContributor          = Role{"Network Contributor", "4d97b98b-1d4f-4787-a291-c67834d212e7"}
	StorageBlobDataContributor  = Role{"Storage Blob Data Contributor", "ba92f5b4-2d11-453d-a403-e96b0029c9fe"}
	StorageBlobDataOwner        = Role{"Storage Blob Data Owner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"}
	StorageBlobDataReader       = Role{"Storage Blob Data Reader", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"}
	StorageQueueDataContributor = Role{"Storage Queue Data Contributor", "974c5e8b-45b9-4653-ba55-5f855dd0fb88"}
	KeyVaultSecretsUser         = Role{"Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6"}
	AcrPull                     = Role{"AcrPull", "7f951dda-4ed3-4680-a7ca-43fe172d538d"}
	MonitoringMetricsPublisher  = Role{"Monitoring Metrics Publisher", "3913510d-42f4-4e42-8a64-420c390055eb"}
	// AKSRBACClusterAdmin is the Kubernetes data-plane role of clusters that use Azure RBAC
	// for Kubernetes authorization.
	AKSRBACClusterAdmin = Role{"Azure Kubernetes Service RBAC Cluster Admin", "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"}
	// CosmosTableDataContributor is a Cosmos DB for Table data-plane role: a table role
	// definition of the account (tableRoleDefinitions/<id>), not an Azure RBAC role and not a
	// SQL role definition.
	CosmosTableDataContributor = Role{"Cosmos DB Built-in Data Contributor", "00000000-0000-0000-0000-000000000002"}
)

// Roles lists every role above, for tests that check them against the documentation.
func Roles() []Role {
	return []Role{NetworkContributor, StorageBlobDataContributor, StorageBlobDataOwner, StorageBlobDataReader,
		StorageQueueDataContributor, KeyVaultSecretsUser, AcrPull, MonitoringMetricsPublisher, AKSRBACClusterAdmin,
		CosmosTableDataContributor}
}

// AssignmentName is the name of the assignment of roleDefinitionID to principal on scope.
// Role assignment names are GUIDs that must be unique in the whole Entra tenant, whatever
// their scope, so the name is derived from all three, as Microsoft recommends
// (https://learn.microsoft.com/en-us/azure/azure-resource-manager/bicep/scenarios-rbac#name):
// two stacks, or two assignments of one stack, never collide, and the same grant keeps its name.
func AssignmentName(scope, principal, roleDefinitionID string) string {
	return naming.GUID(strings.ToLower(scope), strings.ToLower(principal), strings.ToLower(roleDefinitionID))
}

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
	Role        Role
	PrincipalID pulumi.StringInput
	// PrincipalType is "ServicePrincipal" (the default) for managed identities: ARM then does
	// not wait for the new identity to replicate in Entra ID. AnyPrincipal omits it, for
	// principals whose type the program does not know (the deploying user or pipeline).
	PrincipalType string
	AnyPrincipal  bool
}

// RoleDefinitionID is the subscription-scoped id of a built-in role.
func RoleDefinitionID(scope string, r Role) string {
	return SubscriptionScope(scope) + "/providers/Microsoft.Authorization/roleDefinitions/" + r.ID
}

// RoleAssignmentType is the assignment's type token, for AnyPrincipal assignments registered
// without the SDK: its constructor fills in principalType "User" when none is given, which
// ARM rejects for a service principal (UnmatchedPrincipalType).
const RoleAssignmentType = "azure-native:authorization/v20220401:RoleAssignment"

// NewRoleAssignment creates an Azure RBAC role assignment named by AssignmentName.
func NewRoleAssignment(ctx *pulumi.Context, name string, args RoleArgs, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	roleDef := args.Scope.ToStringOutput().ApplyT(func(scope string) string {
		return RoleDefinitionID(scope, args.Role)
	}).(pulumi.StringOutput)
	a := &authorization.RoleAssignmentArgs{
		RoleAssignmentName: pulumi.All(args.Scope, args.PrincipalID, roleDef).ApplyT(func(v []any) string {
			return AssignmentName(v[0].(string), v[1].(string), v[2].(string))
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
