package tests

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/voicemail-platform/voicemail/"

// Dependencies point one way: infra -> contract <- app. No package of the app tree depends
// (directly or not) on the infrastructure layers or their Azure toolkit, and only the local
// simulation, which runs a stack's whole topology on one machine, reads the stack plan.
func TestAppTreeDependsOnTheContractNotOnTheInfrastructure(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "../app/...").Output()
	require.NoError(t, err)
	infra := []string{"global", "regional", "stamp", "monitoring", "policy", "internal/stack", "internal/arm", "internal/privatenet"}
	plan := []string{"internal/config", "internal/topology", "internal/naming", "internal/availability"}
	simulation := func(pkg string) bool {
		return strings.HasPrefix(pkg, "app/local/") || pkg == "app/cmd/local"
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.NotEmpty(t, lines)
	for _, line := range lines {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		for _, dep := range fields[1:] {
			d, ok := strings.CutPrefix(dep, module)
			if !ok {
				continue
			}
			for _, bad := range infra {
				assert.False(t, d == bad || strings.HasPrefix(d, bad+"/"), "%s depends on %s", pkg, d)
			}
			if !simulation(pkg) {
				for _, p := range plan {
					assert.False(t, d == p || strings.HasPrefix(d, p+"/"), "%s depends on the stack plan (%s)", pkg, d)
				}
			}
		}
	}
}
