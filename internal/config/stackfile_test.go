package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFindStackFileTakesANameOrAPath(t *testing.T) {
	project := t.TempDir()
	for _, f := range []string{"Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "other/custom.yaml"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(project, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(project, f), []byte("config: {}\n"), 0o644))
	}
	sub := filepath.Join(project, "app", "cmd")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	t.Chdir(sub)

	for _, tc := range []struct {
		arg, project   string
		name, wantPath string
	}{
		{"dev", "", "dev", filepath.Join(project, "Pulumi.dev.yaml")},
		{"prod", project, "prod", filepath.Join(project, "Pulumi.prod.yaml")},
		{"Pulumi.dev.yaml", "", "dev", filepath.Join(project, "Pulumi.dev.yaml")},
		{"../../Pulumi.prod.yaml", "", "prod", "../../Pulumi.prod.yaml"},
		{filepath.Join(project, "other", "custom.yaml"), "", "custom", filepath.Join(project, "other", "custom.yaml")},
		{"other/custom.yaml", "", "custom", filepath.Join(project, "other", "custom.yaml")},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			sf, err := FindStackFile(tc.arg, tc.project)
			require.NoError(t, err)
			assert.Equal(t, tc.name, sf.Name)
			assert.Equal(t, tc.wantPath, sf.Path)
		})
	}
}

func TestFindStackFileNamesEveryPathTried(t *testing.T) {
	project := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(project, "Pulumi.yaml"), nil, 0o644))
	t.Chdir(project)

	_, err := FindStackFile("nope", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(project, "Pulumi.nope.yaml"))
	assert.Contains(t, err.Error(), `"nope"`)
	assert.Contains(t, err.Error(), filepath.Join(project, "nope"))

	_, err = FindStackFile("stacks/missing.yaml", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stacks/missing.yaml")
	assert.Contains(t, err.Error(), filepath.Join(project, "stacks", "missing.yaml"))
	assert.NotContains(t, err.Error(), "Pulumi.stacks")

	_, err = FindStackFile("", "")
	assert.ErrorContains(t, err, "stack name")
}

func TestFindStackFileOutsideAProject(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := FindStackFile("dev", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Pulumi.dev.yaml")
	assert.Contains(t, err.Error(), "no Pulumi.yaml")
}
