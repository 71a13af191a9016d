package global

import (
	operationalinsights "github.com/pulumi/pulumi-azure-native-sdk/operationalinsights/v2/v20201001"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/arm"
)

// LockType is a management lock on one resource's scope, registered by token (the
// authorization module's lock API version would be compiled for one resource).
const LockType = "azure-native:authorization/v20200501:ManagementLockByScope"

// LockName is the lock's Azure name on every data store.
const LockName = "do-not-delete"

// Lock puts a CanNotDelete lock on a data store: deleting it in the portal, the CLI or another
// tool fails until the lock is removed; updates (a Cosmos DB region removed from the account's
// locations, new containers) still work
// (https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources).
//
// The program itself deletes the lock before the resource it protects (the lock depends on
// it), so removing a region from config would remove its storage accounts. Removing a region
// is therefore a deliberate two-step change, described in internal/stack/README.md: drain and move its
// stamps first, then remove the region.
func Lock(ctx *pulumi.Context, name string, scope pulumi.StringInput, opts ...pulumi.ResourceOption) error {
	var l arm.Resource
	return ctx.RegisterResource(LockType, name+"-lock", pulumi.Map{
		"lockName": pulumi.String(LockName), "scope": scope, "level": pulumi.String("CanNotDelete"),
		"notes": pulumi.String("Voicemail data store. To remove a region, drain and move its stamps, then remove the region from the stack config (see README, Removing a region)."),
	}, &l, opts...)
}

// dailyCap is a workspace's daily ingestion cap in GB.
func dailyCap(gb int) *operationalinsights.WorkspaceCappingArgs {
	return &operationalinsights.WorkspaceCappingArgs{DailyQuotaGb: pulumi.Float64(float64(gb))}
}
