package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/config"
)

func TestMaintenanceWindowsStaggered(t *testing.T) {
	raw := valid()
	raw["voicemail:maintenance"] = `{"windows":[{"region":"eastus2","day":"Thursday","startTime":"04:00"}]}`
	c, err := config.Parse(raw)
	require.NoError(t, err)
	ws, errs := c.MaintenanceWindows()
	require.Empty(t, errs)
	require.Len(t, ws, 5)
	// eastus2 as configured, its second zone a day later; centralus derived (second slot).
	assert.Equal(t, []string{"eastus2 zone 1 Thursday 04:00 UTC for 4 h", "eastus2 zone 2 Friday 04:00 UTC for 4 h",
		"centralus zone 1 Monday 04:00 UTC for 4 h", "centralus zone 2 Tuesday 04:00 UTC for 4 h", "centralus zone 3 Wednesday 04:00 UTC for 4 h"},
		[]string{ws[0].String(), ws[1].String(), ws[2].String(), ws[3].String(), ws[4].String()})
}

func TestMaintenanceInvalidConfigNamesKey(t *testing.T) {
	cases := []struct{ value, key string }{
		// centralus zone 1 (derived Monday 04:00) collides with eastus2 placed there too.
		{`{"windows":[{"region":"eastus2","day":"Monday","startTime":"06:00"}]}`, "voicemail:maintenance.windows[0]"},
		// Two regions in the same slot.
		{`{"windows":[{"region":"eastus2","day":"Friday","startTime":"01:00"},{"region":"centralus","day":"Friday","startTime":"03:00"}]}`, "voicemail:maintenance.windows[1]"},
		// Zones of one region closer together than a window is long.
		{`{"durationHours":6,"zoneStaggerHours":4}`, "voicemail:maintenance.zoneStaggerHours"},
		{`{"durationHours":3}`, "voicemail:maintenance.durationHours"},
		{`{"windows":[{"region":"eastus2","day":"Funday","startTime":"01:00"}]}`, "voicemail:maintenance.windows[0].day"},
		{`{"windows":[{"region":"eastus2","day":"Monday","startTime":"25:00"}]}`, "voicemail:maintenance.windows[0].startTime"},
		{`{"windows":[{"region":"westeurope","day":"Monday","startTime":"01:00"}]}`, "voicemail:maintenance.windows[0].region"},
		// Across the end of the week: Sunday 22:00 + 4 h runs into Monday 02:00.
		{`{"windows":[{"region":"eastus2","day":"Sunday","startTime":"22:00"},{"region":"centralus","day":"Monday","startTime":"01:00"}]}`, "voicemail:maintenance.windows[1]"},
	}
	for _, tc := range cases {
		raw := valid()
		raw["voicemail:maintenance"] = tc.value
		_, err := config.Parse(raw)
		require.Error(t, err, tc.value)
		assert.Contains(t, err.Error(), tc.key+":", tc.value)
	}
}

func TestOperationsConfigNamesKey(t *testing.T) {
	cases := []struct{ key, value, want string }{
		{"network", `{"deployRunnerIpRanges":["0.0.0.0/0"]}`, "network.deployRunnerIpRanges[0]"},
		{"network", `{"deployRunnerIpRanges":["10.1.0.0/24"]}`, "network.deployRunnerIpRanges[0]"},
		{"network", `{"deployRunnerIpRanges":["nope"]}`, "network.deployRunnerIpRanges[0]"},
		{"network", `{"imapProxyRanges":["10.200.0.0/24","0.0.0.0/0"]}`, "network.imapProxyRanges[1]"},
		{"network", `{"imapProxyRanges":["haproxy"]}`, "network.imapProxyRanges[0]"},
		{"monitoring", `{"dailyCapGb":{"stamp":0}}`, "monitoring.dailyCapGb.stamp"},
		{"monitoring", `{"healthThreshold":0.9,"degradedThreshold":0.8}`, "monitoring.degradedThreshold"},
		{"monitoring", `{"actionGroups":[{"name":"ops","shortName":"ops","emails":["a@b.c"],"severities":[0,1]}]}`, "monitoring.actionGroups"},
		{"monitoring", `{"actionGroups":[{"name":"ops","shortName":"ops","severities":[0,1,2,3]}]}`, "monitoring.actionGroups[0]"},
		{"monitoring", `{"actionGroups":[{"name":"ops","shortName":"ops","webhooks":["http://x"],"severities":[0,1,2,3]}]}`, "monitoring.actionGroups[0].webhooks[0]"},
		{"monitoring", `{"actionGroups":[{"name":"ops","shortName":"ops","emails":["a@b.c"],"severities":[0,1,2,3,4]}]}`, "monitoring.actionGroups[0].severities[4]"},
		// Receivers in reserved example domains reach nobody.
		{"monitoring", `{"actionGroups":[{"name":"ops","shortName":"ops","emails":["a@b.c","oncall@voicemail-platform.example"],"severities":[0,1,2,3]}]}`, "monitoring.actionGroups[0].emails[1]"},
		{"monitoring", `{"actionGroups":[{"name":"ops","shortName":"ops","emails":["ops@example.com"],"severities":[0,1,2,3]}]}`, "monitoring.actionGroups[0].emails[0]"},
		{"monitoring", `{"actionGroups":[{"name":"ops","shortName":"ops","webhooks":["https://hooks.ops.test/alert"],"severities":[0,1,2,3]}]}`, "monitoring.actionGroups[0].webhooks[0]"},
	}
	for _, tc := range cases {
		raw := valid()
		raw["voicemail:"+tc.key] = tc.value
		_, err := config.Parse(raw)
		require.Error(t, err, tc.value)
		assert.Contains(t, err.Error(), "voicemail:"+tc.want+":", tc.value)
	}
	// A stack that declares its receivers placeholders keeps them.
	raw := valid()
	raw["voicemail:monitoring"] = `{"placeholderReceivers":true,"actionGroups":[{"name":"ops","shortName":"ops","emails":["ops@example.com"],"webhooks":["https://hooks.example/x"],"severities":[0,1,2,3]}]}`
	c, err := config.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, 2, c.Monitoring.PlaceholderReceiverCount())
	assert.False(t, config.ReservedDomain("example-voicemail.com"), "only the reserved names and their subdomains")

	raw = valid()
	raw["voicemail:monitoring"] = `{"actionGroups":[{"name":"oncall","shortName":"oncall","webhooks":["https://x"],"severities":[0,1]},{"name":"ops","shortName":"ops","emails":["a@b.c"],"severities":[2,3]}]}`
	c, err = config.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, []string{"oncall"}, c.Monitoring.ActionGroupsFor(0))
	assert.Equal(t, 20, c.Monitoring.DailyCapGB.Stamp, "fields left out keep their defaults")
}
