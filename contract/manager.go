package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The management service's rules when no variable sets them.
const (
	DefaultFailThreshold    = 3
	DefaultRecoverThreshold = 3
	DefaultHistoryLen       = 30
	DefaultProbeTimeout     = 5 * time.Second
)

// The management service's variables. The program sets them as app settings of the regional
// Functions app; a local run sets them itself.
var (
	EnvManagerHTTPAddr         = Var{"VOICEMAIL_MANAGER_HTTP_ADDR", "127.0.0.1:8090", "listen address outside Functions"}
	EnvFunctionsPort           = Var{"FUNCTIONS_CUSTOMHANDLER_PORT", "", "set by the Functions host: the custom handler listens on :<port> instead"}
	EnvManagerRegion           = Var{"VOICEMAIL_MANAGER_REGION", "", "the region whose stamps it looks after (required)"}
	EnvManagerStamps           = Var{"VOICEMAIL_MANAGER_STAMPS", "", "JSON list of {id,url,stateBlob,drained} (required)"}
	EnvManagerContainerURL     = Var{"VOICEMAIL_MANAGER_STATE_CONTAINER_URL", "", "URL of the region's state container (Azure, managed identity)"}
	EnvManagerConnectionString = Var{"VOICEMAIL_MANAGER_STORAGE_CONNECTION_STRING", "", "Azurite connection string (instead of the container URL)"}
	EnvManagerContainer        = Var{"VOICEMAIL_MANAGER_STATE_CONTAINER", "", "state container name, with the connection string"}
	EnvManagerStateBlob        = Var{"VOICEMAIL_MANAGER_STATE_BLOB", "", "blob of the manager's own decisions; default manager/<region>.json"}
	EnvManagerOperatorToken    = Var{"VOICEMAIL_MANAGER_OPERATOR_TOKEN", "", "bearer token of the operator API (at least 16 characters); unset turns the API off"}
	EnvManagerFailThreshold    = Var{"VOICEMAIL_MANAGER_FAIL_THRESHOLD", strconv.Itoa(DefaultFailThreshold), "consecutive failed probes that drain a stamp"}
	EnvManagerRecoverThreshold = Var{"VOICEMAIL_MANAGER_RECOVER_THRESHOLD", strconv.Itoa(DefaultRecoverThreshold), "consecutive good probes that restore a stamp it drained"}
	EnvManagerHistory          = Var{"VOICEMAIL_MANAGER_HISTORY", strconv.Itoa(DefaultHistoryLen), "observations kept per stamp"}
	EnvManagerProbeTimeout     = Var{"VOICEMAIL_MANAGER_PROBE_TIMEOUT", DefaultProbeTimeout.String(), "timeout of one probe"}
	EnvManagerInterval         = Var{"VOICEMAIL_MANAGER_INTERVAL", "", "probe on this interval by itself (outside Functions, whose timer calls it)"}
	EnvManagerHealthPath       = Var{"VOICEMAIL_MANAGER_HEALTH_PATH", StampHealthPath, "the stamps' health path it probes"}
	EnvManagerStateComponent   = Var{"VOICEMAIL_MANAGER_STATE_COMPONENT", StateComponent, "the health summary's state-blob component, which it ignores when judging"}
)

// ManagerVars lists every variable LoadManager reads.
func ManagerVars() []Var {
	return []Var{
		EnvManagerHTTPAddr, EnvFunctionsPort, EnvManagerRegion, EnvManagerStamps,
		EnvManagerContainerURL, EnvManagerConnectionString, EnvManagerContainer,
		EnvManagerStateBlob, EnvManagerOperatorToken, EnvManagerFailThreshold,
		EnvManagerRecoverThreshold, EnvManagerHistory, EnvManagerProbeTimeout,
		EnvManagerInterval, EnvManagerHealthPath, EnvManagerStateComponent,
	}
}

