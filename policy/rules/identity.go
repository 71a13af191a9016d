package rules

import "fmt"

// Workload identity: a pod reaches Azure as the user-assigned identity whose federated
// credential trusts its service account's token, and the Secrets Store CSI driver reads Key
// Vault as the identity a SecretProviderClass names (its clientID), exchanging the token of
// the mounting pod's service account for it
// (https://learn.microsoft.com/azure/aks/workload-identity-overview,
// https://learn.microsoft.com/azure/aks/csi-secrets-store-identity-access). Each long-running
// workload gets its own identity with only the grants it needs, so one compromised workload
// (the SIP dispatcher faces the SBCs) cannot act with another's rights.

var (
	daemonSet        = k8s("apps", "DaemonSet")
	serviceAccount   = k8s("core", "ServiceAccount")
	federatedCredent = azure("managedidentity", "FederatedIdentityCredential")
)

const workloadIdentityClientID = "azure.workload.identity/client-id"

func identityStackRules() []StackRule {
	return []StackRule{{
		ID:          "workload-own-identity",
		Doc:         "https://learn.microsoft.com/azure/aks/workload-identity-overview",
		Description: "Each Kubernetes workload runs as its own service account and workload identity: no two Deployments, StatefulSets or DaemonSets share a service account, no two service accounts or federated subjects share an identity, and a workload's secret provider reads Key Vault as its own identity.",
		Check:       checkOwnIdentity,
	}}
}

// workloadScope is where Kubernetes names are unique: a component (one stamp's workload,
// one cluster) and a namespace.
func workloadScope(r Resource) (string, bool) {
	ns, ok := namespaceOf(r)
	return r.Parent + "/" + ns, ok
}

func checkOwnIdentity(rs []Resource) []Violation {
	var out []Violation
	// Azure side: an identity federated with two subjects serves two service accounts.
	subjects := map[string]map[string]Resource{}
	for _, fc := range byType(rs, federatedCredent) {
		id, ok1 := asString(lookup(fc.Inputs, "resourceName"))
		rg, ok2 := asString(lookup(fc.Inputs, "resourceGroupName"))
		sub, ok3 := asString(lookup(fc.Inputs, "subject"))
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		key := rg + "/" + id
		if subjects[key] == nil {
			subjects[key] = map[string]Resource{}
		}
		subjects[key][sub] = fc
	}
	for _, key := range sortedKeys(subjects) {
		if subs := subjects[key]; len(subs) > 1 {
			names := sortedKeys(subs)
			for _, s := range names[1:] {
				out = append(out, Violation{Type: subs[s].Type, Name: subs[s].Name, Message: fmt.Sprintf(
					"identity %s is federated with %v: the workloads behind those service accounts share one identity", key, names)})
			}
		}
	}

	// Kubernetes side, per scope.
	clientIDs := map[string]string{} // scope/account -> client id
	byClient := map[string]Resource{}
	for _, sa := range byType(rs, serviceAccount) {
		scope, ok := workloadScope(sa)
		name, ok2 := asString(lookup(sa.Inputs, "metadata", "name"))
		id, ok3 := asString(lookup(sa.Inputs, "metadata", "annotations", workloadIdentityClientID))
		if !ok || !ok2 || !ok3 || id == "" {
			continue
		}
		clientIDs[scope+"/"+name] = id
		if other, dup := byClient[scope+"/"+id]; dup {
			out = append(out, Violation{Type: sa.Type, Name: sa.Name, Message: fmt.Sprintf(
				"service account %s uses identity %s, as service account %s does", name, id, other.Name)})
			continue
		}
		byClient[scope+"/"+id] = sa
	}
	providers := map[string]string{} // scope/provider -> client id
	for _, spc := range byType(rs, secretProvider) {
		scope, ok := workloadScope(spc)
		name, ok2 := asString(lookup(spc.Inputs, "metadata", "name"))
		id, ok3 := asString(lookup(spc.Inputs, "spec", "parameters", "clientID"))
		if ok && ok2 && ok3 {
			providers[scope+"/"+name] = id
		}
	}
	usedBy := map[string]Resource{} // scope/account -> first workload running as it
	for _, w := range rs {
		if !deployment.Matches(w.Type) && !statefulSet.Matches(w.Type) && !daemonSet.Matches(w.Type) {
			continue
		}
		scope, ok := workloadScope(w)
		spec := asMap(podSpec(w))
		sa := lookup(spec, "serviceAccountName")
		if !ok || isUnknown(sa) || spec == nil {
			continue
		}
		account, _ := asString(sa)
		if account == "" {
			account = "default"
		}
		if other, dup := usedBy[scope+"/"+account]; dup {
			out = append(out, Violation{Type: w.Type, Name: w.Name, Message: fmt.Sprintf(
				"runs as service account %s, as workload %s does: each workload needs its own account and identity", account, other.Name)})
		} else {
			usedBy[scope+"/"+account] = w
		}
		own, hasOwn := clientIDs[scope+"/"+account]
		for _, v := range asSlice(lookup(spec, "volumes")) {
			p, ok := asString(lookup(asMap(v), "csi", "volumeAttributes", "secretProviderClass"))
			if !ok {
				continue
			}
			id, known := providers[scope+"/"+p]
			if known && (!hasOwn || id != own) {
				out = append(out, Violation{Type: w.Type, Name: w.Name, Message: fmt.Sprintf(
					"mounts SecretProviderClass %s, which reads Key Vault as identity %s, not as its own service account %s's", p, id, account)})
			}
		}
	}
	return out
}
