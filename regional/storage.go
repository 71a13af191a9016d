package regional

import (
	"fmt"
	"strings"

	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	storage "github.com/pulumi/pulumi-azure-native-sdk/storage/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// account creates a locked-down storage account: no shared keys, no public blobs, TLS 1.2,
// reached through private endpoints only (the package account also from the deploy runners'
// ranges when config lists them).
func (r *Regional) account(ctx *pulumi.Context, t topology.Topology, logical, name, sku, kind string, reg topology.Region, rg *resources.ResourceGroup, tags pulumi.StringMap) (*storage.StorageAccount, error) {
	a := &storage.StorageAccountArgs{
		AccountName: pulumi.String(name), ResourceGroupName: rg.Name, Location: pulumi.String(reg.Name),
		Sku: &storage.SkuArgs{Name: pulumi.String(sku)}, Kind: pulumi.String(kind),
		AllowSharedKeyAccess:         pulumi.Bool(false),
		DefaultToOAuthAuthentication: pulumi.Bool(true),
		AllowBlobPublicAccess:        pulumi.Bool(false),
		AllowCrossTenantReplication:  pulumi.Bool(false),
		MinimumTlsVersion:            pulumi.String("TLS1_2"),
		EnableHttpsTrafficOnly:       pulumi.Bool(true),
		PublicNetworkAccess:          pulumi.String("Disabled"),
		NetworkRuleSet:               &storage.NetworkRuleSetArgs{DefaultAction: storage.DefaultActionDeny, Bypass: pulumi.String("None")},
		Tags:                         tags,
	}
	if name == reg.Names.QueueAccount {
		// The package account is the one the deploy pipeline writes to (the manager package).
		if runners := t.Config.Network.DeployRunnerIPRanges; len(runners) > 0 {
			a.PublicNetworkAccess = pulumi.String("Enabled")
			a.NetworkRuleSet = &storage.NetworkRuleSetArgs{DefaultAction: storage.DefaultActionDeny, Bypass: pulumi.String("None"), IpRules: storageIPRules(runners)}
		}
	}
	if kind == "StorageV2" {
		a.AccessTier = storage.AccessTierHot
	}
	acct, err := storage.NewStorageAccount(ctx, logical, a, pulumi.Parent(r))
	if err != nil {
		return nil, err
	}
	if _, err := arm.NewDiagnostics(ctx, logical, arm.DiagnosticsArgs{ResourceID: acct.ID().ToStringOutput(), WorkspaceID: r.WorkspaceID, Metrics: arm.MetricsTransaction}, pulumi.Parent(acct)); err != nil {
		return nil, err
	}
	return acct, nil
}

func (r *Regional) storage(ctx *pulumi.Context, t topology.Topology, reg topology.Region, rg *resources.ResourceGroup, tags pulumi.StringMap) error {
	p := reg.Name + "-"
	sku := t.Config.Storage.SKU
	kind := "StorageV2"
	if strings.HasPrefix(sku, "Premium_") {
		kind = "BlockBlobStorage" // premium blobs; queues stay on the standard queue account
	}
	blob, err := r.account(ctx, t, p+"st-blob", reg.Names.BlobAccount, sku, kind, reg, rg, tags)
	if err != nil {
		return err
	}
	// Versioning and change feed are what object replication to the next region needs;
	// soft delete keeps an accidental delete of audio recoverable.
	svc, err := storage.NewBlobServiceProperties(ctx, p+"st-blob-service", &storage.BlobServicePropertiesArgs{
		AccountName: blob.Name, ResourceGroupName: rg.Name, BlobServicesName: pulumi.String("default"),
		IsVersioningEnabled:            pulumi.Bool(true),
		ChangeFeed:                     &storage.ChangeFeedArgs{Enabled: pulumi.Bool(true), RetentionInDays: pulumi.Int(7)},
		DeleteRetentionPolicy:          &storage.DeleteRetentionPolicyArgs{Enabled: pulumi.Bool(true), Days: pulumi.Int(SoftDeleteDays)},
		ContainerDeleteRetentionPolicy: &storage.DeleteRetentionPolicyArgs{Enabled: pulumi.Bool(true), Days: pulumi.Int(SoftDeleteDays)},
	}, pulumi.Parent(blob))
	if err != nil {
		return err
	}
	if _, err := arm.NewDiagnostics(ctx, p+"st-blob-service", arm.DiagnosticsArgs{
		ResourceID: pulumi.Sprintf("%s/blobServices/default", blob.ID()), WorkspaceID: r.WorkspaceID, Logs: true,
		Metrics: arm.MetricsTransaction,
	}, pulumi.Parent(blob)); err != nil {
		return err
	}
	r.ReplicaContainers = map[string]*storage.BlobContainer{}
	containers := topology.Containers()
	for _, origin := range reg.ReplicaOf {
		containers = append(containers, topology.ReplicaContainer(origin))
	}
	for _, c := range containers {
		bc, err := storage.NewBlobContainer(ctx, p+"st-blob-"+c, &storage.BlobContainerArgs{
			AccountName: blob.Name, ResourceGroupName: rg.Name, ContainerName: pulumi.String(c),
			PublicAccess: storage.PublicAccessNone,
		}, pulumi.Parent(blob), pulumi.DependsOn([]pulumi.Resource{svc}))
		if err != nil {
			return err
		}
		r.ReplicaContainers[c] = bc
	}
	// Versioning (which object replication needs) keeps every overwritten or deleted blob as a
	// previous version, forever unless a lifecycle rule deletes it: a message the subscriber
	// deleted would stay stored. Previous versions go once the soft-delete window has passed.
	if _, err := storage.NewManagementPolicy(ctx, p+"st-blob-lifecycle", &storage.ManagementPolicyArgs{
		AccountName: blob.Name, ResourceGroupName: rg.Name, ManagementPolicyName: pulumi.String("default"),
		Policy: &storage.ManagementPolicySchemaArgs{Rules: storage.ManagementPolicyRuleArray{
			storage.ManagementPolicyRuleArgs{
				Name: pulumi.String("delete-previous-versions"), Enabled: pulumi.Bool(true), Type: pulumi.String("Lifecycle"),
				Definition: storage.ManagementPolicyDefinitionArgs{
					Filters: &storage.ManagementPolicyFilterArgs{BlobTypes: pulumi.StringArray{pulumi.String("blockBlob")}},
					Actions: storage.ManagementPolicyActionArgs{Version: &storage.ManagementPolicyVersionArgs{
						Delete: &storage.DateAfterCreationArgs{DaysAfterCreationGreaterThan: pulumi.Float64(SoftDeleteDays)},
					}},
				},
			},
		}},
	}, pulumi.Parent(blob), pulumi.DependsOn([]pulumi.Resource{svc})); err != nil {
		return err
	}
	r.BlobAccountName = blob.Name
	r.BlobAccountID = blob.ID().ToStringOutput()
	r.BlobEndpoint = pulumi.Sprintf("https://%s.blob.core.windows.net/", reg.Names.BlobAccount)
	r.AudioContainerName = pulumi.String(topology.AudioContainer).ToStringOutput()
	r.StateContainerName = pulumi.String(topology.StateContainer).ToStringOutput()

	queue, err := r.account(ctx, t, p+"st-queue", reg.Names.QueueAccount, "Standard_ZRS", "StorageV2", reg, rg, tags)
	if err != nil {
		return err
	}
	if _, err := arm.NewDiagnostics(ctx, p+"st-queue-service", arm.DiagnosticsArgs{
		ResourceID: pulumi.Sprintf("%s/queueServices/default", queue.ID()), WorkspaceID: r.WorkspaceID, Logs: true,
		Metrics: arm.MetricsTransaction,
	}, pulumi.Parent(queue)); err != nil {
		return err
	}
	for _, q := range topology.Queues() {
		if _, err := storage.NewQueue(ctx, p+"st-queue-"+q, &storage.QueueArgs{
			AccountName: queue.Name, ResourceGroupName: rg.Name, QueueName: pulumi.String(q),
		}, pulumi.Parent(queue)); err != nil {
			return err
		}
	}
	r.QueueAccountName = queue.Name
	r.QueueAccountID = queue.ID().ToStringOutput()
	r.QueueEndpoint = pulumi.Sprintf("https://%s.queue.core.windows.net/", reg.Names.QueueAccount)

	r.ManagerPackageAccount = pulumi.String("").ToStringOutput()
	r.ManagerPackageContainerURL = pulumi.String("").ToStringOutput()
	if t.Config.Functions.Enabled {
		// The management service's packages, beside the Functions host storage: the app's
		// identity already has Blob Data Owner on this account and reads them from here.
		// Nothing in the program writes blobs (shared keys are off, and the provider's Blob
		// resource needs them); the pipeline uploads with its Entra identity.
		c, err := storage.NewBlobContainer(ctx, p+"st-queue-blob-"+DeploymentsContainer, &storage.BlobContainerArgs{
			AccountName: queue.Name, ResourceGroupName: rg.Name, ContainerName: pulumi.String(DeploymentsContainer),
			PublicAccess: storage.PublicAccessNone,
		}, pulumi.Parent(queue))
		if err != nil {
			return err
		}
		r.ManagerPackageAccount = queue.Name
		r.ManagerPackageContainerURL = pulumi.Sprintf("https://%s.blob.core.windows.net/%s", reg.Names.QueueAccount, c.Name)
	}
	return nil
}

// DeploymentsContainer holds the management service's run-from-package zips on each region's
// queue/host storage account.
const DeploymentsContainer = "deployments"

// SoftDeleteDays is how long deleted blobs and previous versions stay recoverable.
const SoftDeleteDays = 14

// ReplicationArgs replicates one region's audio container into another region's replica of it.
type ReplicationArgs struct {
	Source, Destination *Regional
	SourceResourceGroup string // Azure names, from the topology
	DestResourceGroup   string
}

// ObjectReplicationPolicyType is the first storage API version with replication metrics on a
// policy (metrics.enabled): pending operations and bytes per policy, which the health
// model alerts on. ObjectReplicationPolicyPreviousType is the version the policies were
// created with, an alias so the change of version updates them in place.
// https://learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/microsoft-storage-storageaccounts-objectreplicationpolicies-metrics
const (
	ObjectReplicationPolicyType         = "azure-native:storage/v20240101:ObjectReplicationPolicy"
	ObjectReplicationPolicyPreviousType = "azure-native:storage/v20220901:ObjectReplicationPolicy"
)

// replicationPolicy is an object replication policy with the outputs the source side needs.
type replicationPolicy struct {
	pulumi.CustomResourceState
	PolicyID pulumi.StringOutput   `pulumi:"policyId"`
	Rules    pulumi.MapArrayOutput `pulumi:"rules"`
}

// NewObjectReplication sets up blob object replication of Source's audio container into
// Destination's ReplicaContainer(Source). Azure needs the destination's policy first (and the
// destination container to exist); its generated policy and rule ids then go into the
// source's policy. The source policy's id (where the replication metrics are) is recorded in
// Source.ReplicationPolicyIDs under the destination's name.
func NewObjectReplication(ctx *pulumi.Context, name string, args *ReplicationArgs, opts ...pulumi.ResourceOption) error {
	replica := topology.ReplicaContainer(args.Source.Name)
	container, ok := args.Destination.ReplicaContainers[replica]
	if !ok {
		return fmt.Errorf("object replication %s: region %s has no container %s", name, args.Destination.Name, replica)
	}
	rule := pulumi.Map{"sourceContainer": pulumi.String(topology.AudioContainer), "destinationContainer": pulumi.String(replica)}
	policy := func(logical string, account, rg, id pulumi.StringInput, rule pulumi.Map, opts ...pulumi.ResourceOption) (*replicationPolicy, error) {
		var p replicationPolicy
		err := arm.Register(ctx, ObjectReplicationPolicyType, logical, pulumi.Map{
			"accountName": account, "resourceGroupName": rg, "objectReplicationPolicyId": id,
			"sourceAccount": args.Source.BlobAccountID, "destinationAccount": args.Destination.BlobAccountID,
			"rules":   pulumi.Array{rule},
			"metrics": pulumi.Map{"enabled": pulumi.Bool(true)},
		}, &p, append(opts, pulumi.Aliases([]pulumi.Alias{{Type: pulumi.String(ObjectReplicationPolicyPreviousType)}}))...)
		return &p, err
	}
	dst, err := policy(name+"-or-dst", args.Destination.BlobAccountName, pulumi.String(args.DestResourceGroup), pulumi.String("default"), rule,
		append(opts, pulumi.DependsOn([]pulumi.Resource{container}))...)
	if err != nil {
		return err
	}
	srcRule := pulumi.Map{}
	for k, v := range rule {
		srcRule[k] = v
	}
	srcRule["ruleId"] = dst.Rules.Index(pulumi.Int(0)).ApplyT(func(m map[string]any) string {
		id, _ := m["ruleId"].(string)
		return id
	}).(pulumi.StringOutput)
	src, err := policy(name+"-or-src", args.Source.BlobAccountName, pulumi.String(args.SourceResourceGroup), dst.PolicyID, srcRule, opts...)
	if err != nil {
		return err
	}
	if args.Source.ReplicationPolicyIDs == nil {
		args.Source.ReplicationPolicyIDs = map[string]pulumi.StringOutput{}
	}
	args.Source.ReplicationPolicyIDs[args.Destination.Name] = src.ID().ToStringOutput()
	return nil
}
