package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/config"
)

// valid is a minimal valid raw config; cases override single keys.
func valid() map[string]string {
	return map[string]string{
		"voicemail:environment": "dev",
		"voicemail:namePrefix":  "vmp",
		"voicemail:image":       "example.azurecr.io/voicemail:1.0",
		"voicemail:regions":     `[{"name":"eastus2","zones":[1,2]},{"name":"centralus","zones":[1,2,3]}]`,
		"voicemail:stamps":      `[{"region":"eastus2","zone":1},{"region":"eastus2","zone":2},{"region":"centralus","zone":3,"version":"v2","weight":50}]`,
		"voicemail:peakLoad":    `{"concurrentCalls":1000,"requestsPerSecond":500}`,
		"voicemail:jumpbox":     `{"adminSshPublicKey":"ssh-ed25519 AAAAC3Nza test"}`,
		"voicemail:sip":         `{"dispatcherImage":"example.azurecr.io/sip-dispatcher@sha256:` + strings.Repeat("a", 64) + `","sbcPrefixes":["100.64.0.0/28"]}`,
	}
}

func TestParseValidAppliesDefaults(t *testing.T) {
	c, err := config.Parse(valid())
	require.NoError(t, err)
	assert.Equal(t, "dev", c.Environment)
	require.Len(t, c.Stamps, 3)
	assert.Equal(t, config.Stamp{Region: "eastus2", Zone: 1, Version: "v1", Weight: 1}, c.Stamps[0])
	assert.Equal(t, config.Stamp{Region: "centralus", Zone: 3, Version: "v2", Weight: 50}, c.Stamps[2])
	d := config.Defaults()
	assert.Equal(t, d.TrafficManager, c.TrafficManager)
	assert.Equal(t, d.AKS, c.AKS)
	assert.True(t, c.Jumpbox.Enabled)
	assert.Equal(t, "Standard_B2s", c.Jumpbox.VMSize, "fields left out of an object keep their defaults")
	assert.Equal(t, 30, c.LogRetentionDays)
}

// functions.package takes what "manager package" prints; unset means no package yet.
func TestFunctionsPackage(t *testing.T) {
	for _, p := range []string{"manager-cb84c5e651d1ce36.zip", "manager_v1.2.zip", strings.Repeat("m", 251) + ".zip"} {
		raw := valid()
		raw["voicemail:functions"] = `{"package":"` + p + `"}`
		c, err := config.Parse(raw)
		require.NoError(t, err, p)
		assert.Equal(t, p, c.Functions.Package)
		assert.True(t, c.Functions.Enabled, "fields left out keep their defaults")
	}
	c, err := config.Parse(valid())
	require.NoError(t, err)
	assert.Empty(t, c.Functions.Package)
}

func TestParseAcceptsKeysWithoutNamespace(t *testing.T) {
	raw := map[string]string{}
	for k, v := range valid() {
		raw[strings.TrimPrefix(k, "voicemail:")] = v
	}
	_, err := config.Parse(raw)
	require.NoError(t, err)
}

