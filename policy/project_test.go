package main

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The CLI finds and loads the pack the way `pulumi preview --policy-pack policy` does.
func TestPulumiPolicyYAMLLoads(t *testing.T) {
	path, err := workspace.DetectPolicyPackPathAt(".")
	require.NoError(t, err)
	proj, err := workspace.LoadPolicyPack(path)
	require.NoError(t, err)
	require.NoError(t, proj.Validate())
	assert.Equal(t, "go", proj.Runtime.Name())
	assert.Equal(t, packVersion, proj.Version, "PulumiPolicy.yaml and the pack agree on the version")
}
