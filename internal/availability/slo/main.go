// Command slo prints what a stack's topology gives: per-region capacity and
// headroom, and composite availability from documented SLAs against the
// 99.999 % target.
//
//	go run ./internal/availability/slo -stack prod    (a stack name or a stack file)
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

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
	stack := fs.String("stack", "prod", "stack name (prod: Pulumi.prod.yaml in the project) or stack file")
	dir := fs.String("dir", "", "project directory holding Pulumi.yaml (default: nearest one above the working directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sf, err := config.FindStackFile(*stack, *dir)
	if err != nil {
		return err
	}
	cfg, err := config.LoadStackFile(sf.Path)
	if err != nil {
		return fmt.Errorf("stack %s: %w", sf.Name, err)
	}
	topo, err := topology.Build(cfg)
	if err != nil {
		return fmt.Errorf("stack %s: %w", sf.Name, err)
	}
	res, err := availability.Evaluate(availability.FromTopology(topo))
	if err != nil {
		return fmt.Errorf("stack %s: %w", sf.Name, err)
	}
	res.Stack = sf.Name
	return availability.WriteTable(stdout, res)
}