// Every invalid config fails with an error that names the offending key.
func TestParseInvalidNamesTheKey(t *testing.T) {
	cases := []struct {
		name, key, value string // value "" deletes the key
		wantKey          string
	}{
		{"no regions", "regions", `[]`, "voicemail:regions"},
		{"regions missing", "regions", "", "voicemail:regions"},
		{"regions not JSON", "regions", `eastus2`, "voicemail:regions"},
		{"unknown region field", "regions", `[{"name":"eastus2","zone":[1]}]`, "voicemail:regions"},
		{"bad region name", "regions", `[{"name":"East US 2","zones":[1]}]`, "voicemail:regions[0].name"},
		{"unknown region without short", "regions", `[{"name":"marsnorth","zones":[1]},{"name":"centralus","zones":[1,2,3]}]`, "voicemail:regions[0].short"},
		{"duplicate region", "regions", `[{"name":"eastus2","zones":[1,2]},{"name":"eastus2","zones":[1]}]`, "voicemail:regions[1].name"},
		{"region without zones", "regions", `[{"name":"eastus2","zones":[]},{"name":"centralus","zones":[1,2,3]}]`, "voicemail:regions[0].zones"},
		{"zone 4", "regions", `[{"name":"eastus2","zones":[1,4]},{"name":"centralus","zones":[1,2,3]}]`, "voicemail:regions[0].zones[1]"},
		{"zone twice", "regions", `[{"name":"eastus2","zones":[1,1,2]},{"name":"centralus","zones":[1,2,3]}]`, "voicemail:regions[0].zones[1]"},
		{"region without stamps", "stamps", `[{"region":"eastus2","zone":1}]`, "voicemail:regions[1]"},
		{"no stamps", "stamps", `[]`, "voicemail:stamps"},
		{"stamp in unknown region", "stamps", `[{"region":"eastus2","zone":1},{"region":"centralus","zone":1},{"region":"westus","zone":1}]`, "voicemail:stamps[2].region"},
		{"zone the region lacks", "stamps", `[{"region":"eastus2","zone":3},{"region":"centralus","zone":1}]`, "voicemail:stamps[0].zone"},
		{"duplicate stamp", "stamps", `[{"region":"eastus2","zone":1},{"region":"centralus","zone":1},{"region":"eastus2","zone":1,"version":"v1"}]`, "voicemail:stamps[2]"},
		{"weight 0", "stamps", `[{"region":"eastus2","zone":1,"weight":0},{"region":"centralus","zone":1}]`, "voicemail:stamps[0].weight"},
		{"weight 1001", "stamps", `[{"region":"eastus2","zone":1},{"region":"centralus","zone":1,"weight":1001}]`, "voicemail:stamps[1].weight"},
		{"bad version", "stamps", `[{"region":"eastus2","zone":1,"version":"V-1"},{"region":"centralus","zone":1}]`, "voicemail:stamps[0].version"},
		{"all drained", "stamps", `[{"region":"eastus2","zone":1,"drained":true},{"region":"centralus","zone":1,"drained":true}]`, "voicemail:stamps"},
		{"unknown stamp field", "stamps", `[{"region":"eastus2","zone":1,"weigth":3}]`, "voicemail:stamps"},
		{"env uppercase", "environment", "Dev", "voicemail:environment"},
		{"env too long", "environment", "staging", "voicemail:environment"},
		{"prefix with dash", "namePrefix", "vm-p", "voicemail:namePrefix"},
		{"prefix too long", "namePrefix", "voicemailx", "voicemail:namePrefix"},
		{"no image", "image", "", "voicemail:image"},
		{"no dispatcher image", "sip", `{}`, "voicemail:sip.dispatcherImage"},
		{"dispatcher image by tag", "sip", `{"dispatcherImage":"example.azurecr.io/d:1.0"}`, "voicemail:sip.dispatcherImage"},
		{"one dispatcher", "sip", `{"dispatcherImage":"example.azurecr.io/d@sha256:` + strings.Repeat("a", 64) + `","dispatcherReplicas":1}`, "voicemail:sip.dispatcherReplicas"},
		{"idle timeout 120", "sip", `{"dispatcherImage":"example.azurecr.io/d@sha256:` + strings.Repeat("a", 64) + `","idleTimeoutMinutes":120}`, "voicemail:sip.idleTimeoutMinutes"},
		{"dns zone", "sip", `{"dispatcherImage":"example.azurecr.io/d@sha256:` + strings.Repeat("a", 64) + `","dnsZone":"Not A Zone"}`, "voicemail:sip.dnsZone"},
		{"image without tag or digest", "image", "example.azurecr.io/voicemail", "voicemail:image"},
		{"peak zero", "peakLoad", `{"concurrentCalls":0,"requestsPerSecond":1}`, "voicemail:peakLoad.concurrentCalls"},
		{"peak rps zero", "peakLoad", `{"concurrentCalls":1,"requestsPerSecond":0}`, "voicemail:peakLoad.requestsPerSecond"},
		{"one replica", "replicaCapacity", `{"minReplicas":1}`, "voicemail:replicaCapacity.minReplicas"},
		{"routing method", "trafficManager", `{"routingMethod":"Geographic"}`, "voicemail:trafficManager.routingMethod"},
		{"protocol", "trafficManager", `{"protocol":"TCP"}`, "voicemail:trafficManager.protocol"},
		{"plain HTTP probe", "trafficManager", `{"protocol":"HTTP","port":80}`, "voicemail:trafficManager.protocol"},
		{"probe port", "trafficManager", `{"port":80}`, "voicemail:trafficManager.port"},
		{"port", "trafficManager", `{"port":70000}`, "voicemail:trafficManager.port"},
		{"no SBCs", "sip", `{"dispatcherImage":"example.azurecr.io/d@sha256:` + strings.Repeat("a", 64) + `"}`, "voicemail:sip.sbcPrefixes"},
		{"sbc prefix for documentation", "sip", `{"dispatcherImage":"example.azurecr.io/d@sha256:` + strings.Repeat("a", 64) + `","sbcPrefixes":["100.64.0.0/28","198.51.100.0/28"]}`, "voicemail:sip.sbcPrefixes[1]"},
		{"mwi domain for examples", "sip", `{"dispatcherImage":"example.azurecr.io/d@sha256:` + strings.Repeat("a", 64) + `","sbcPrefixes":["100.64.0.0/28"],"mwiDomains":["ims.example.net"]}`, "voicemail:sip.mwiDomains[0]"},
		{"sbc prefix", "sip", `{"sbcPrefixes":["not-a-prefix"]}`, "voicemail:sip.sbcPrefixes[0]"},
		{"sbc prefix too broad", "sip", `{"sbcPrefixes":["192.0.2.0/28","0.0.0.0/0"]}`, "voicemail:sip.sbcPrefixes[1]"},
		{"sbc prefix host bits", "sip", `{"sbcPrefixes":["192.0.2.7/28"]}`, "voicemail:sip.sbcPrefixes[0]"},
		{"mwi domain", "sip", `{"mwiDomains":["sip:x@y"]}`, "voicemail:sip.mwiDomains[0]"},
		{"ttl 60", "trafficManager", `{"ttl":60}`, "voicemail:trafficManager.ttl"},
		{"interval 20", "trafficManager", `{"intervalSeconds":20}`, "voicemail:trafficManager.intervalSeconds"},
		{"timeout 10 at 10s interval", "trafficManager", `{"timeoutSeconds":10}`, "voicemail:trafficManager.timeoutSeconds"},
		{"tolerated 10", "trafficManager", `{"toleratedFailures":10}`, "voicemail:trafficManager.toleratedFailures"},
		{"health window 5", "trafficManager", `{"healthWindowSeconds":5}`, "voicemail:trafficManager.healthWindowSeconds"},
		{"health window 601", "trafficManager", `{"healthWindowSeconds":601}`, "voicemail:trafficManager.healthWindowSeconds"},
		{"aks tier", "aks", `{"tier":"Gold"}`, "voicemail:aks.tier"},
		{"aks vm size", "aks", `{"userVmSize":"D8"}`, "voicemail:aks.userVmSize"},
		{"aks system vm size", "aks", `{"systemVmSize":"big"}`, "voicemail:aks.systemVmSize"},
		{"aks max below min", "aks", `{"userMinCount":5,"userMaxCount":3}`, "voicemail:aks.userMaxCount"},
		{"aks no system nodes", "aks", `{"systemNodeCount":0}`, "voicemail:aks.systemNodeCount"},
		{"aks no user nodes", "aks", `{"userMinCount":0}`, "voicemail:aks.userMinCount"},
		{"aks max pods", "aks", `{"maxPods":5}`, "voicemail:aks.maxPods"},
		{"aks upgrade none", "aks", `{"upgradeChannel":"none"}`, "voicemail:aks.upgradeChannel"},
		{"aks node os channel", "aks", `{"nodeOsUpgradeChannel":"None"}`, "voicemail:aks.nodeOsUpgradeChannel"},
		{"aks version", "aks", `{"kubernetesVersion":"latest"}`, "voicemail:aks.kubernetesVersion"},
		{"aks node os channel the pinned API lacks", "aks", `{"nodeOsUpgradeChannel":"SecurityPatch"}`, "voicemail:aks.nodeOsUpgradeChannel"},
		{"aks version without preStop sleep", "aks", `{"kubernetesVersion":"1.29.7"}`, "voicemail:aks.kubernetesVersion"},
		{"aks version 2.x", "aks", `{"kubernetesVersion":"2.0"}`, "voicemail:aks.kubernetesVersion"},
		{"calls beyond load-balancer rules", "replicaCapacity", `{"concurrentCalls":297}`, "voicemail:replicaCapacity.concurrentCalls"},
		{"cosmos throughput", "cosmos", `{"maxThroughput":1500}`, "voicemail:cosmos.maxThroughput"},
		{"cosmos backup periodic", "cosmos", `{"backupTier":"Periodic"}`, "voicemail:cosmos.backupTier"},
		{"storage LRS", "storage", `{"sku":"Standard_LRS"}`, "voicemail:storage.sku"},
		{"functions sku", "functions", `{"planSku":"Y1"}`, "voicemail:functions.planSku"},
		{"package not a zip", "functions", `{"package":"manager-0123.tar.gz"}`, "voicemail:functions.package"},
		{"package in a folder", "functions", `{"package":"releases/manager.zip"}`, "voicemail:functions.package"},
		{"package is a URL", "functions", `{"package":"https://x.blob.core.windows.net/deployments/manager.zip"}`, "voicemail:functions.package"},
		{"package dot-dot", "functions", `{"package":"a..zip"}`, "voicemail:functions.package"},
		{"package just .zip", "functions", `{"package":".zip"}`, "voicemail:functions.package"},
		{"package too long", "functions", `{"package":"` + strings.Repeat("m", 252) + `.zip"}`, "voicemail:functions.package"},
		{"package not a string", "functions", `{"package":3}`, "voicemail:functions"},
		{"jumpbox without key", "jumpbox", `{"enabled":true}`, "voicemail:jumpbox.adminSshPublicKey"},
		{"jumpbox instances", "jumpbox", `{"instances":0,"adminSshPublicKey":"ssh-ed25519 AAAA x"}`, "voicemail:jumpbox.instances"},
		{"jumpbox size", "jumpbox", `{"vmSize":"B2s","adminSshPublicKey":"ssh-ed25519 AAAA x"}`, "voicemail:jumpbox.vmSize"},
		{"retention", "logRetentionDays", "7", "voicemail:logRetentionDays"},
		{"retention not a number", "logRetentionDays", "thirty", "voicemail:logRetentionDays"},
		{"replication not a bool", "objectReplication", "sometimes", "voicemail:objectReplication"},
		{"visibility delay not a duration", "imap", `{"visibilityDelay":"5"}`, "voicemail:imap.visibilityDelay"},
		{"visibility delay negative", "imap", `{"visibilityDelay":"-1s"}`, "voicemail:imap.visibilityDelay"},
		{"visibility delay above 5m", "imap", `{"visibilityDelay":"5m1s"}`, "voicemail:imap.visibilityDelay"},
		{"visibility delay 0s with two regions", "imap", `{"visibilityDelay":"0s"}`, "voicemail:imap.visibilityDelay"},
		{"visibility delay a number", "imap", `{"visibilityDelay":5}`, "voicemail:imap"},
		{"unknown imap field", "imap", `{"delay":"5s"}`, "voicemail:imap"},
		{"unknown key", "zones", "3", "voicemail:zones"},
		{"other namespace", "azure-native:location", "eastus2", "voicemail:azure-native:location"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := valid()
			k := tc.key
			if !strings.Contains(k, ":") {
				k = "voicemail:" + k
			}
			if tc.value == "" {
				delete(raw, k)
			} else {
				raw[k] = tc.value
			}
			_, err := config.Parse(raw)
			require.Error(t, err)
			var fe *config.FieldError
			require.True(t, errors.As(err, &fe), "error is a FieldError: %v", err)
			assert.Contains(t, err.Error(), tc.wantKey+":", "error names the key")
		})
	}
}

