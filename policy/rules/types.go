package rules

import "strings"

// TypeRef names a resource type by package, module and resource name, leaving the
// API version out: azure-native:documentdb/v20230415:DatabaseAccount and
// azure-native:documentdb:DatabaseAccount are the same DatabaseAccount, and
// kubernetes:apps/v1:Deployment matches any apps/* Deployment.
type TypeRef struct {
	Package string
	Module  string
	Name    string
}

func (t TypeRef) String() string { return t.Package + ":" + t.Module + ":" + t.Name }

// Matches reports whether a Pulumi type token refers to t.
func (t TypeRef) Matches(token string) bool {
	parts := strings.Split(token, ":")
	if len(parts) != 3 {
		return false
	}
	mod, _, _ := strings.Cut(parts[1], "/")
	return parts[0] == t.Package && mod == t.Module && parts[2] == t.Name
}

func azure(module, name string) TypeRef { return TypeRef{"azure-native", module, name} }
func k8s(group, kind string) TypeRef    { return TypeRef{"kubernetes", group, kind} }

// The types the rules look at.
var (
	cosmosAccount       = azure("documentdb", "DatabaseAccount")
	storageAccount      = azure("storage", "StorageAccount")
	blobContainer       = azure("storage", "BlobContainer")
	blobService         = azure("storage", "BlobServiceProperties")
	objectReplication   = azure("storage", "ObjectReplicationPolicy")
	registry            = azure("containerregistry", "Registry")
	registryReplication = azure("containerregistry", "Replication")
	keyVault            = azure("keyvault", "Vault")
	managedCluster      = azure("containerservice", "ManagedCluster")
	agentPool           = azure("containerservice", "AgentPool")
	tmProfile           = azure("network", "Profile")
	deployment          = k8s("apps", "Deployment")
	statefulSet         = k8s("apps", "StatefulSet")
	pdb                 = k8s("policy", "PodDisruptionBudget")
	configMap           = k8s("core", "ConfigMap")
	service             = k8s("core", "Service")
)

func matchesAny(refs []TypeRef, token string) bool {
	for _, r := range refs {
		if r.Matches(token) {
			return true
		}
	}
	return false
}
