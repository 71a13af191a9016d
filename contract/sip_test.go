package contract

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadSIP(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := LoadSIP(env())
	require.NoError(t, err)
	assert.Equal(t, 10000, c.RTPPortMin)
	assert.Equal(t, 10*time.Second, c.SilenceTimeout)
	assert.Equal(t, c, SIP{}.WithDefaults(), "an unset variable and a zero field take the same default")

	c, err = LoadSIP(env("VOICEMAIL_SIP_RTP_PORTS", "30000-30100", "VOICEMAIL_SIP_ACCESS_NUMBERS", "8500, 8501",
		"VOICEMAIL_SIP_MEDIA_IP", "203.0.113.5", "VOICEMAIL_SIP_SILENCE_TIMEOUT", "4s", "VOICEMAIL_SIP_MAX_CALLS", "300"))
	require.NoError(t, err)
	assert.Equal(t, []string{"8500", "8501"}, c.AccessNumbers)
	assert.Equal(t, 30000, c.RTPPortMin)
	assert.Equal(t, 30100, c.RTPPortMax)
	assert.Equal(t, 4*time.Second, c.SilenceTimeout)
	assert.Equal(t, 300, c.MaxCalls)

	for _, tc := range []struct{ key, val string }{
		{"VOICEMAIL_SIP_RTP_PORTS", "30000"},
		{"VOICEMAIL_SIP_RTP_PORTS", "500-600"},
		{"VOICEMAIL_SIP_RTP_PORTS", "40000-30000"},
		{"VOICEMAIL_SIP_MEDIA_IP", "not-an-ip"},
		{"VOICEMAIL_SIP_RTP_BIND_IP", "1.2.3"},
		{"VOICEMAIL_SIP_SILENCE_TIMEOUT", "ten"},
		{"VOICEMAIL_SIP_RTP_TIMEOUT", "-1s"},
		{"VOICEMAIL_SIP_MAX_CALLS", "0"},
		{"VOICEMAIL_SIP_MAX_CALL_DURATION", "forever"},
		{"VOICEMAIL_SIP_ACCESS_NUMBERS", "8500,sip:x@y"},
	} {
		_, err := LoadSIP(env(tc.key, tc.val))
		require.Error(t, err, "%s=%s", tc.key, tc.val)
		assert.Contains(t, err.Error(), tc.key, "the error names the variable")
	}
}

func TestMWITargetAllowed(t *testing.T) {
	domains := []string{"sbc.example.net", "192.0.2.10", "2001:db8::1"}
	for uri, want := range map[string]bool{
		"sip:1001@sbc.example.net":                    true,
		"sips:1001@mwi.SBC.example.net:5061":          true,
		"sip:1001@edge.sbc.example.net;transport=tcp": true,
		"sip:1001@192.0.2.10:5060":                    true,
		"sip:1001@[2001:db8::1]:5060":                 true,
		"sip:1001@evilsbc.example.net":                false,
		"sip:1001@sbc.example.net.evil.com":           false,
		"sip:1001@192.0.2.11":                         false,
		"sip:victim@attacker.example":                 false,
		"sip:sbc.example.net@attacker.example":        false,
		"tel:+15551234":                               false,
		"sip:":                                        false,
	} {
		assert.Equal(t, want, MWITargetAllowed(uri, domains), uri)
	}
	assert.False(t, MWITargetAllowed("sip:1001@sbc.example.net", nil), "no domains: nothing is allowed")

	c, err := LoadStamp(env(map[string]string{EnvSIPMWIDomains.Name: "sbc.example.net, 192.0.2.10"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"sbc.example.net", "192.0.2.10"}, c.SIP.MWIDomains)
	_, err = LoadStamp(env(map[string]string{EnvSIPMWIDomains.Name: "sip:bad@x"}))
	assert.ErrorContains(t, err, EnvSIPMWIDomains.Name)
}
