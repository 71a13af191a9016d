package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/voicemail-platform/voicemail/policy/rules"
)

// analyzer serves the resource policies of a policyx pack (Analyze) and the
// stack rules (AnalyzeStack), which policyx cannot express in this SDK version.
type analyzer struct {
	pulumirpc.UnimplementedAnalyzerServer

	pack  policyx.PolicyPack
	stack []rules.StackRule

	mu     sync.Mutex
	levels map[string]policyx.EnforcementLevel // per-policy overrides from Configure
	dryRun bool                                // preview rather than update, from ConfigureStack
	tags   map[string]string                   // stack tags, from ConfigureStack
}

func newAnalyzer(pack policyx.PolicyPack, stack []rules.StackRule) *analyzer {
	return &analyzer{pack: pack, stack: stack, levels: map[string]policyx.EnforcementLevel{}}
}

// level returns the effective enforcement level of a policy.
func (a *analyzer) level(name string, def policyx.EnforcementLevel) policyx.EnforcementLevel {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l, ok := a.levels[name]; ok {
		return l
	}
	return def
}

func (a *analyzer) Handshake(context.Context, *pulumirpc.AnalyzerHandshakeRequest) (*pulumirpc.AnalyzerHandshakeResponse, error) {
	return &pulumirpc.AnalyzerHandshakeResponse{}, nil
}

func (a *analyzer) ConfigureStack(_ context.Context, req *pulumirpc.AnalyzerStackConfigureRequest) (*pulumirpc.AnalyzerStackConfigureResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dryRun = req.GetDryRun()
	a.tags = req.GetTags()
	return &pulumirpc.AnalyzerStackConfigureResponse{}, nil
}

func (a *analyzer) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (a *analyzer) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: a.pack.Version().String()}, nil
}

func (a *analyzer) GetAnalyzerInfo(context.Context, *emptypb.Empty) (*pulumirpc.AnalyzerInfo, error) {
	var infos []*pulumirpc.PolicyInfo
	for _, p := range a.pack.Policies() {
		infos = append(infos, &pulumirpc.PolicyInfo{
			Name:             p.Name(),
			Description:      p.Description(),
			EnforcementLevel: pulumirpc.EnforcementLevel(p.EnforcementLevel()),
		})
	}
	for _, s := range a.stack {
		infos = append(infos, &pulumirpc.PolicyInfo{
			Name:             s.ID,
			Description:      s.Description,
			EnforcementLevel: pulumirpc.EnforcementLevel_MANDATORY,
		})
	}
	return &pulumirpc.AnalyzerInfo{
		Name:           a.pack.Name(),
		Version:        a.pack.Version().String(),
		Policies:       infos,
		SupportsConfig: true,
	}, nil
}

func (a *analyzer) Configure(_ context.Context, req *pulumirpc.ConfigureAnalyzerRequest) (*emptypb.Empty, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, c := range req.GetPolicyConfig() {
		a.levels[name] = policyx.EnforcementLevel(c.GetEnforcementLevel())
	}
	return &emptypb.Empty{}, nil
}

// collector gathers the violations one policy reports for one resource.
type collector struct {
	messages []string
	urns     []string
}

func (c *collector) ReportViolation(message, urn string) {
	c.messages = append(c.messages, message)
	c.urns = append(c.urns, urn)
}

func (a *analyzer) diagnostic(policy, description, message, urn string, level policyx.EnforcementLevel) *pulumirpc.AnalyzeDiagnostic {
	return &pulumirpc.AnalyzeDiagnostic{
		PolicyName:        policy,
		PolicyPackName:    a.pack.Name(),
		PolicyPackVersion: a.pack.Version().String(),
		Description:       description,
		Message:           description + "\n" + message,
		EnforcementLevel:  pulumirpc.EnforcementLevel(level),
		Urn:               urn,
	}
}

func (a *analyzer) Analyze(ctx context.Context, req *pulumirpc.AnalyzeRequest) (*pulumirpc.AnalyzeResponse, error) {
	props, err := unmarshal(req.GetUrn(), req.GetProperties())
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	dryRun, tags := a.dryRun, a.tags
	a.mu.Unlock()
	var ds []*pulumirpc.AnalyzeDiagnostic
	for _, p := range a.pack.Policies() {
		rv, ok := p.(policyx.ResourceValidationPolicy)
		if !ok {
			continue
		}
		level := a.level(p.Name(), p.EnforcementLevel())
		if level == policyx.EnforcementLevelDisabled {
			continue
		}
		c := &collector{}
		err := rv.Validate(ctx, policyx.ResourceValidationArgs{
			Manager: c,
			Resource: policyx.AnalyzerResource{
				Type:       req.GetType(),
				Properties: props,
				URN:        req.GetUrn(),
				Name:       req.GetName(),
			},
			DryRun:    dryRun,
			StackTags: tags,
		})
		if err != nil {
			return nil, fmt.Errorf("policy %s on %s: %w", p.Name(), req.GetUrn(), err)
		}
		for i, msg := range c.messages {
			urn := c.urns[i]
			if urn == "" {
				urn = req.GetUrn()
			}
			ds = append(ds, a.diagnostic(p.Name(), p.Description(), msg, urn, level))
		}
	}
	return &pulumirpc.AnalyzeResponse{Diagnostics: ds}, nil
}

func (a *analyzer) AnalyzeStack(_ context.Context, req *pulumirpc.AnalyzeStackRequest) (*pulumirpc.AnalyzeResponse, error) {
	resources := make([]rules.Resource, 0, len(req.GetResources()))
	urns := map[[2]string]string{}
	for _, r := range req.GetResources() {
		props, err := unmarshal(r.GetUrn(), r.GetProperties())
		if err != nil {
			return nil, err
		}
		deps := map[string][]string{}
		for prop, d := range r.GetPropertyDependencies() {
			for _, urn := range d.GetUrns() {
				deps[prop] = append(deps[prop], parentName(urn))
			}
		}
		var dependsOn []string
		for _, urn := range r.GetDependencies() {
			dependsOn = append(dependsOn, parentName(urn))
		}
		resources = append(resources, rules.Resource{
			Type:      r.GetType(),
			Name:      r.GetName(),
			Parent:    parentName(r.GetParent()),
			Inputs:    plainMap(props),
			Deps:      deps,
			DependsOn: dependsOn,
		})
		urns[[2]string{r.GetType(), r.GetName()}] = r.GetUrn()
	}
	var ds []*pulumirpc.AnalyzeDiagnostic
	for _, s := range a.stack {
		level := a.level(s.ID, policyx.EnforcementLevelMandatory)
		if level == policyx.EnforcementLevelDisabled {
			continue
		}
		for _, v := range s.Run(resources) {
			ds = append(ds, a.diagnostic(s.ID, s.Description, v.Message, urns[[2]string{v.Type, v.Name}], level))
		}
	}
	return &pulumirpc.AnalyzeResponse{Diagnostics: ds}, nil
}