// ManagerStamp is one stamp the management service looks after (one entry of
// VOICEMAIL_MANAGER_STAMPS).
type ManagerStamp struct {
	ID string `json:"id"`
	// URL is the stamp's base URL (scheme and host, e.g. http://vm-dev-weu-1.westeurope.cloudapp.azure.com).
	URL string `json:"url"`
	// StateBlob is the name of the stamp's state blob in the state container.
	StateBlob string `json:"stateBlob"`
	// Drained is the stack config's drained flag: the stamp is on its way out and the manager
	// keeps it drained like an operator drain, whatever its health.
	Drained bool `json:"drained,omitempty"`
}

// Manager is the validated configuration of the management service.
type Manager struct {
	Addr             string
	Region           string
	Stamps           []ManagerStamp
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
	FailThreshold           int
	RecoverThreshold        int
	HistoryLen              int
	ProbeTimeout            time.Duration
	// Interval > 0 makes the process tick by itself (outside Functions, whose timer trigger
	// calls the probe path instead).
	Interval       time.Duration
	HealthPath     string
	StateComponent string
}

// LoadManager reads and validates the configuration; errors name the variable.
func LoadManager(getenv func(string) string) (Manager, error) {
	r := &reader{getenv: getenv}
	var c Manager
	c.Addr = r.str(EnvManagerHTTPAddr)
	if p := r.str(EnvFunctionsPort); p != "" {
		if _, err := strconv.Atoi(p); err != nil {
			return c, fmt.Errorf("%s: %q is not a port", EnvFunctionsPort.Name, p)
		}
		c.Addr = ":" + p
	}
	c.Region = r.str(EnvManagerRegion)
	if c.Region == "" {
		return c, fmt.Errorf("%s is required", EnvManagerRegion.Name)
	}
	raw := r.str(EnvManagerStamps)
	if raw == "" {
		return c, fmt.Errorf("%s is required (JSON list of {id,url,stateBlob,drained})", EnvManagerStamps.Name)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.Stamps); err != nil {
		return c, fmt.Errorf("%s: %w", EnvManagerStamps.Name, err)
	}
	if err := ValidateManagerStamps(c.Stamps); err != nil {
		return c, fmt.Errorf("%s: %w", EnvManagerStamps.Name, err)
	}
	c.ContainerURL = r.str(EnvManagerContainerURL)
	c.ConnectionString = r.str(EnvManagerConnectionString)
	c.Container = r.str(EnvManagerContainer)
	switch {
	case c.ContainerURL != "" && c.ConnectionString != "":
		return c, fmt.Errorf("%s and %s are exclusive", EnvManagerContainerURL.Name, EnvManagerConnectionString.Name)
	case c.ContainerURL == "" && c.ConnectionString == "":
		return c, fmt.Errorf("%s (Azure) or %s (Azurite) is required", EnvManagerContainerURL.Name, EnvManagerConnectionString.Name)
	case c.ConnectionString != "" && c.Container == "":
		return c, fmt.Errorf("%s is required with %s", EnvManagerContainer.Name, EnvManagerConnectionString.Name)
	}
	c.StateBlob = r.str(EnvManagerStateBlob)
	if c.StateBlob == "" {
		c.StateBlob = ManagerStateBlob(c.Region)
	}
	// Without a token the operator API is off; probing, draining and restoring still run.
	c.OperatorToken = r.str(EnvManagerOperatorToken)
	if IsKeyVaultReference(c.OperatorToken) {
		c.OperatorToken, c.OperatorTokenUnresolved = "", true
	}
	if c.OperatorToken != "" && len(c.OperatorToken) < 16 {
		return c, fmt.Errorf("%s must be at least 16 characters", EnvManagerOperatorToken.Name)
	}
	for _, v := range []struct {
		v   Var
		dst *int
	}{{EnvManagerFailThreshold, &c.FailThreshold}, {EnvManagerRecoverThreshold, &c.RecoverThreshold}, {EnvManagerHistory, &c.HistoryLen}} {
		s := r.str(v.v)
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return c, fmt.Errorf("%s: %q is not a positive integer", v.v.Name, s)
		}
		*v.dst = n
	}
	for _, v := range []struct {
		v   Var
		dst *time.Duration
	}{{EnvManagerProbeTimeout, &c.ProbeTimeout}, {EnvManagerInterval, &c.Interval}} {
		if s := r.str(v.v); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return c, fmt.Errorf("%s: %q is not a duration (e.g. 10s)", v.v.Name, s)
			}
			*v.dst = d
		}
	}
	c.HealthPath = r.str(EnvManagerHealthPath)
	c.StateComponent = r.str(EnvManagerStateComponent)
	return c, nil
}

