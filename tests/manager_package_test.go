package tests

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/stack"
	"github.com/voicemail-platform/voicemail/regional"
)

// withFunctions returns a copy of cfg whose voicemail:functions object has the given fields
// set over the stack file's.
func withFunctions(t *testing.T, cfg map[string]string, set map[string]any) map[string]string {
	t.Helper()
	out := maps.Clone(cfg)
	fn := map[string]any{}
	if v, ok := cfg["voicemail:functions"]; ok {
		require.NoError(t, json.Unmarshal([]byte(v), &fn))
	}
	maps.Copy(fn, set)
	b, err := json.Marshal(fn)
	require.NoError(t, err)
	out["voicemail:functions"] = string(b)
	return out
}

// runWithRegionOutputs runs the program and resolves the "regions" stack output.
func runWithRegionOutputs(t *testing.T, st string, cfg map[string]string) (*mocks, []map[string]any) {
	t.Helper()
	var (
		wg      sync.WaitGroup
		regions []map[string]any
	)
	m, err := run(t, st, cfg, func(ctx *pulumi.Context) error {
		d, err := stack.Deploy(ctx)
		if err != nil {
			return err
		}
		wg.Add(1)
		stack.RegionOutputs(d).ToArrayOutput().ApplyT(func(v []any) int {
			defer wg.Done()
			for _, r := range v {
				regions = append(regions, r.(map[string]any))
			}
			return 0
		})
		return nil
	})
	require.NoError(t, err)
	wg.Wait()
	return m, regions
}

func appSettings(fn Resource) map[string]string {
	out := map[string]string{}
	settings, _ := get(fn.Inputs, "siteConfig", "appSettings").([]any)
	for _, s := range settings {
		out[fmt.Sprint(get(s, "name"))] = fmt.Sprint(get(s, "value"))
	}
	return out
}

// With functions.package set, every region's Functions app runs the management service from
// that blob in its own deployments container, fetched with its system-assigned identity,
// and the stack outputs tell the pipeline where to upload it.
func TestManagerRunsFromPackage(t *testing.T) {
	const pkg = "manager-cb84c5e651d1ce36.zip"
	for _, st := range []string{"dev", "prod"} {
		t.Run(st, func(t *testing.T) {
			cfg := withFunctions(t, stackConfig(t, st), map[string]any{"package": pkg})
			topo := plan(t, cfg)
			m, outs := runWithRegionOutputs(t, st, cfg)
			require.Len(t, outs, len(topo.Regions))
			for i, region := range topo.Regions {
				acct := region.Names.QueueAccount
				containerURL := "https://" + acct + ".blob.core.windows.net/" + regional.DeploymentsContainer
				c, ok := m.byName(region.Name + "-st-queue-blob-" + regional.DeploymentsContainer)
				require.True(t, ok, region.Name)
				assert.Equal(t, acct, c.Inputs["accountName"])
				assert.Equal(t, region.Names.ResourceGroup, c.Inputs["resourceGroupName"])
				assert.Equal(t, "deployments", c.Inputs["containerName"])
				assert.Equal(t, "None", c.Inputs["publicAccess"], "packages are private")
				assert.Equal(t, region.Name+"-st-queue", c.Parent)

				fn, ok := m.byName(region.Name + "-func")
				require.True(t, ok)
				s := appSettings(fn)
				assert.Equal(t, containerURL+"/"+pkg, s["WEBSITE_RUN_FROM_PACKAGE"], region.Name)
				assert.Equal(t, "SystemAssigned", s["WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID"], region.Name)
				assert.Equal(t, acct, s["AzureWebJobsStorage__accountName"], "the package sits on the host storage account")

				// The identity that fetches the package may read that account's blobs.
				queue, _ := m.byName(region.Name + "-st-queue")
				principal := fn.Outputs["identity"].(map[string]any)["principalId"]
				grant, ok := m.byName(region.Name + "-func-host-blob")
				require.True(t, ok)
				assert.Equal(t, principal, grant.Inputs["principalId"])
				assert.Equal(t, queue.ID, grant.Inputs["scope"])
				assert.True(t, strings.HasSuffix(grant.Inputs["roleDefinitionId"].(string), "/"+arm.StorageBlobDataOwner.ID))

				o := outs[i]
				assert.Equal(t, region.Name, o["name"])
				assert.Equal(t, region.Names.FunctionApp, o["functionAppName"])
				assert.Equal(t, region.Names.ResourceGroup, o["resourceGroup"])
				assert.Equal(t, acct, o["managerPackageAccount"])
				assert.Equal(t, containerURL, o["managerPackageContainerUrl"])
				assert.Equal(t, containerURL+"/"+pkg, o["managerPackageUrl"])
			}
		})
	}
}

// Without functions.package (a stack's first deploy, or the committed stack files) the
// container exists for the first upload and no app points at a package that is not there.
func TestManagerPackageUnset(t *testing.T) {
	for _, st := range []string{"dev", "prod"} {
		t.Run(st, func(t *testing.T) {
			cfg := stackConfig(t, st)
			topo := plan(t, cfg)
			require.Empty(t, topo.Config.Functions.Package, "the stack files leave the package to the pipeline")
			m, outs := runWithRegionOutputs(t, st, cfg)
			for i, region := range topo.Regions {
				_, ok := m.byName(region.Name + "-st-queue-blob-" + regional.DeploymentsContainer)
				assert.True(t, ok, region.Name)
				fn, _ := m.byName(region.Name + "-func")
				s := appSettings(fn)
				assert.NotContains(t, s, "WEBSITE_RUN_FROM_PACKAGE")
				assert.NotContains(t, s, "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID")
				assert.Equal(t, "https://"+region.Names.QueueAccount+".blob.core.windows.net/deployments", outs[i]["managerPackageContainerUrl"])
				assert.Equal(t, "", outs[i]["managerPackageUrl"])
			}
		})
	}
}

// Functions off: no app, no deployments container, empty package outputs (the pipeline
// skips the region).
func TestManagerPackageWithoutFunctions(t *testing.T) {
	cfg := withFunctions(t, stackConfig(t, "dev"), map[string]any{"enabled": false, "package": "manager-0.zip"})
	m, outs := runWithRegionOutputs(t, "dev", cfg)
	for _, c := range m.ofType("BlobContainer") {
		assert.NotEqual(t, regional.DeploymentsContainer, c.Inputs["containerName"], c.Name)
	}
	require.Len(t, outs, 1)
	for _, k := range []string{"functionAppName", "managerPackageAccount", "managerPackageContainerUrl", "managerPackageUrl"} {
		assert.Equal(t, "", outs[0][k], k)
	}
}
