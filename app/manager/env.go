package manager

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Environment variable names read by FromEnv. The Pulumi program sets them as app settings
// of the regional Functions app.
const (
	EnvHTTPAddr         = "VOICEMAIL_MANAGER_HTTP_ADDR"
	EnvFunctionsPort    = "FUNCTIONS_CUSTOMHANDLER_PORT"
	EnvRegion           = "VOICEMAIL_MANAGER_REGION"
	EnvStamps           = "VOICEMAIL_MANAGER_STAMPS"
	EnvContainerURL     = "VOICEMAIL_MANAGER_STATE_CONTAINER_URL"
	EnvConnectionString = "VOICEMAIL_MANAGER_STORAGE_CONNECTION_STRING"
	EnvContainer        = "VOICEMAIL_MANAGER_STATE_CONTAINER"
	EnvStateBlob        = "VOICEMAIL_MANAGER_STATE_BLOB"
	EnvOperatorToken    = "VOICEMAIL_MANAGER_OPERATOR_TOKEN"
	EnvFailThreshold    = "VOICEMAIL_MANAGER_FAIL_THRESHOLD"
	EnvRecoverThreshold = "VOICEMAIL_MANAGER_RECOVER_THRESHOLD"
	EnvHistory          = "VOICEMAIL_MANAGER_HISTORY"
	EnvProbeTimeout     = "VOICEMAIL_MANAGER_PROBE_TIMEOUT"
	EnvInterval         = "VOICEMAIL_MANAGER_INTERVAL"
	EnvHealthPath       = "VOICEMAIL_MANAGER_HEALTH_PATH"
	EnvStateComponent   = "VOICEMAIL_MANAGER_STATE_COMPONENT"
)

// EnvConfig is the process configuration of cmd/manager.
type EnvConfig struct {
	Config
	Addr             string
	ContainerURL     string // Azure: token credential
	ConnectionString string // Azurite only
	Container        string
	StateBlob        string
	OperatorToken    string
	// OperatorTokenUnresolved is set when the token variable still holds the Key Vault
	// reference text: App Service passes the reference itself until it resolves (identity not
	// yet granted, secret missing), and that text is derivable from resource names, so it is
	// never accepted as a token; the operator API answers 503 until a restart resolves it.
	OperatorTokenUnresolved bool
	// Interval > 0 makes the process tick by itself (outside Functions, whose timer trigger
	// calls TimerPath instead).
	Interval       time.Duration
	HealthPath     string
	StateComponent string
}

// FromEnv reads and validates the configuration; errors name the variable.
func FromEnv(getenv func(string) string, defaultHealthPath, defaultStateComponent string) (EnvConfig, error) {
	var c EnvConfig
	c.Addr = getenv(EnvHTTPAddr)
	if p := getenv(EnvFunctionsPort); p != "" {
		if _, err := strconv.Atoi(p); err != nil {
			return c, fmt.Errorf("%s: %q is not a port", EnvFunctionsPort, p)
		}
		c.Addr = ":" + p
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8090"
	}
	c.Region = getenv(EnvRegion)
	if c.Region == "" {
		return c, fmt.Errorf("%s is required", EnvRegion)
	}
	raw := getenv(EnvStamps)
	if raw == "" {
		return c, fmt.Errorf("%s is required (JSON list of {id,url,stateBlob,drained})", EnvStamps)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.Stamps); err != nil {
		return c, fmt.Errorf("%s: %w", EnvStamps, err)
	}
	c.ContainerURL = getenv(EnvContainerURL)
	c.ConnectionString = getenv(EnvConnectionString)
	c.Container = getenv(EnvContainer)
	switch {
	case c.ContainerURL != "" && c.ConnectionString != "":
		return c, fmt.Errorf("%s and %s are exclusive", EnvContainerURL, EnvConnectionString)
	case c.ContainerURL == "" && c.ConnectionString == "":
		return c, fmt.Errorf("%s (Azure) or %s (Azurite) is required", EnvContainerURL, EnvConnectionString)
	case c.ConnectionString != "" && c.Container == "":
		return c, fmt.Errorf("%s is required with %s", EnvContainer, EnvConnectionString)
	}
	c.StateBlob = getenv(EnvStateBlob)
	if c.StateBlob == "" {
		c.StateBlob = "manager/" + c.Region + ".json"
	}
	// Without a token the operator API is off; probing, draining and restoring still run.
	c.OperatorToken = getenv(EnvOperatorToken)
	if IsKeyVaultReference(c.OperatorToken) {
		c.OperatorToken, c.OperatorTokenUnresolved = "", true
	}
	if c.OperatorToken != "" && len(c.OperatorToken) < 16 {
		return c, fmt.Errorf("%s must be at least 16 characters", EnvOperatorToken)
	}
	ints := []struct {
		name string
		dst  *int
	}{{EnvFailThreshold, &c.FailThreshold}, {EnvRecoverThreshold, &c.RecoverThreshold}, {EnvHistory, &c.HistoryLen}}
	for _, v := range ints {
		if s := getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return c, fmt.Errorf("%s: %q is not a positive integer", v.name, s)
			}
			*v.dst = n
		}
	}
	durs := []struct {
		name string
		dst  *time.Duration
	}{{EnvProbeTimeout, &c.ProbeTimeout}, {EnvInterval, &c.Interval}}
	for _, v := range durs {
		if s := getenv(v.name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return c, fmt.Errorf("%s: %q is not a duration (e.g. 10s)", v.name, s)
			}
			*v.dst = d
		}
	}
	c.HealthPath = getenv(EnvHealthPath)
	if c.HealthPath == "" {
		c.HealthPath = defaultHealthPath
	}
	c.StateComponent = getenv(EnvStateComponent)
	if c.StateComponent == "" {
		c.StateComponent = defaultStateComponent
	}
	if err := c.Config.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", EnvStamps, err)
	}
	return c, nil
}

// IsKeyVaultReference reports whether an app setting's value is an unresolved App Service Key
// Vault reference (https://learn.microsoft.com/en-us/azure/app-service/app-service-key-vault-references):
// "@Microsoft.KeyVault(...)" is what the app sees while the reference cannot be resolved.
func IsKeyVaultReference(v string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "@microsoft.keyvault(")
}
