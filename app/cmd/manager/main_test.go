package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/local/azurite"
	"github.com/voicemail-platform/voicemail/app/manager"
	"github.com/voicemail-platform/voicemail/contract"
)

// The files shipped in the Functions zip agree with the handler: the timer function's folder
// name is the path the host POSTs to, the HTTP functions' routes are the operator API, and
// the executable is this binary.
func TestFunctionAppFiles(t *testing.T) {
	var host struct {
		Version       string
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string
			}
			EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
		}
		Extensions struct{ HTTP struct{ RoutePrefix string } }
	}
	raw, err := os.ReadFile(filepath.Join("functionapp", "host.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &host))
	assert.Equal(t, "2.0", host.Version)
	assert.Equal(t, "manager", host.CustomHandler.Description.DefaultExecutablePath)
	assert.True(t, host.CustomHandler.EnableForwardingHTTPRequest)

	type binding struct {
		Type, Direction, Route, Schedule, AuthLevel string
		Methods                                     []string
	}
	fns := map[string][]binding{}
	dirs, err := os.ReadDir("functionapp")
	require.NoError(t, err)
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("functionapp", d.Name(), "function.json"))
		require.NoError(t, err)
		var f struct{ Bindings []binding }
		require.NoError(t, json.Unmarshal(raw, &f))
		fns[d.Name()] = f.Bindings
	}
	timer := strings.TrimPrefix(manager.TimerPath, "/")
	require.Contains(t, fns, timer)
	assert.Equal(t, "timerTrigger", fns[timer][0].Type)
	assert.NotEmpty(t, fns[timer][0].Schedule)
	routes := map[string]bool{}
	for _, bs := range fns {
		for _, b := range bs {
			if b.Type == "httpTrigger" {
				routes["/"+host.Extensions.HTTP.RoutePrefix+"/"+b.Route] = true
				// The Functions host checks a function key before the request reaches the
				// manager: an anonymous trigger is open to anyone who finds the app's URL.
				assert.Equal(t, "function", b.AuthLevel, "HTTP trigger %s must not be anonymous", b.Route)
			}
		}
	}
	assert.True(t, routes[manager.StampsPath])
	assert.True(t, routes[manager.StampsPath+"/{id}/{action}"])
}

// The binary serves the custom-handler contract on FUNCTIONS_CUSTOMHANDLER_PORT.
func TestRunAsCustomHandler(t *testing.T) {
	t.Parallel() // its own Azurite and port
	az := azurite.StartT(t, azurite.Options{InMemory: true, Services: []azurite.Service{azurite.Blob}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const token = "manager-operator-token-0123"
	env := map[string]string{
		contract.EnvFunctionsPort.Name:           fmt.Sprint(port),
		contract.EnvManagerRegion.Name:           "eastus2",
		contract.EnvManagerStamps.Name:           `[{"id":"eastus2-z1-v1","url":"http://127.0.0.1:1","stateBlob":"eastus2-z1-v1"}]`,
		contract.EnvManagerConnectionString.Name: az.ConnectionString(),
		contract.EnvManagerContainer.Name:        "state",
		contract.EnvManagerOperatorToken.Name:    token,
		contract.EnvManagerProbeTimeout.Name:     "500ms",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.DiscardHandler), func(k string) string { return env[k] }) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	var resp *http.Response
	for i := 0; i < 100; i++ {
		resp, err = http.Post(base+manager.TimerPath, "application/json", strings.NewReader(`{"Data":{},"Metadata":{}}`))
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var inv struct {
		Logs        []string
		ReturnValue []manager.TickResult
	}
	require.NoError(t, json.Unmarshal(body, &inv))
	require.Len(t, inv.ReturnValue, 1)
	assert.Equal(t, "bootstrapped", inv.ReturnValue[0].Action)
	assert.Contains(t, inv.Logs, "eastus2-z1-v1: bootstrapped")

	req, _ := http.NewRequest(http.MethodGet, base+manager.StampsPath, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("manager did not stop on cancel")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), slog.New(slog.DiscardHandler), func(string) string { return "" })
	require.Error(t, err)
	assert.Contains(t, err.Error(), contract.EnvManagerRegion.Name)
}
