// Command policy is the voicemail platform's Pulumi policy pack. Run it with
//
//	pulumi preview --policy-pack policy
//
// The rules live in policy/rules as plain Go functions so tests/ can run the
// same code over the mocked stacks.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"

	"github.com/voicemail-platform/voicemail/policy/rules"
)

const (
	packName    = "voicemail-guardrails"
	packVersion = "0.1.0"
)

func main() {
	if err := serve(); err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("policy pack failed", "err", err)
		os.Exit(1)
	}
}

// newPack builds the resource policies with policyx, one per rule, all mandatory.
func newPack() (policyx.PolicyPack, error) {
	var policies []policyx.Policy
	for _, rule := range rules.ResourceRules() {
		policies = append(policies, policyx.NewResourceValidationPolicy(rule.ID, policyx.ResourceValidationPolicyArgs{
			Description:      rule.Description,
			EnforcementLevel: policyx.EnforcementLevelMandatory,
			ValidateResource: func(_ context.Context, args policyx.ResourceValidationArgs) error {
				r := rules.Resource{
					Type:   args.Resource.Type,
					Name:   args.Resource.Name,
					Parent: parentName(args.Resource.Parent),
					Inputs: plainMap(args.Resource.Properties),
				}
				for _, v := range rule.Run(r) {
					args.Manager.ReportViolation(v.Message, "")
				}
				return nil
			},
		}))
	}
	pack, err := policyx.NewPolicyPack(packName, semver.MustParse(packVersion), policyx.EnforcementLevelMandatory, policies)
	if err != nil {
		return nil, fmt.Errorf("build policy pack: %w", err)
	}
	return pack, nil
}

// serve runs the analyzer plugin protocol: listen, print the port, serve.
// It replaces policyx.Main because policyx in the SDK this module uses (v3.226.0)
// leaves AnalyzeStack unimplemented, and the stack rules need it. policyx in SDK
// v3.274.1 implements AnalyzeStack (StackValidationPolicy, with each resource's
// dependencies and property dependencies), but moving the module to it also moves
// grpc, otel and x/* and adds go-git v6, go-tpm and go-keyring to the program's build
// (the whole program rebuilds); this server, about 200 lines, costs less than that.
func serve() error {
	pack, err := newPack()
	if err != nil {
		return err
	}
	srv := newAnalyzer(pack, rules.StackRules())
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterAnalyzerServer(s, srv)
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("start analyzer: %w", err)
	}
	// The plugin protocol: the engine reads our port from the first stdout line.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		return fmt.Errorf("serve analyzer: %w", err)
	}
	return nil
}
