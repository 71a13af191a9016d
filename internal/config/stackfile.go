package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// StackFile is the stack file a command's -stack argument names.
type StackFile struct {
	Name string // the stack's name: "dev" for Pulumi.dev.yaml
	Path string
}

// FindStackFile resolves a -stack argument, the one convention of the repository's commands:
// a stack name ("dev" is Pulumi.dev.yaml in the project directory) or the path of a stack file
// (tried as given, then, when relative, in the project directory). project is the directory
// holding Pulumi.yaml; "" means the nearest one at or above the working directory. The error
// names every path it tried.
func FindStackFile(arg, project string) (StackFile, error) {
	if arg == "" {
		return StackFile{}, errors.New("-stack: give a stack name (dev) or a stack file (Pulumi.dev.yaml)")
	}
	var projErr error
	if project == "" {
		project, projErr = findProject()
	}
	var candidates []string
	if isStackName(arg) {
		candidates = append(candidates, filepath.Join(project, "Pulumi."+arg+".yaml"))
	}
	candidates = append(candidates, arg)
	if project != "" && !filepath.IsAbs(arg) {
		candidates = append(candidates, filepath.Join(project, arg))
	}
	var tried []string
	for _, c := range candidates {
		if slices.Contains(tried, c) {
			continue
		}
		tried = append(tried, c)
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return StackFile{Name: stackName(c), Path: c}, nil
		}
	}
	msg := fmt.Sprintf("stack %q: no stack file at %s", arg, strings.Join(tried, ", "))
	if projErr != nil {
		msg += " (" + projErr.Error() + ")"
	}
	return StackFile{}, errors.New(msg)
}

// isStackName tells a bare stack name ("dev") from a file name or path.
func isStackName(arg string) bool {
	return !strings.ContainsAny(arg, `/\`) && filepath.Ext(arg) != ".yaml" && filepath.Ext(arg) != ".yml"
}

// stackName is "dev" for .../Pulumi.dev.yaml, else the file's name without its extension.
func stackName(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if name, ok := strings.CutPrefix(base, "Pulumi."); ok && name != "" {
		return name
	}
	return base
}

// findProject finds the nearest directory at or above the working directory that holds
// Pulumi.yaml.
func findProject() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find project: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no Pulumi.yaml at or above the working directory")
		}
		dir = parent
	}
}
