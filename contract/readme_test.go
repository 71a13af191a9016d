package contract

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestREADMEListsExactlyTheContractVariables reads the configuration tables of each binary's
// README (table rows whose first cell names VOICEMAIL_* variables) and compares them with
// that binary's part of the contract: a variable the binary reads but its README omits, or one
// the README documents but the binary does not read, fails here.
func TestREADMEListsExactlyTheContractVariables(t *testing.T) {
	for _, tc := range []struct {
		readme string
		vars   []Var
	}{
		{"../app/README.md", StampVars()},
		{"../app/manager/README.md", ManagerVars()},
	} {
		t.Run(tc.readme, func(t *testing.T) {
			raw, err := os.ReadFile(tc.readme)
			require.NoError(t, err)
			documented := tableVariables(string(raw))
			want := map[string]bool{}
			for _, v := range tc.vars {
				if strings.HasPrefix(v.Name, "VOICEMAIL_") {
					want[v.Name] = true
				}
			}
			var missing, extra []string
			for n := range want {
				if !documented[n] {
					missing = append(missing, n)
				}
			}
			for n := range documented {
				if !want[n] {
					extra = append(extra, n)
				}
			}
			slices.Sort(missing)
			slices.Sort(extra)
			assert.Empty(t, missing, "variables the README's tables do not list")
			assert.Empty(t, extra, "README rows naming variables this binary does not read")
		})
	}
}

// tableVariables returns the VOICEMAIL_* names in the first cell of markdown table rows.
func tableVariables(markdown string) map[string]bool {
	row := regexp.MustCompile("^\\|([^|]*)\\|")
	name := regexp.MustCompile("`(VOICEMAIL_[A-Z0-9_]+)`")
	documented := map[string]bool{}
	for _, line := range strings.Split(markdown, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, n := range name.FindAllStringSubmatch(m[1], -1) {
			documented[n[1]] = true
		}
	}
	return documented
}

// The top README keeps no configuration table: each binary's README owns its variables.
func TestTopREADMEHasNoConfigurationTable(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	assert.Empty(t, tableVariables(string(raw)))
}
