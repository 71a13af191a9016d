// Command slo prints what a stack's topology gives: per-region capacity and
// headroom, and composite availability from documented SLAs against the
// 99.999 % target.
//
//	go run ./internal/availability/slo -stack prod
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/voicemail-platform/voicemail/internal/availability"
	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("slo failed", "err", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("slo", flag.ContinueOnError)
	stack := fs.String("stack", "prod", "stack whose Pulumi.<stack>.yaml to read")
	dir := fs.String("dir", "", "project directory holding Pulumi.yaml (default: nearest one above the working directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		found, err := projectDir()
		if err != nil {
			return err
		}
		*dir = found
	}
	cfg, err := config.LoadStackFile(filepath.Join(*dir, "Pulumi."+*stack+".yaml"))
	if err != nil {
		return fmt.Errorf("stack %s: %w", *stack, err)
	}
	topo, err := topology.Build(cfg)
	if err != nil {
		return fmt.Errorf("stack %s: %w", *stack, err)
	}
	res, err := availability.Evaluate(availability.FromTopology(topo))
	if err != nil {
		return fmt.Errorf("stack %s: %w", *stack, err)
	}
	res.Stack = *stack
	return availability.WriteTable(stdout, res)
}

// projectDir finds the nearest directory at or above the working directory that
// holds Pulumi.yaml.
func projectDir() (string, error) {
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
			return "", errors.New("no Pulumi.yaml at or above the working directory; pass -dir")
		}
		dir = parent
	}
}
