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
	require.Len(t, steps, 2, "one step installs the CLI, one previews")
	assert.Empty(t, wfInput(steps[0], "command"), "the first only installs the CLI")
	last := steps[len(steps)-1]
	assert.Equal(t, "preview", wfInput(last, "command"))
	assert.Equal(t, "true", wfInput(last, "comment-on-pr"))
	assert.Equal(t, "policy", wfInput(last, "policyPacks"))
	assert.Contains(t, wfInput(last, "stack-name"), "matrix.stack")

	// Before the preview, the deployed image and manager package replace the committed
	// placeholders, so the preview diff is the pull request's own.
	var before []string
	for _, s := range preview.Steps {
		if s.Exec == actionlint.Exec(last) {
			break
		}
		if r, ok := s.Exec.(*actionlint.ExecRun); ok {
			before = append(before, wfStr(r.Run))
		}
	}
	script := strings.Join(before, "\n")
	assert.Contains(t, script, "pulumi stack output --json")
	assert.Contains(t, script, "pulumi config set voicemail:image")
	assert.Contains(t, script, "voicemail:functions.package")
	assert.Contains(t, script, "managerPackageUrl")
	assert.Contains(t, script, "voicemail:sip.dispatcherImage", "the deployed dispatcher image replaces the placeholder too")
	assert.Contains(t, script, ".dispatcherImage")
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
	// The app image and the stamps' SIP dispatcher (a stack whose dispatcher image is never
	// built deploys the committed placeholder digest, and no stamp takes a call).
	builds := wfUses(image, "docker/build-push-action")
	require.Len(t, builds, 2)
	var targets []string
	for _, b := range builds {
		assert.Equal(t, "true", wfInput(b, "push"))
		targets = append(targets, wfInput(b, "target"))
	}
	assert.ElementsMatch(t, []string{"", "sip-dispatcher"}, targets)
	require.NotNil(t, image.Outputs["dispatcher"])

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
		steps := wfCommands(job, "pulumi/actions")
		require.Len(t, steps, 1, name)
		assert.Equal(t, "up", wfInput(steps[0], "command"), name)
		assert.Equal(t, "policy", wfInput(steps[0], "policyPacks"), name)
		assert.Contains(t, wfInput(steps[0], "stack-name"), "/"+name, name)
		// The digests built in this run are what the stack deploys.
		assert.Contains(t, wfInput(steps[0], "config-map"), "needs.image.outputs.image", name)
		at := wfStep(job, "voicemail:sip.dispatcherImage")
		require.GreaterOrEqual(t, at, 0, "%s sets the dispatcher image", name)
		assert.Less(t, at, wfStep(job, "command: up"), "%s sets it before pulumi up", name)
		assert.Contains(t, wfStr(job.Env.Vars["dispatcher_image"].Value), "needs.image.outputs.dispatcher", name)
	}
}

// wfCommands returns the steps of a job that run the action with a command input (a
// pulumi/actions step without one only installs the CLI).
func wfCommands(job *actionlint.Job, action string) []*actionlint.ExecAction {
	var out []*actionlint.ExecAction
	for _, a := range wfUses(job, action) {
		if wfInput(a, "command") != "" {
			out = append(out, a)
		}
	}
	return out
}

// wfStep is the index of a job's first step whose run script contains text (or whose
// action is text@...), -1 if none.
func wfStep(job *actionlint.Job, text string) int {
	for i, s := range job.Steps {
		switch e := s.Exec.(type) {
		case *actionlint.ExecRun:
			if strings.Contains(wfStr(e.Run), text) {
				return i
			}
		case *actionlint.ExecAction:
			if strings.HasPrefix(wfStr(e.Uses), text+"@") || text == "command: "+wfInput(e, "command") {
				return i
			}
		}
	}
	return -1
}

// The deploy jobs deliver the management service: one package built once, uploaded to every
// region that already exists before pulumi up points the apps at it, the config key set
// before up, new regions served (upload, restart) after up.
func TestMainWorkflowDeliversManagerPackage(t *testing.T) {
	wf := wfParse(t, "main.yml")
	pkg := wf.Jobs["manager-package"]
	require.NotNil(t, pkg)
	build := pkg.Steps[wfStep(pkg, "go build")].Exec.(*actionlint.ExecRun)
	script := wfStr(build.Run)
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "./app/cmd/manager", "package -o manager.zip", "GITHUB_OUTPUT"} {
		assert.Contains(t, script, want)
	}
	require.Len(t, wfUses(pkg, "actions/upload-artifact"), 1)
	assert.Equal(t, "manager.zip", wfInput(wfUses(pkg, "actions/upload-artifact")[0], "path"))
	require.NotNil(t, pkg.Outputs["blob"])

	for _, name := range []string{"deploy-dev", "deploy-prod"} {
		job := wf.Jobs[name]
		require.NotNil(t, job, name)
		var needs []string
		for _, n := range job.Needs {
			needs = append(needs, wfStr(n))
		}
		assert.Contains(t, needs, "manager-package", name)
		assert.Contains(t, wfEnv(job, "MANAGER_BLOB"), "needs.manager-package.outputs.blob", name)

		download := wfStep(job, "actions/download-artifact")
		cli := wfStep(job, "pulumi/actions")
		before := wfStep(job, "az storage blob upload --auth-mode login")
		set := wfStep(job, "pulumi config set --path 'voicemail:functions.package' \"$MANAGER_BLOB\"")
		up := wfStep(job, "command: up")
		after := wfStep(job, "az functionapp restart")
		for step, i := range map[string]int{"download": download, "cli": cli, "upload before up": before, "config set": set, "up": up, "upload after up": after} {
			require.GreaterOrEqual(t, i, 0, "%s: no %s step", name, step)
		}
		assert.Less(t, download, before, name)
		assert.Less(t, cli, before, "%s: the CLI reads the stack outputs", name)
		assert.Less(t, before, up, "%s: existing regions have the blob before their app is pointed at it", name)
		assert.Less(t, set, up, name)
		assert.Less(t, up, after, "%s: regions created by up get the blob after it", name)
		post := wfStr(job.Steps[after].Exec.(*actionlint.ExecRun).Run)
		assert.Contains(t, post, "az storage blob upload --auth-mode login", name)
		assert.Contains(t, post, "managerPackageUrl", "%s: checks the apps run this run's package", name)
		pre := wfStr(job.Steps[before].Exec.(*actionlint.ExecRun).Run)
		assert.Contains(t, pre, "managerPackageAccount", name)
	}
}
