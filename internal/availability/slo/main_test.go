package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The command reads the real stack files at the top of the repository.
func TestSLOProdStack(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run([]string{"-stack", "prod", "-dir", "../../.."}, &out))
	s := out.String()
	for _, want := range []string{
		"Stack prod: 4 region(s), 12 active stamp(s)",
		"Headroom over an even share: 33.3 % (N = 4, N/(N-1) = 1.333)",
		"COMPOSITE (service up)", "at full peak (3 of 4 regions up)",
		"TARGET                                        99.999 %",
		"downtime 5m16s/year",
		"Cosmos DB, multi-region writes",
	} {
		assert.Contains(t, s, want)
	}
}

func TestSLODevStackSaysNoRedundancy(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run([]string{"-stack", "dev", "-dir", "../../.."}, &out))
	assert.Contains(t, out.String(), "NO regional redundancy")
	assert.Contains(t, out.String(), "Headroom over an even share: 0 %")
}

func TestSLOFindsProjectFromWorkingDirectory(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run([]string{"-stack", "prod"}, &out))
	assert.Contains(t, out.String(), "Stack prod")
}

func TestSLOUnknownStackNamesTheFile(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"-stack", "nope", "-dir", "../../.."}, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Pulumi.nope.yaml")
	assert.Empty(t, out.String())
}