// IsKeyVaultReference reports whether an app setting's value is an unresolved App Service Key
// Vault reference (https://learn.microsoft.com/en-us/azure/app-service/app-service-key-vault-references):
// "@Microsoft.KeyVault(...)" is what the app sees while the reference cannot be resolved.
func IsKeyVaultReference(v string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "@microsoft.keyvault(")
}

// ManagerStateBlob is the default blob of a region's management service decisions, in the
// region's state container beside the stamps' state blobs (the '/' keeps it apart from them).
func ManagerStateBlob(region string) string { return "manager/" + region + ".json" }

// ValidateManagerStamps reports the first problem in a stamp list, naming the entry.
func ValidateManagerStamps(stamps []ManagerStamp) error {
	if len(stamps) == 0 {
		return errors.New("manager config: stamps is empty")
	}
	seen := map[string]bool{}
	blobs := map[string]bool{}
	for i, s := range stamps {
		switch {
		case s.ID == "":
			return fmt.Errorf("manager config: stamps[%d].id is empty", i)
		case s.URL == "":
			return fmt.Errorf("manager config: stamps[%d].url is empty (stamp %s)", i, s.ID)
		case s.StateBlob == "":
			return fmt.Errorf("manager config: stamps[%d].stateBlob is empty (stamp %s)", i, s.ID)
		case seen[s.ID]:
			return fmt.Errorf("manager config: stamps[%d].id %q is listed twice", i, s.ID)
		case blobs[s.StateBlob]:
			return fmt.Errorf("manager config: stamps[%d].stateBlob %q is used by two stamps", i, s.StateBlob)
		}
		seen[s.ID] = true
		blobs[s.StateBlob] = true
	}
	return nil
}

// StampsJSON renders a stamp list as VOICEMAIL_MANAGER_STAMPS carries it.
func StampsJSON(stamps []ManagerStamp) (string, error) {
	b, err := json.Marshal(stamps)
	return string(b), err
}

// Environ is the inverse of LoadManager, in ManagerVars order; empty values are left out.
func (c Manager) Environ() ([]string, error) {
	stamps, err := StampsJSON(c.Stamps)
	if err != nil {
		return nil, err
	}
	var e environ
	e.str(EnvManagerHTTPAddr, c.Addr)
	e.str(EnvManagerRegion, c.Region)
	e.str(EnvManagerStamps, stamps)
	e.str(EnvManagerContainerURL, c.ContainerURL)
	e.str(EnvManagerConnectionString, c.ConnectionString)
	e.str(EnvManagerContainer, c.Container)
	e.str(EnvManagerStateBlob, c.StateBlob)
	e.str(EnvManagerOperatorToken, c.OperatorToken)
	e.optInt(EnvManagerFailThreshold, c.FailThreshold)
	e.optInt(EnvManagerRecoverThreshold, c.RecoverThreshold)
	e.optInt(EnvManagerHistory, c.HistoryLen)
	e.optDur(EnvManagerProbeTimeout, c.ProbeTimeout)
	e.optDur(EnvManagerInterval, c.Interval)
	e.str(EnvManagerHealthPath, c.HealthPath)
	e.str(EnvManagerStateComponent, c.StateComponent)
	return e, nil
}