func TestStackFilesParse(t *testing.T) {
	for _, st := range []string{"dev", "prod"} {
		t.Run(st, func(t *testing.T) {
			c, err := config.LoadStackFile(filepath.Join("..", "..", "Pulumi."+st+".yaml"))
			require.NoError(t, err)
			assert.Equal(t, st, c.Environment)
			assert.NotEmpty(t, c.SIP.SBCPrefixes, "without SBCs no call reaches a stamp")
			assert.NotEmpty(t, c.SIP.MWIDomains, "without MWI domains no mailbox may name an MWI target")
			assert.True(t, c.SIP.PlaceholderPeers, "the committed values are examples, and say so")
			assert.Equal(t, len(c.SIP.SBCPrefixes)+len(c.SIP.MWIDomains), c.SIP.PlaceholderPeerCount())
			if st == "dev" {
				require.Len(t, c.Regions, 1)
				assert.Len(t, c.Regions[0].Zones, 2)
			} else {
				require.Len(t, c.Regions, 4)
				for _, r := range c.Regions {
					assert.Len(t, r.Zones, 3)
				}
			}
		})
	}
}

func TestLoadStackFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	_, err := config.LoadStackFile(filepath.Join(dir, "missing.yaml"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	_, err = config.LoadStackFile(write("bad.yaml", "config: [unclosed"))
	assert.ErrorContains(t, err, "parse stack file")

	_, err = config.LoadStackFile(write("secret.yaml", "config:\n  voicemail:image:\n    secure: AAAB\n"))
	assert.ErrorContains(t, err, "voicemail:image: secrets are not supported")

	// Other namespaces are ignored; validation errors carry the file and the key.
	p := write("Pulumi.x.yaml", "config:\n  azure-native:location: eastus2\n  voicemail:environment: x\n")
	_, err = config.LoadStackFile(p)
	assert.ErrorContains(t, err, p)
	assert.ErrorContains(t, err, "voicemail:environment:")
	assert.ErrorContains(t, err, "voicemail:regions:")
}

type getter map[string]string

func (g getter) GetConfig(k string) (string, bool) { v, ok := g[k]; return v, ok }

func TestFromPulumiMatchesParse(t *testing.T) {
	raw := valid()
	a, err := config.FromPulumi(getter(raw))
	require.NoError(t, err)
	b, err := config.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, b, a)
}

