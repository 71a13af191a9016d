package main

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/internal/config"
)

// tinyELF writes a minimal ELF64 executable for machine (one PT_LOAD, plus a PT_INTERP when
// dynamic), standing in for the manager binary: the packager reads only the ELF headers, and
// cross-building even an empty Go program with cgo off recompiled the runtime, the slowest
// part of a cold `go test ./...` here. The workflow builds and packages the real binary.
func tinyELF(t *testing.T, machine elf.Machine, dynamic bool) string {
	t.Helper()
	const entry = 0x400000
	interp := []byte("/lib64/ld-linux-x86-64.so.2\x00")
	progs := []elf.Prog64{{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Vaddr: entry, Paddr: entry, Filesz: 0x100, Memsz: 0x100, Align: 0x1000}}
	if dynamic {
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: 64 + 2*56, Filesz: uint64(len(interp)), Memsz: uint64(len(interp)), Align: 1})
	}
	var hdr elf.Header64
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS], hdr.Ident[elf.EI_DATA], hdr.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	hdr.Type, hdr.Machine, hdr.Version = uint16(elf.ET_EXEC), uint16(machine), uint32(elf.EV_CURRENT)
	hdr.Entry, hdr.Phoff, hdr.Ehsize, hdr.Phentsize, hdr.Phnum = entry, 64, 64, 56, uint16(len(progs))
	var b bytes.Buffer
	require.NoError(t, binary.Write(&b, binary.LittleEndian, hdr))
	require.NoError(t, binary.Write(&b, binary.LittleEndian, progs))
	if dynamic {
		b.Write(interp)
	}
	b.Write(make([]byte, 0x100))
	out := filepath.Join(t.TempDir(), "manager-"+machine.String())
	require.NoError(t, os.WriteFile(out, b.Bytes(), 0o755))
	return out
}

// The package subcommand writes the zip the Functions host runs from: host.json and the
// function folders at the root, the binary under host.json's executable name and
// executable, every function.json valid, and a content-addressed blob name on stdout.
func TestPackageLayout(t *testing.T) {
	t.Parallel() // own temp dirs
	exe := tinyELF(t, elf.EM_X86_64, false)
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
	arm, err := os.ReadFile(tinyELF(t, elf.EM_AARCH64, false))
	require.NoError(t, err)
	dyn, err := os.ReadFile(tinyELF(t, elf.EM_X86_64, true))
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		exe  []byte
		want string
	}{
		"not ELF":    {[]byte("#!/bin/sh\necho hi\n"), "GOOS=linux"},
		"wrong arch": {arm, "GOARCH=amd64"},
		"dynamic":    {dyn, "CGO_ENABLED=0"},
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
	exe, err := os.ReadFile(tinyELF(t, elf.EM_X86_64, false))
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
