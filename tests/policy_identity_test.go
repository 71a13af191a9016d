package tests

import (
	"github.com/voicemail-platform/voicemail/policy/rules"
)

// The compliant fixture's part for workload-own-identity: one stamp's app and SIP dispatcher,
// each with its own identity, federated credential, service account and secret provider.
func polIdentityResources() []rules.Resource {
	meta := func(name string, extra map[string]any) map[string]any {
		m := map[string]any{"namespace": "voicemail", "name": name}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	sa := func(res, name, client string) rules.Resource {
		return rules.Resource{Type: "kubernetes:core/v1:ServiceAccount", Name: res, Parent: "weu-app", Inputs: map[string]any{
			"metadata": meta(name, map[string]any{"annotations": map[string]any{"azure.workload.identity/client-id": client}})}}
	}
	spc := func(res, name, client string) rules.Resource {
		return rules.Resource{Type: "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass", Name: res, Parent: "weu-app", Inputs: map[string]any{
			"metadata": meta(name, nil), "spec": map[string]any{"provider": "azure", "parameters": map[string]any{"clientID": client}}}}
	}
	workload := func(res, app, account, provider string) []rules.Resource {
		return []rules.Resource{
			{Type: "kubernetes:apps/v1:Deployment", Name: res, Parent: "weu-app", Inputs: map[string]any{
				"metadata": meta(app, nil),
				"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": app}}, "template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": app}},
					"spec": map[string]any{
						"serviceAccountName": account,
						"securityContext":    map[string]any{"runAsNonRoot": true, "runAsUser": 10001.0},
						"containers": []any{map[string]any{"name": app, "image": "acr.azurecr.io/" + app + "@sha256:00",
							"livenessProbe":  map[string]any{"tcpSocket": map[string]any{"port": 5060.0}},
							"readinessProbe": map[string]any{"tcpSocket": map[string]any{"port": 5060.0}}}},
						"volumes": []any{map[string]any{"name": "keyvault", "csi": map[string]any{
							"driver": "secrets-store.csi.k8s.io", "volumeAttributes": map[string]any{"secretProviderClass": provider}}}},
					}}}}},
			{Type: "kubernetes:policy/v1:PodDisruptionBudget", Name: res + "-pdb", Parent: "weu-app", Inputs: map[string]any{
				"metadata": meta(app, nil), "spec": map[string]any{"maxUnavailable": 1.0, "selector": map[string]any{"matchLabels": map[string]any{"app": app}}}}},
		}
	}
	federated := func(res, identity, account string) rules.Resource {
		return rules.Resource{Type: "azure-native:managedidentity/v20230131:FederatedIdentityCredential", Name: res, Parent: identity, Inputs: map[string]any{
			"resourceGroupName": "rg-weu-1", "resourceName": identity, "federatedIdentityCredentialResourceName": "voicemail-aks",
			"subject": "system:serviceaccount:voicemail:" + account, "audiences": []any{"api://AzureADTokenExchange"}}}
	}
	out := []rules.Resource{
		federated("weu-id-app-federation", "id-weu-1-app", "voicemail"),
		federated("weu-id-sip-federation", "id-weu-1-sip", "sip-dispatcher"),
		sa("weu-sa", "voicemail", "c-app"), sa("weu-sip-sa", "sip-dispatcher", "c-sip"),
		spc("weu-keyvault", "voicemail-keyvault", "c-app"), spc("weu-sip-keyvault", "sip-dispatcher-keyvault", "c-sip"),
	}
	out = append(out, workload("weu-voicemail", "voicemail-weu", "voicemail", "voicemail-keyvault")...)
	return append(out, workload("weu-dispatcher", "sip-dispatcher", "sip-dispatcher", "sip-dispatcher-keyvault")...)
}

// polIdentityCases share an identity the ways a workload could borrow another's.
func polIdentityCases() []polCase {
	return []polCase{
		// What the dispatcher did to read the edge certificate: run as the app's account.
		{"dispatcher runs as the app's service account", polEdit("weu-dispatcher", "voicemail", "spec", "template", "spec", "serviceAccountName"), "workload-own-identity"},
		{"dispatcher's secret provider reads Key Vault as the app", polEdit("weu-sip-keyvault", "c-app", "spec", "parameters", "clientID"), "workload-own-identity"},
		{"two service accounts, one identity", polEdit("weu-sip-sa", "c-app", "metadata", "annotations", "azure.workload.identity/client-id"), "workload-own-identity"},
		{"app identity also federated with the dispatcher's account", polAppend(rules.Resource{
			Type: "azure-native:managedidentity/v20230131:FederatedIdentityCredential", Name: "weu-id-app-federation-sip", Inputs: map[string]any{
				"resourceGroupName": "rg-weu-1", "resourceName": "id-weu-1-app", "subject": "system:serviceaccount:voicemail:sip-dispatcher"}}), "workload-own-identity"},
	}
}
