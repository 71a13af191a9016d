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

// TestREADMEListsExactlyTheContractVariables reads the configuration tables of the README
// (table rows whose first cell names VOICEMAIL_* variables) and compares them with the
// contract: a variable the binaries read but the README omits, or one the README documents
// but no binary reads, fails here.
func TestREADMEListsExactlyTheContractVariables(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	row := regexp.MustCompile("^\\|([^|]*)\\|")
	name := regexp.MustCompile("`(VOICEMAIL_[A-Z0-9_]+)`")
	documented := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, n := range name.FindAllStringSubmatch(m[1], -1) {
			documented[n[1]] = true
		}
	}
	want := map[string]bool{}
	for _, v := range append(StampVars(), ManagerVars()...) {
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
	assert.Empty(t, extra, "README rows naming variables no binary reads")
}