// Documentation ranges and example domains are admitted only when the stack says its SIP peers
// are placeholders.
func TestPlaceholderPeers(t *testing.T) {
	raw := valid()
	raw["voicemail:sip"] = `{"dispatcherImage":"example.azurecr.io/d@sha256:` + strings.Repeat("a", 64) + `","sbcPrefixes":["192.0.2.0/28"],"mwiDomains":["ims.example.net"],"placeholderPeers":true}`
	c, err := config.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, 2, c.SIP.PlaceholderPeerCount())
	c, err = config.Parse(valid())
	require.NoError(t, err)
	assert.Zero(t, c.SIP.PlaceholderPeerCount())
}

// imap.visibilityDelay reaches every stamp as VOICEMAIL_IMAP_VISIBILITY_DELAY; 0s (show at once)
// is for a single region only.
func TestIMAPVisibilityDelay(t *testing.T) {
	c, err := config.Parse(valid())
	require.NoError(t, err)
	assert.Equal(t, contract.DefaultIMAP().VisibilityDelay, c.IMAP.Delay(), "unset: the contract's default")

	for _, v := range []string{"30s", "1m30s", "5m", "250ms"} {
		raw := valid()
		raw["voicemail:imap"] = `{"visibilityDelay":"` + v + `"}`
		c, err := config.Parse(raw)
		require.NoError(t, err, v)
		want, _ := time.ParseDuration(v)
		assert.Equal(t, want, c.IMAP.Delay(), v)
	}

	raw := valid()
	raw["voicemail:regions"] = `[{"name":"eastus2","zones":[1,2]}]`
	raw["voicemail:stamps"] = `[{"region":"eastus2","zone":1},{"region":"eastus2","zone":2}]`
	raw["voicemail:imap"] = `{"visibilityDelay":"0s"}`
	c, err = config.Parse(raw)
	require.NoError(t, err, "one region: nothing arrives from elsewhere")
	assert.Zero(t, c.IMAP.Delay())
}
