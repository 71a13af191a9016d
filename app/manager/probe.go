package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// HTTPProber probes GET <stamp URL><Path> the way Traffic Manager does, but reads the JSON
// summary so a stamp that fails only because its state blob is missing counts as healthy.
type HTTPProber struct {
	Client *http.Client
	// Path is the stamp health path (contract.StampHealthPath).
	Path string
	// StateComponent is the name the stamp's health summary gives the state-blob check.
	StateComponent string
}

// Probe never returns an error: every failure is an unhealthy observation with a reason.
func (p HTTPProber) Probe(ctx context.Context, s Stamp) Observation {
	var o Observation // Tick stamps the time
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(s.URL, "/")+p.Path, nil)
	if err != nil {
		o.Detail = "bad stamp url: " + err.Error()
		return o
	}
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		o.Detail = "no response: " + err.Error()
		return o
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	o.Status = resp.StatusCode
	o.Healthy, o.Detail = Judge(resp.StatusCode, body, p.StateComponent)
	return o
}

// Judge decides from a stamp health answer whether the stamp is healthy apart from its
// state blob. 200 is healthy. 503 is healthy only when the summary names the state-blob
// component as the one and only failing component.
func Judge(status int, body []byte, stateComponent string) (bool, string) {
	if status == http.StatusOK {
		return true, ""
	}
	if status != http.StatusServiceUnavailable {
		return false, fmt.Sprintf("status %d", status)
	}
	failing, ok := failingComponents(body)
	if !ok {
		return false, "503 without a readable component summary"
	}
	if len(failing) == 1 && failing[0] == stateComponent {
		return true, "only " + stateComponent + " failing (drained)"
	}
	return false, "failing: " + strings.Join(failing, ",")
}

// failingComponents reads the names of unhealthy components from the stamp's JSON summary:
// {"components":{name:{"healthy":bool|"status":"..."}}} or {"components":[{"name":..}]} or
// {"checks":...}.
func failingComponents(body []byte) ([]string, bool) {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return nil, false
	}
	var raw json.RawMessage
	for _, k := range []string{"components", "checks"} {
		if v, ok := doc[k]; ok {
			raw = v
			break
		}
	}
	if raw == nil {
		return nil, false
	}
	var out []string
	var asMap map[string]map[string]any
	var asList []map[string]any
	switch {
	case json.Unmarshal(raw, &asMap) == nil:
		for name, c := range asMap {
			if !componentHealthy(c) {
				out = append(out, name)
			}
		}
	case json.Unmarshal(raw, &asList) == nil:
		for _, c := range asList {
			if !componentHealthy(c) {
				name, _ := c["name"].(string)
				out = append(out, name)
			}
		}
	default:
		return nil, false
	}
	sort.Strings(out)
	return out, true
}

func componentHealthy(c map[string]any) bool {
	if h, ok := c["healthy"].(bool); ok {
		return h
	}
	if s, ok := c["status"].(string); ok {
		switch strings.ToLower(s) {
		case "ok", "healthy", "pass", "up":
			return true
		}
		return false
	}
	return false
}
