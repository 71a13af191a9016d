package tests

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/stack"
)

var update = flag.Bool("update", false, "rewrite tests/testdata/inventory-*.json from the program")

// The inventory snapshot is how a reviewer reads what each stack deploys: every resource
// with its type, logical name, parent and the inputs the provider would receive.
func TestInventorySnapshot(t *testing.T) {
	for _, st := range []string{"dev", "prod"} {
		t.Run(st, func(t *testing.T) {
			got := stackGraph(t, st).inventory(t)
			path := filepath.Join("testdata", "inventory-"+st+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "missing snapshot; run: go test ./tests -update")
			assert.Equal(t, string(want), string(got), "inventory differs from the program; review and run: go test ./tests -update")

			// Deterministic: a fresh second run yields the same bytes.
			m2, err := run(t, st, stackConfig(t, st), stack.Run)
			require.NoError(t, err)
			assert.Equal(t, string(got), string(m2.inventory(t)))
		})
	}
}
