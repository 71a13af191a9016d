package arm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRolesAreTheDocumentedBuiltIns pins each role to the definition id Azure documents for its
// name (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles and, for the
// Cosmos DB data plane, https://learn.microsoft.com/azure/cosmos-db/how-to-setup-rbac). A wrong
// id fails at deployment as "role definition does not exist", or worse grants another role.
func TestRolesAreTheDocumentedBuiltIns(t *testing.T) {
	documented := map[string]string{
		"AcrPull":                                     "7f951dda-4ed3-4680-a7ca-43fe172d538d",
		"Network Contributor":                         "4d97b98b-1d4f-4787-a291-c67834d212e7",
		"Storage Blob Data Contributor":               "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
		"Storage Blob Data Owner":                     "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
		"Storage Queue Data Contributor":              "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
		"Key Vault Secrets User":                      "4633458b-17de-408a-b874-0445c86b69e6",
		"Storage Blob Data Reader":                    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
		"Monitoring Metrics Publisher":                "3913510d-42f4-4e42-8a64-420c390055eb",
		"Azure Kubernetes Service RBAC Cluster Admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
		"Cosmos DB Built-in Data Contributor":         "00000000-0000-0000-0000-000000000002",
	}
	assert.Len(t, Roles(), len(documented))
	for _, r := range Roles() {
		assert.Equal(t, documented[r.Name], r.ID, r.Name)
	}
}

func TestAssignmentNamesAreStableAndDistinct(t *testing.T) {
	scope, def := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr", "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/"+AcrPull.ID
	a := AssignmentName(scope, "p1", def)
	assert.Equal(t, a, AssignmentName(scope, "p1", def))
	assert.Equal(t, a, AssignmentName(strings.ToUpper(scope), "P1", def), "ARM ids compare case-insensitively")
	assert.NotEqual(t, a, AssignmentName(scope, "p2", def), "another principal (another stack's identity)")
	assert.NotEqual(t, a, AssignmentName(scope+"x", "p1", def), "another scope")
}
