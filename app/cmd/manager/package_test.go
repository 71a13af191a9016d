package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/config"
)

// buildTiny compiles a do-nothing program for goarch with cgo off, standing in for the
// manager binary (the real one takes a minute to cross-build; the checks are the same).
func buildTiny(t *testing.T, goarch string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644))
	out := filepath.Join(dir, "manager-"+goarch)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOWORK=off", "GOFLAGS=")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", b)
	return out
}

// The package subcommand writes the zip the Functions host runs from: host.json and the
// function folders at the root, the binary under host.json's executable name and
// executable, every function.json valid, and a content-addressed blob name on stdout.
func TestPackageLayout(t *testing.T) {
	t.Parallel() // own temp dirs
	exe := buildTiny(t, "amd64")
	out := filepath.Join(t.TempDir(), "manager.zip")
	var stdout bytes.Buffer
	require.NoError(t, runPackage([]string{"-o", out, "-exe", exe}, &stdout))

	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	name := strings.TrimSpace(stdout.String())
	assert.Regexp(t, regexp.MustCompile(`^manager-[0-9a-f]{16}\.zip$`), name)
	assert.Equal(t, PackageBlobName(raw), name)

	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	require.NoError(t, err)
	entries := map[string]*zip.File{}
	var order []string
	for _, f := range zr.File {
		entries[f.Name] = f
		order = append(order, f.Name)
	}
	read := func(n string) []byte {
		f, ok := entries[n]
		require.True(t, ok, "%s missing from the package (has %v)", n, order)
		rc, err := f.Open()
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		return b
	}

	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	require.NoError(t, json.Unmarshal(read("host.json"), &host))
	exeName := host.CustomHandler.Description.DefaultExecutablePath
	require.Equal(t, "manager", exeName)
	want, err := os.ReadFile(exe)
	require.NoError(t, err)
	assert.Equal(t, want, read(exeName), "the binary ships under the name host.json runs")
	assert.Equal(t, fs.FileMode(0o755), entries[exeName].Mode().Perm(), "the host must be able to exec it")
	assert.Equal(t, fs.FileMode(0o644), entries["host.json"].Mode().Perm())

	// Exactly the function folders of functionapp/, each with a function.json that parses.
	dirs, err := os.ReadDir("functionapp")
	require.NoError(t, err)
	wantNames := []string{"host.json", exeName}
	for _, d := range dirs {
		if d.IsDir() {
			wantNames = append(wantNames, d.Name()+"/function.json")
		}
	}
	assert.ElementsMatch(t, wantNames, order)
	assert.IsIncreasing(t, order, "sorted entries keep the zip reproducible")
	for _, n := range order {
		if strings.HasSuffix(n, "/function.json") {
			var f struct {
				Bindings []map[string]any `json:"bindings"`
			}
			require.NoError(t, json.Unmarshal(read(n), &f), n)
			assert.NotEmpty(t, f.Bindings, n)
			onDisk, err := os.ReadFile(filepath.Join("functionapp", n))
			require.NoError(t, err)
			assert.Equal(t, onDisk, read(n), "%s is the file in functionapp/", n)
		}
	}

	// The printed name is what the stack config key accepts.
	stackFile, err := os.ReadFile(filepath.Join("..", "..", "..", "Pulumi.dev.yaml"))
	require.NoError(t, err)
	values, err := config.StackFileValues(stackFile)
	require.NoError(t, err)
	values["voicemail:functions"] = `{"package":"` + name + `"}`
	c, err := config.Parse(values)
	require.NoError(t, err)
	assert.Equal(t, name, c.Functions.Package)

	// Reproducible: the same inputs give the same bytes, so the same blob name.
	var again bytes.Buffer
	require.NoError(t, runPackage([]string{"-o", out, "-exe", exe}, &again))
	assert.Equal(t, name, strings.TrimSpace(again.String()))
}

// Only a binary the Linux x86-64 host can exec is packaged; the error says how to build one.
func TestPackageRejectsWrongExecutable(t *testing.T) {
	t.Parallel() // own temp dirs
	app, err := fs.Sub(functionApp, "functionapp")
	require.NoError(t, err)
	arm, err := os.ReadFile(buildTiny(t, "arm64"))
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		exe  []byte
		want string
	}{
		"not ELF":    {[]byte("#!/bin/sh\necho hi\n"), "GOOS=linux"},
		"wrong arch": {arm, "GOARCH=amd64"},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			err := writePackage(&buf, app, tc.exe)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// host.json and function.json mistakes stop packaging instead of shipping a dead app.
func TestPackageRejectsBrokenFunctionApp(t *testing.T) {
	t.Parallel() // own temp dirs
	exe, err := os.ReadFile(buildTiny(t, "amd64"))
	require.NoError(t, err)
	host := func(exe string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(`{"customHandler":{"description":{"defaultExecutablePath":"` + exe + `"}}}`)}
	}
	fn := &fstest.MapFile{Data: []byte(`{"bindings":[{"type":"timerTrigger"}]}`)}
	for name, tc := range map[string]struct {
		app  fstest.MapFS
		want string
	}{
		"no host.json":        {fstest.MapFS{"probe/function.json": fn}, "host.json"},
		"no executable name":  {fstest.MapFS{"host.json": host(""), "probe/function.json": fn}, "defaultExecutablePath"},
		"executable in a dir": {fstest.MapFS{"host.json": host("bin/manager"), "probe/function.json": fn}, "defaultExecutablePath"},
		"bad function.json":   {fstest.MapFS{"host.json": host("manager"), "probe/function.json": {Data: []byte(`{"bindings":`)}}, "probe/function.json"},
		"no bindings":         {fstest.MapFS{"host.json": host("manager"), "probe/function.json": {Data: []byte(`{}`)}}, "no bindings"},
		"executable clash":    {fstest.MapFS{"host.json": host("probe"), "probe": fn}, "collides"},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			err := writePackage(&buf, tc.app, exe)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
