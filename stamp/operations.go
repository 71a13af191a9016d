package stamp

import (
	"fmt"

	containerservice "github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2/v20230601"
	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// Data collection for Container insights with managed-identity authentication: the add-on
// (useAADAuth) sends through a data collection rule associated with the cluster under the
// name ContainerInsightsExtension; ARM deployments create both themselves
// (https://learn.microsoft.com/azure/azure-monitor/containers/kubernetes-monitoring-enable).
const (
	DataCollectionRuleType            = "azure-native:insights/v20220601:DataCollectionRule"
	DataCollectionRuleAssociationType = "azure-native:insights/v20220601:DataCollectionRuleAssociation"
	containerInsightsStream           = "Microsoft-ContainerInsights-Group-Default"
)

// Maintenance configuration names AKS reserves for auto-upgrade and node-OS schedules
// (https://learn.microsoft.com/azure/aks/planned-maintenance).
const (
	AutoUpgradeSchedule = "aksManagedAutoUpgradeSchedule"
	NodeOSSchedule      = "aksManagedNodeOSUpgradeSchedule"
)

// withOperations adds the switchable protections to a cluster's arguments: Defender for
// Containers' sensor, reporting to the stamp's workspace
// (https://learn.microsoft.com/azure/defender-for-cloud/defender-for-containers-enable), and the
// Azure Policy add-on (https://learn.microsoft.com/azure/aks/use-azure-policy). Both are written
// either way, so turning one off in config turns it off on the cluster.
func withOperations(args *containerservice.ManagedClusterArgs, a config.AKS, ws pulumi.StringOutput) {
	if addons, ok := args.AddonProfiles.(containerservice.ManagedClusterAddonProfileMap); ok {
		addons["azurepolicy"] = containerservice.ManagedClusterAddonProfileArgs{Enabled: pulumi.Bool(a.AzurePolicy)}
	}
	if sp, ok := args.SecurityProfile.(*containerservice.ManagedClusterSecurityProfileArgs); ok {
		d := &containerservice.ManagedClusterSecurityProfileDefenderArgs{
			SecurityMonitoring: &containerservice.ManagedClusterSecurityProfileDefenderSecurityMonitoringArgs{Enabled: pulumi.Bool(a.Defender)},
		}
		if a.Defender {
			d.LogAnalyticsWorkspaceResourceId = ws
		}
		sp.Defender = d
	}
}

// maintenance gives the cluster its weekly window for both schedules. Windows come from
// config and are validated there: no two zones of a region and no two regions share one.
func (s *Stamp) maintenance(ctx *pulumi.Context, t topology.Topology, st topology.Stamp, rg *resources.ResourceGroup, aks *containerservice.ManagedCluster) error {
	ws, errs := t.Config.MaintenanceWindows()
	if len(errs) > 0 {
		return fmt.Errorf("maintenance windows: %v", errs)
	}
	var w *config.Window
	for i := range ws {
		if ws[i].Region == st.Region && ws[i].Zone == st.Zone {
			w = &ws[i]
		}
	}
	if w == nil {
		return fmt.Errorf("stamp %s: no maintenance window for %s zone %d", st.ID, st.Region, st.Zone)
	}
	for _, name := range []string{AutoUpgradeSchedule, NodeOSSchedule} {
		if _, err := containerservice.NewMaintenanceConfiguration(ctx, st.ID+"-"+name, &containerservice.MaintenanceConfigurationArgs{
			ConfigName: pulumi.String(name), ResourceGroupName: rg.Name, ResourceName: aks.Name,
			MaintenanceWindow: &containerservice.MaintenanceWindowArgs{
				DurationHours: pulumi.Int(w.DurationHours), StartTime: pulumi.String(w.StartTime), UtcOffset: pulumi.String("+00:00"),
				Schedule: &containerservice.ScheduleArgs{Weekly: &containerservice.WeeklyScheduleArgs{
					DayOfWeek: pulumi.String(w.Day), IntervalWeeks: pulumi.Int(1),
				}},
			},
		}, pulumi.Parent(aks)); err != nil {
			return err
		}
	}
	return nil
}

// containerInsights creates the data collection rule and its association with the cluster.
func (s *Stamp) containerInsights(ctx *pulumi.Context, st topology.Stamp, rg *resources.ResourceGroup, aks *containerservice.ManagedCluster, ws pulumi.StringOutput, tags pulumi.StringMap) error {
	var dcr resourceWithName
	if err := ctx.RegisterResource(DataCollectionRuleType, st.ID+"-dcr-ci", pulumi.Map{
		"dataCollectionRuleName": pulumi.String("MSCI-" + st.Names.Cluster), "resourceGroupName": rg.Name,
		"location": pulumi.String(st.Region), "kind": pulumi.String("Linux"),
		"dataSources": pulumi.Map{"extensions": pulumi.Array{pulumi.Map{
			"name": pulumi.String("ContainerInsightsExtension"), "extensionName": pulumi.String("ContainerInsights"),
			"streams": pulumi.StringArray{pulumi.String(containerInsightsStream)},
			"extensionSettings": pulumi.Map{"dataCollectionSettings": pulumi.Map{
				"interval": pulumi.String("1m"), "namespaceFilteringMode": pulumi.String("Off"),
				"enableContainerLogV2": pulumi.Bool(true),
			}},
		}}},
		"destinations": pulumi.Map{"logAnalytics": pulumi.Array{pulumi.Map{
			"name": pulumi.String("stamp-workspace"), "workspaceResourceId": ws,
		}}},
		"dataFlows": pulumi.Array{pulumi.Map{
			"streams":      pulumi.StringArray{pulumi.String(containerInsightsStream)},
			"destinations": pulumi.StringArray{pulumi.String("stamp-workspace")},
		}},
		"tags": tags,
	}, &dcr, pulumi.Parent(aks)); err != nil {
		return err
	}
	var dcra resourceWithName
	return ctx.RegisterResource(DataCollectionRuleAssociationType, st.ID+"-dcra-ci", pulumi.Map{
		"associationName": pulumi.String("ContainerInsightsExtension"), "resourceUri": aks.ID(),
		"dataCollectionRuleId": dcr.ID(),
		"description":          pulumi.String("Container insights: container logs (ContainerLogV2), inventories and performance to the stamp workspace."),
	}, &dcra, pulumi.Parent(&dcr))
}

type resourceWithName struct {
	pulumi.CustomResourceState
	Name pulumi.StringOutput `pulumi:"name"`
}
