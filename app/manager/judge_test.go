package manager

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJudge(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		body    string
		healthy bool
	}{
		{"ok", 200, `{}`, true},
		{"only state failing (map)", 503, `{"components":{"state":{"healthy":false},"metadata":{"healthy":true}}}`, true},
		{"only state failing (list)", 503, `{"components":[{"name":"state","status":"unhealthy"},{"name":"queue","status":"ok"}]}`, true},
		{"state and metadata failing", 503, `{"components":{"state":{"healthy":false},"metadata":{"healthy":false}}}`, false},
		{"metadata failing", 503, `{"components":{"state":{"healthy":true},"metadata":{"healthy":false}}}`, false},
		{"503 without summary", 503, `oops`, false},
		{"500", 500, `{"components":{"state":{"healthy":false}}}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, detail := Judge(c.status, []byte(c.body), "state")
			assert.Equal(t, c.healthy, got, detail)
		})
	}
}

func TestFromEnv(t *testing.T) {
	base := map[string]string{
		EnvRegion:           "westeurope",
		EnvStamps:           `[{"id":"a","url":"http://a","stateBlob":"stamps/a"}]`,
		EnvConnectionString: "UseDevelopmentStorage=true",
		EnvContainer:        "state",
		EnvOperatorToken:    "0123456789abcdef",
	}
	env := func(over map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := over[k]; ok {
				return v
			}
			return base[k]
		}
	}
	c, err := FromEnv(env(nil), "/health/stamp", "state")
	require.NoError(t, err)
	assert.Equal(t, "manager/westeurope.json", c.StateBlob)
	assert.Equal(t, "/health/stamp", c.HealthPath)

	c, err = FromEnv(env(map[string]string{EnvFunctionsPort: "7777", EnvFailThreshold: "5", EnvInterval: "2s"}), "/h", "s")
	require.NoError(t, err)
	assert.Equal(t, ":7777", c.Addr)
	assert.Equal(t, 5, c.FailThreshold)

	bad := []struct{ key, val string }{
		{EnvRegion, ""},
		{EnvStamps, ""},
		{EnvStamps, `[{"id":"a","url":"http://a","stateBlob":"x","extra":1}]`},
		{EnvStamps, `[{"id":"a","url":"http://a","stateBlob":"x"},{"id":"a","url":"http://b","stateBlob":"y"}]`},
		{EnvStamps, `[{"id":"a","url":"","stateBlob":"x"}]`},
		{EnvConnectionString, ""},
		{EnvOperatorToken, "short"}, // set but too short
		{EnvFailThreshold, "zero"},
		{EnvProbeTimeout, "5 parsecs"},
		{EnvFunctionsPort, "http"},
	}
	for _, b := range bad {
		t.Run(b.key+"="+b.val, func(t *testing.T) {
			_, err := FromEnv(env(map[string]string{b.key: b.val}), "/h", "s")
			require.Error(t, err)
			name := b.key
			if b.key == EnvConnectionString {
				name = EnvContainerURL // the error names both alternatives
			}
			assert.True(t, strings.Contains(err.Error(), name), err.Error())
		})
	}
}

func TestOperatorAPIOffWithoutToken(t *testing.T) {
	srv := httptest.NewServer(&Handler{})
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+StampsPath+"/a/drain", strings.NewReader(`{"reason":"x"}`))
	req.Header.Set("Authorization", "Bearer ")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// Until App Service resolves a Key Vault reference it hands the reference text to the app; that
// text is derivable from resource names and must never work as a token.
func TestUnresolvedKeyVaultReferenceIsNoToken(t *testing.T) {
	ref := "@Microsoft.KeyVault(SecretUri=https://kv-vmp-prod-eus2.vault.azure.net/secrets/operator-token/)"
	env := map[string]string{
		EnvRegion: "eastus2", EnvStamps: `[{"id":"a","url":"http://127.0.0.1:1","stateBlob":"a"}]`,
		EnvContainerURL: "https://st.blob.core.windows.net/state", EnvOperatorToken: ref,
	}
	cfg, err := FromEnv(func(k string) string { return env[k] }, "/health/stamp", "state")
	require.NoError(t, err)
	assert.Empty(t, cfg.OperatorToken)
	assert.True(t, cfg.OperatorTokenUnresolved)

	srv := httptest.NewServer(&Handler{OperatorToken: cfg.OperatorToken, TokenUnresolved: cfg.OperatorTokenUnresolved})
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+StampsPath, nil)
	req.Header.Set("Authorization", "Bearer "+ref)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}
