package deploy

import (
	"errors"
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"
)

// Kubelogin login modes the program accepts for its Kubernetes provider. AKS returns an
// exec kubeconfig whose kubelogin call uses "devicecode", which needs a human at a browser;
// `pulumi up` runs from an az-logged-in shell ("azurecli") or a CI job with a federated
// token ("workloadidentity"), the same conversions `kubelogin convert-kubeconfig -l` makes.
var kubeloginModes = []string{"azurecli", "workloadidentity", "msi", "spn"}

// KubeconfigForPulumi takes the kubeconfig AKS returns from
// listClusterUserCredential?format=exec (decoded) and points its kubelogin exec plugin at
// mode. Clusters have local accounts disabled, so this Entra ID path is the only way in.
func KubeconfigForPulumi(kubeconfig, mode string) (string, error) {
	if !slices.Contains(kubeloginModes, mode) {
		return "", fmt.Errorf("kubelogin mode %q: want one of %v", mode, kubeloginModes)
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(kubeconfig), &doc); err != nil {
		return "", fmt.Errorf("kubeconfig is not YAML: %w", err)
	}
	users, _ := doc["users"].([]any)
	if len(users) == 0 {
		return "", errors.New("kubeconfig has no users")
	}
	for i, u := range users {
		um, _ := u.(map[string]any)
		user, _ := um["user"].(map[string]any)
		exec, _ := user["exec"].(map[string]any)
		if exec == nil {
			return "", fmt.Errorf("kubeconfig users[%d] has no exec plugin: ask for format=exec (local accounts are disabled)", i)
		}
		if cmd, _ := exec["command"].(string); cmd != "kubelogin" {
			return "", fmt.Errorf("kubeconfig users[%d] runs %q, not kubelogin", i, cmd)
		}
		args, err := convertArgs(exec["args"], mode)
		if err != nil {
			return "", fmt.Errorf("kubeconfig users[%d]: %w", i, err)
		}
		exec["args"] = args
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("encode kubeconfig: %w", err)
	}
	return string(out), nil
}

// convertArgs keeps kubelogin's server id, tenant and environment, drops the flags only the
// interactive mode uses, and sets --login.
func convertArgs(v any, mode string) ([]any, error) {
	in, _ := v.([]any)
	if len(in) == 0 || in[0] != "get-token" {
		return nil, errors.New("kubelogin args do not start with get-token")
	}
	// --client-id is the AKS CLI app's id, meaningful only to devicecode; the other modes
	// take their identity from az or from AZURE_CLIENT_ID and friends.
	keep := map[string]bool{"--environment": true, "--server-id": true, "--tenant-id": true}
	out := []any{"get-token"}
	server := false
	for i := 1; i < len(in); i++ {
		flag, _ := in[i].(string)
		if i+1 < len(in) && keep[flag] {
			out = append(out, flag, in[i+1])
			server = server || flag == "--server-id"
			i++
			continue
		}
		if i+1 < len(in) {
			if next, _ := in[i+1].(string); len(next) > 0 && next[0] != '-' {
				i++ // a dropped flag's value
			}
		}
	}
	if !server {
		return nil, errors.New("kubelogin args have no --server-id")
	}
	return append(out, "--login", mode), nil
}
