package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// functionApp is host.json and one folder per function, shipped inside the binary so the
// package always matches the handler it was built with.
//
//go:embed functionapp
var functionApp embed.FS

// packageTime is every zip entry's timestamp: a fixed value keeps the package byte-for-byte
// reproducible, so the same source gives the same blob name.
var packageTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// PackageBlobName is the content-addressed blob name of a package: a new build gets a new
// name (the app setting changes, so the Functions app restarts onto it) and an unchanged one
// keeps its name (no restart, nothing to upload).
func PackageBlobName(zipBytes []byte) string {
	sum := sha256.Sum256(zipBytes)
	return "manager-" + hex.EncodeToString(sum[:8]) + ".zip"
}

// runPackage is the "package" subcommand: it writes the Functions deployment zip and prints
// its blob name on stdout.
func runPackage(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("package", flag.ContinueOnError)
	out := fl.String("o", "manager.zip", "zip file to write")
	exePath := fl.String("exe", "", "linux/amd64 static manager binary to ship (default: this executable)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *exePath == "" {
		p, err := os.Executable()
		if err != nil {
			return fmt.Errorf("package: locate this executable: %w", err)
		}
		*exePath = p
	}
	exe, err := os.ReadFile(*exePath)
	if err != nil {
		return fmt.Errorf("package: %w", err)
	}
	var buf bytes.Buffer
	sub, err := fs.Sub(functionApp, "functionapp")
	if err != nil {
		return err
	}
	if err := writePackage(&buf, sub, exe); err != nil {
		return fmt.Errorf("package %s: %w", *exePath, err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("package: %w", err)
	}
	_, err = fmt.Fprintln(stdout, PackageBlobName(buf.Bytes()))
	return err
}

// writePackage writes the run-from-package zip: the files of app (host.json at the root, one
// folder per function) and exe under the name host.json's defaultExecutablePath gives, with
// the executable bit set. Entries are sorted and timestamps fixed.
func writePackage(w io.Writer, app fs.FS, exe []byte) error {
	exeName, err := executableName(app)
	if err != nil {
		return err
	}
	if err := checkExecutable(exe); err != nil {
		return err
	}
	files := map[string][]byte{}
	err = fs.WalkDir(app, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(app, p)
		if err != nil {
			return err
		}
		if path.Base(p) == "function.json" {
			if err := checkFunction(b); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		files[p] = b
		return nil
	})
	if err != nil {
		return err
	}
	if _, clash := files[exeName]; clash {
		return fmt.Errorf("host.json: executable %q collides with a function app file", exeName)
	}
	names := make([]string, 0, len(files)+1)
	for n := range files {
		names = append(names, n)
	}
	names = append(names, exeName)
	sort.Strings(names)

	zw := zip.NewWriter(w)
	for _, n := range names {
		h := &zip.FileHeader{Name: n, Method: zip.Deflate, Modified: packageTime}
		body, mode := files[n], fs.FileMode(0o644)
		if n == exeName {
			body, mode = exe, 0o755
		}
		h.SetMode(mode)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(body); err != nil {
			return err
		}
	}
	return zw.Close()
}

// executableName reads customHandler.description.defaultExecutablePath from host.json: the
// host runs that file from the package root.
func executableName(app fs.FS) (string, error) {
	raw, err := fs.ReadFile(app, "host.json")
	if err != nil {
		return "", err
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(raw, &host); err != nil {
		return "", fmt.Errorf("host.json: %w", err)
	}
	n := host.CustomHandler.Description.DefaultExecutablePath
	if n == "" || strings.ContainsAny(n, `/\`) || n == "." || n == ".." {
		return "", fmt.Errorf("host.json: customHandler.description.defaultExecutablePath %q must be a file name at the package root", n)
	}
	return n, nil
}

func checkFunction(raw []byte) error {
	var f struct {
		Bindings []struct {
			Type string `json:"type"`
		} `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return err
	}
	if len(f.Bindings) == 0 || f.Bindings[0].Type == "" {
		return errors.New("no bindings")
	}
	return nil
}

// checkExecutable accepts only what the Linux Functions host can run without our help: an
// x86-64 ELF executable with no dynamic loader (CGO_ENABLED=0 GOOS=linux GOARCH=amd64).
func checkExecutable(exe []byte) error {
	f, err := elf.NewFile(bytes.NewReader(exe))
	if err != nil {
		return fmt.Errorf("executable is not an ELF binary (build with GOOS=linux GOARCH=amd64): %w", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("executable is for %v, the Functions host is x86-64 (GOARCH=amd64)", f.Machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("ELF type %v is not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("executable is dynamically linked; build it with CGO_ENABLED=0")
		}
	}
	return nil
}
