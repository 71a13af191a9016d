package manager

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/contract"
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
		contract.EnvManagerRegion.Name: "eastus2", contract.EnvManagerStamps.Name: `[{"id":"a","url":"http://127.0.0.1:1","stateBlob":"a"}]`,
		contract.EnvManagerContainerURL.Name: "https://st.blob.core.windows.net/state", contract.EnvManagerOperatorToken.Name: ref,
	}
	cfg, err := contract.LoadManager(func(k string) string { return env[k] })
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
