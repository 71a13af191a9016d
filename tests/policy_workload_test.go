package tests

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/deploy"
	"github.com/voicemail-platform/voicemail/app/deploy/deploytest"
	"github.com/voicemail-platform/voicemail/policy/rules"
)

type polEchoMocks struct{}

func (polEchoMocks) NewResource(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return a.Name + "-id", a.Inputs, nil
}

func (polEchoMocks) Call(a pulumi.MockCallArgs) (resource.PropertyMap, error) { return a.Args, nil }

// polWorkload registers the real per-stamp workload component (app/deploy) under
// mocks and returns its resources as the policy pack sees them. The Kubernetes
// rules judge these objects whether or not the program wires them in yet.
func polWorkload(t *testing.T, stamps ...string) []rules.Resource {
	t.Helper()
	rec := &deploytest.Recorder{Inner: polEchoMocks{}, Project: "voicemail", Stack: "dev"}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		for _, s := range stamps {
			_, err := deploy.NewWorkload(ctx, s+"-app", &deploy.Args{
				Stamp: s, Region: "westeurope", Zone: "1", Version: "v1",
				Kubeconfig:            pulumi.String(deploytest.AKSKubeconfig("aks-" + s)),
				AppClientID:           pulumi.String("client-" + s),
				RegistryLoginServer:   pulumi.String("acr.azurecr.io"),
				Image:                 "ghcr.io/voicemail-platform/voicemail@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				PublicIPName:          pulumi.String("pip-" + s),
				PublicIPResourceGroup: pulumi.String("rg-" + s),
				PublicIPAddress:       pulumi.String("20.0.0.1"),
				Replicas:              3,
				DispatcherImage:       "ghcr.io/voicemail-platform/voicemail-sip-dispatcher@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				SIPDispatcherIP:       "10.1.15.250",
				SBCPrefixes:           []string{"192.0.2.0/28"},
				NodeSubnetName:        "snet-aks",
			})
			if err != nil {
				return err
			}
		}
		return nil
	}, pulumi.WithMocks("voicemail", "dev", rec))
	require.NoError(t, err)
	var out []rules.Resource
	for _, r := range rec.Registrations() {
		inputs, err := deploytest.Plain(r.Inputs)
		require.NoError(t, err)
		out = append(out, rules.Resource{Type: r.Type, Name: r.Name, Parent: deploytest.URNName(r.Parent), Inputs: inputs})
	}
	return out
}

func TestPolicyWorkloadPassesKubernetesRules(t *testing.T) {
	rs := polWorkload(t, "weu-1-v1", "weu-2-v1")
	deployment := rules.TypeRef{Package: "kubernetes", Module: "apps", Name: "Deployment"}
	pdb := rules.TypeRef{Package: "kubernetes", Module: "policy", Name: "PodDisruptionBudget"}
	require.Equal(t, 4, polCount(rs, deployment), "the service and the SIP dispatcher per stamp")
	require.Equal(t, 4, polCount(rs, pdb))
	vs := rules.Evaluate(rs)
	assert.Empty(t, vs, "violations: %v", vs)

	// Without its PodDisruptionBudgets the same workload fails k8s-pdb.
	var noPDB []rules.Resource
	for _, r := range rs {
		if !pdb.Matches(r.Type) {
			noPDB = append(noPDB, r)
		}
	}
	ids := polRuleIDs(rules.Evaluate(noPDB))
	assert.Contains(t, ids, "k8s-pdb")
}
