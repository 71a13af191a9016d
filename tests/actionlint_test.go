package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const wfDir = "../.github/workflows"

func wfFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(wfDir, "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no workflows under %s", wfDir)
	return files
}

// TestWorkflowsAreActionlintClean lints every workflow with actionlint as a
// library; any finding fails the test. shellcheck joins in when installed.
func TestWorkflowsAreActionlintClean(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	opts := &actionlint.LinterOptions{WorkingDir: root}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	} else {
		t.Log("shellcheck not installed: run: scripts are checked by actionlint's own rules only")
	}
	var out bytes.Buffer
	linter, err := actionlint.NewLinter(&out, opts)
	require.NoError(t, err)
	errs, err := linter.LintFiles(wfFiles(t), nil)
	require.NoError(t, err)
	assert.Empty(t, errs, "actionlint findings:\n%s", out.String())
}

func wfParse(t *testing.T, name string) *actionlint.Workflow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wfDir, name))
	require.NoError(t, err)
	wf, errs := actionlint.Parse(b)
	require.Empty(t, errs)
	return wf
}

func wfStr(s *actionlint.String) string {
	if s == nil {
		return ""
	}
	return s.Value
}

// wfUses returns the steps of a job that run the given action (any version).
func wfUses(job *actionlint.Job, action string) []*actionlint.ExecAction {
	var out []*actionlint.ExecAction
	for _, s := range job.Steps {
		if a, ok := s.Exec.(*actionlint.ExecAction); ok && strings.HasPrefix(wfStr(a.Uses), action+"@") {
			out = append(out, a)
		}
	}
	return out
}

func wfInput(a *actionlint.ExecAction, name string) string {
	if in, ok := a.Inputs[strings.ToLower(name)]; ok {
		return wfStr(in.Value)
	}
	return ""
}

func wfPermission(job *actionlint.Job, scope string) string {
	if job.Permissions == nil {
		return ""
	}
	if p, ok := job.Permissions.Scopes[scope]; ok {
		return wfStr(p.Value)
	}
	return ""
}

func wfEnv(job *actionlint.Job, name string) string {
	if job.Env == nil {
		return ""
	}
	if v, ok := job.Env.Vars[strings.ToLower(name)]; ok {
		return wfStr(v.Value)
	}
	return ""
}

// TestWorkflowsUseOIDCOnly checks that Azure is reached through OIDC federation:
// azure/login with client, tenant and subscription IDs, an id-token permission,
// and no client secret anywhere.
func TestWorkflowsUseOIDCOnly(t *testing.T) {
	for _, f := range wfFiles(t) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, banned := range []string{"client-secret", "creds:", "ARM_CLIENT_SECRET", "AZURE_CREDENTIALS"} {
			assert.NotContains(t, string(b), banned, f)
		}
		wf, errs := actionlint.Parse(b)
		require.Empty(t, errs)
		for id, job := range wf.Jobs {
			for _, login := range wfUses(job, "azure/login") {
				for _, k := range []string{"client-id", "tenant-id", "subscription-id"} {
					assert.NotEmpty(t, wfInput(login, k), "%s job %s: azure/login without %s", f, id, k)
				}
				assert.Equal(t, "write", wfPermission(job, "id-token"), "%s job %s needs id-token: write", f, id)
			}
			if len(wfUses(job, "pulumi/actions")) > 0 {
				assert.Equal(t, "true", wfEnv(job, "ARM_USE_OIDC"), "%s job %s", f, id)
			}
		}
	}
}

func TestPullRequestWorkflowPreviewsEveryStackWithPolicies(t *testing.T) {
	wf := wfParse(t, "pr.yml")
	var events []string
	for _, e := range wf.On {
		events = append(events, e.EventName())
	}
	assert.Contains(t, events, "pull_request")

	var runs []string
	for _, s := range wf.Jobs["test"].Steps {
		if r, ok := s.Exec.(*actionlint.ExecRun); ok {
			runs = append(runs, wfStr(r.Run))
		}
	}
	assert.Contains(t, strings.Join(runs, "\n"), ".ci/run", "the test job runs go vet and go test via .ci/run")

	preview := wf.Jobs["preview"]
	require.NotNil(t, preview)
	assert.Equal(t, "write", wfPermission(preview, "pull-requests"))
	steps := wfUses(preview, "pulumi/actions")
	require.Len(t, steps, 1)
	assert.Equal(t, "preview", wfInput(steps[0], "command"))
	assert.Equal(t, "true", wfInput(steps[0], "comment-on-pr"))
	assert.Equal(t, "policy", wfInput(steps[0], "policyPacks"))
	assert.Contains(t, wfInput(steps[0], "stack-name"), "matrix.stack")
	require.NotNil(t, preview.Strategy)
	assert.Contains(t, preview.Strategy.Matrix.Rows, "stack")
	var stacks []string
	for _, v := range preview.Strategy.Matrix.Rows["stack"].Values {
		stacks = append(stacks, v.(*actionlint.RawYAMLString).Value)
	}
	assert.ElementsMatch(t, []string{"dev", "prod"}, stacks)
}

func TestMainWorkflowDeploysDevThenApprovedProd(t *testing.T) {
	wf := wfParse(t, "main.yml")
	image := wf.Jobs["image"]
	require.NotNil(t, image)
	require.Len(t, wfUses(image, "docker/build-push-action"), 1)
	assert.Equal(t, "true", wfInput(wfUses(image, "docker/build-push-action")[0], "push"))

	needs := func(j *actionlint.Job) []string {
		var out []string
		for _, n := range j.Needs {
			out = append(out, wfStr(n))
		}
		return out
	}
	dev, prod := wf.Jobs["deploy-dev"], wf.Jobs["deploy-prod"]
	require.NotNil(t, dev)
	require.NotNil(t, prod)
	assert.Contains(t, needs(dev), "image")
	assert.Contains(t, needs(prod), "deploy-dev")
	require.NotNil(t, prod.Environment)
	assert.Equal(t, "production", wfStr(prod.Environment.Name), "prod waits for the environment's approval")
	for name, job := range map[string]*actionlint.Job{"dev": dev, "prod": prod} {
		steps := wfUses(job, "pulumi/actions")
		require.Len(t, steps, 1, name)
		assert.Equal(t, "up", wfInput(steps[0], "command"), name)
		assert.Equal(t, "policy", wfInput(steps[0], "policyPacks"), name)
		assert.Contains(t, wfInput(steps[0], "stack-name"), "/"+name, name)
		// The digest built in this run is what the stack deploys.
		assert.Contains(t, wfInput(steps[0], "config-map"), "needs.image.outputs.image", name)
	}
}
