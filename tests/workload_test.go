package tests

// The per-stamp workload (app/deploy) in the real program graph, dev and prod, under mocks.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/voicemail-platform/voicemail/app/deploy"
	"github.com/voicemail-platform/voicemail/app/deploy/deploytest"
	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/config"
	"github.com/voicemail-platform/voicemail/internal/stack"
	"github.com/voicemail-platform/voicemail/internal/topology"
	"github.com/voicemail-platform/voicemail/policy/rules"
)

// wlProgram is the program; it deploys the workload into every stamp.
var wlProgram pulumi.RunFunc = stack.Run

// wlMocks wraps the infra mocks: AKS credentials come back as a real exec kubeconfig, and
// the provider and parent URN of every registration are kept.
type wlMocks struct {
	*mocks
	rec *deploytest.Recorder
}

func (w wlMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	if out, ok := deploytest.AnswerCall(args); ok {
		return out, nil
	}
	return w.mocks.Call(args)
}

func (w wlMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return w.rec.NewResource(args)
}

type wlGraph struct {
	m    *mocks
	rec  *deploytest.Recorder
	topo topology.Topology
}

func wlRun(t *testing.T, stackName string, cfg map[string]string) wlGraph {
	t.Helper()
	m := &mocks{}
	rec := &deploytest.Recorder{Inner: m, Project: "voicemail", Stack: stackName}
	err := pulumi.RunErr(wlProgram, pulumi.WithMocks("voicemail", stackName, wlMocks{m, rec}), withConfig(cfg))
	require.NoError(t, err)
	c, err := config.Parse(cfg)
	require.NoError(t, err)
	topo, err := topology.Build(c)
	require.NoError(t, err)
	return wlGraph{m: m, rec: rec, topo: topo}
}

// wlConfig is a stack file's config with the image pinned by digest, as stamps require.
func wlConfig(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	raw, err := config.StackFileValues(data)
	require.NoError(t, err)
	if !strings.Contains(raw["voicemail:image"], "@sha256:") {
		raw["voicemail:image"] = "ghcr.io/voicemail-platform/voicemail@sha256:" + strings.Repeat("0", 64)
	}
	return raw
}

// wlKinds counts each kind of a stamp's workload: the service's objects and its SIP ingress
// (the dispatcher's service account, secret provider, ConfigMap, Deployment and budget; the
// headless and the two internal load balancer Services).
var wlKinds = map[string]int{
	"kubernetes:core/v1:Namespace": 1, "kubernetes:core/v1:ServiceAccount": 2, "kubernetes:core/v1:ConfigMap": 2,
	"kubernetes:apps/v1:Deployment": 2, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": 1,
	"kubernetes:policy/v1:PodDisruptionBudget": 2, "kubernetes:networking.k8s.io/v1:NetworkPolicy": 1,
	"kubernetes:core/v1:Service": 4, "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass": 2,
	"kubernetes:batch/v1:Job": 1,
}

func (g wlGraph) reg(t *testing.T, typ, name string) deploytest.Registration {
	t.Helper()
	for _, r := range g.rec.Registrations() {
		if r.Type == typ && r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s named %s", typ, name)
	return deploytest.Registration{}
}

func (g wlGraph) res(t *testing.T, name string) Resource {
	t.Helper()
	r, ok := g.m.byName(name)
	require.True(t, ok, "no resource %s", name)
	return r
}

// decode strict-decodes a workload object (SecretProviderClass into its CRD's shape).
func wlDecode(t *testing.T, r deploytest.Registration) any {
	t.Helper()
	if strings.HasSuffix(r.Type, ":SecretProviderClass") {
		plain, err := deploytest.Plain(r.Inputs)
		require.NoError(t, err)
		raw, _ := json.Marshal(plain)
		var spc secretProviderClass
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&spc), string(raw))
		return &spc
	}
	obj, err := deploytest.StrictDecode(r.Type, r.Inputs)
	require.NoError(t, err)
	return obj
}

// secretProviderClass is secrets-store.csi.x-k8s.io/v1 SecretProviderClass's schema.
type secretProviderClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Provider      string            `json:"provider"`
		Parameters    map[string]string `json:"parameters"`
		SecretObjects []struct {
			SecretName string `json:"secretName"`
			Type       string `json:"type"`
			Data       []struct {
				ObjectName string `json:"objectName"`
				Key        string `json:"key"`
			} `json:"data"`
		} `json:"secretObjects"`
	} `json:"spec"`
}

func servedStatus(t *testing.T, path string) int {
	t.Helper()
	code, err := deploytest.ServedStatus(t.TempDir(), path)
	require.NoError(t, err)
	return code
}

func TestWorkloadEveryStamp(t *testing.T) {
	for _, st := range []string{"dev", "prod"} {
		t.Run(st, func(t *testing.T) {
			g := wlRun(t, st, wlConfig(t, filepath.Join("..", "Pulumi."+st+".yaml")))
			require.NotEmpty(t, g.topo.Stamps)
			regs := g.rec.Registrations()
			for _, s := range g.topo.Stamps {
				wl := deploy.WorkloadName(s.ID)
				prov := g.reg(t, "pulumi:providers:kubernetes", wl+"-k8s")
				for kind, n := range wlKinds {
					var found []deploytest.Registration
					for _, r := range regs {
						if r.Type == kind && strings.HasPrefix(r.Name, wl+"-") {
							found = append(found, r)
						}
					}
					require.Len(t, found, n, "%s of stamp %s", kind, s.ID)
					for _, r := range found {
						assert.Equal(t, prov.URN+"::"+prov.Name+"_id", r.Provider, "%s uses its stamp's provider", r.Name)
						anc := g.rec.Ancestors(r)
						require.GreaterOrEqual(t, len(anc), 2, r.Name)
						assert.Equal(t, wl, deploytest.URNName(anc[0]))
						assert.Equal(t, s.ID, deploytest.URNName(anc[1]), "%s is under its stamp", r.Name)
						assert.Equal(t, "voicemail:stamp:Stamp", deploytest.URNType(anc[1]))
						wlDecode(t, r)
					}
				}
				// The provider's kubeconfig is the stamp's own cluster, non-interactive.
				plain, err := deploytest.Plain(prov.Inputs)
				require.NoError(t, err)
				kc, _ := plain["kubeconfig"].(string)
				assert.Contains(t, kc, s.Names.Cluster)
				assert.Contains(t, kc, "azurecli")
				assert.Equal(t, s.ID, deploytest.URNName(g.rec.Ancestors(prov)[1]))
			}
		})
	}
}

func TestWorkloadWiring(t *testing.T) {
	for _, st := range []string{"dev", "prod"} {
		t.Run(st, func(t *testing.T) {
			g := wlRun(t, st, wlConfig(t, filepath.Join("..", "Pulumi."+st+".yaml")))
			probeStatus := map[string]int{}
			for _, s := range g.topo.Stamps {
				wl := deploy.WorkloadName(s.ID)
				d := wlDecode(t, g.reg(t, "kubernetes:apps/v1:Deployment", wl+"-deployment")).(*appsv1.Deployment)
				sa := wlDecode(t, g.reg(t, "kubernetes:core/v1:ServiceAccount", wl+"-sa")).(*corev1.ServiceAccount)
				svc := wlDecode(t, g.reg(t, "kubernetes:core/v1:Service", wl+"-service")).(*corev1.Service)
				cm := wlDecode(t, g.reg(t, "kubernetes:core/v1:ConfigMap", wl+"-config")).(*corev1.ConfigMap)
				hpa := wlDecode(t, g.reg(t, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", wl+"-hpa")).(*autoscalingv2.HorizontalPodAutoscaler)
				spc := wlDecode(t, g.reg(t, "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass", wl+"-secretprovider")).(*secretProviderClass)
				pod := d.Spec.Template.Spec
				c := pod.Containers[0]

				// Workload identity: the federated credential trusts exactly this service
				// account, on this stamp's cluster issuer, and the SA names this stamp's identity.
				fic := g.res(t, s.ID+"-id-app-federation")
				assert.Equal(t, "system:serviceaccount:"+sa.Namespace+":"+sa.Name, fic.Inputs["subject"])
				assert.Equal(t, pod.ServiceAccountName, sa.Name)
				assert.Equal(t, sa.Namespace, d.Namespace)
				aks := g.res(t, s.ID+"-aks")
				assert.Equal(t, get(aks.Outputs, "oidcIssuerProfile", "issuerURL"), fic.Inputs["issuer"])
				appID := g.res(t, s.ID+"-id-app")
				assert.Equal(t, appID.Outputs["clientId"], sa.Annotations["azure.workload.identity/client-id"])
				assert.Equal(t, appID.Outputs["clientId"], spc.Spec.Parameters["clientID"])
				assert.Equal(t, "true", d.Spec.Template.Labels["azure.workload.identity/use"])

				// Traffic Manager's endpoint for this stamp targets this stamp's public IP, and
				// the LoadBalancer Service binds that same IP.
				pip := g.res(t, s.ID+"-pip")
				ep := g.res(t, s.ID+"-tm-endpoint")
				assert.Equal(t, pip.ID, ep.Inputs["targetResourceId"])
				assert.Equal(t, s.ID, ep.Parent)
				assert.Equal(t, pip.Inputs["publicIpAddressName"], svc.Annotations["service.beta.kubernetes.io/azure-pip-name"])
				assert.Equal(t, pip.Inputs["resourceGroupName"], svc.Annotations["service.beta.kubernetes.io/azure-load-balancer-resource-group"])
				// No shared media address: every pod advertises its own (status.podIP).
				assert.NotContains(t, cm.Data, "VOICEMAIL_SIP_MEDIA_IP")
				assert.Equal(t, s.FQDN, get(pip.Outputs, "dnsSettings", "fqdn"))

				// The service's own loaders accept the pod's environment and read every key.
				env := map[string]string{"VOICEMAIL_OPERATOR_TOKEN": "from-key-vault-0123456789"}
				for k, v := range cm.Data {
					env[k] = v
				}
				unread, err := deploytest.CheckServiceEnv(env)
				require.NoError(t, err)
				assert.Empty(t, unread, "ConfigMap keys the service does not read")

				// The ConfigMap configures this stamp against its region's stores.
				assert.Equal(t, s.ID, cm.Data["VOICEMAIL_STAMP"])
				assert.Equal(t, s.Region, cm.Data["VOICEMAIL_REGION"])
				assert.Equal(t, s.StateBlob, cm.Data["VOICEMAIL_STATE_BLOB"])
				for _, k := range []string{"VOICEMAIL_TABLE_ENDPOINT", "VOICEMAIL_BLOB_ENDPOINT", "VOICEMAIL_QUEUE_ENDPOINT"} {
					assert.True(t, strings.HasPrefix(cm.Data[k], "https://"), "%s=%q", k, cm.Data[k])
				}
				reg, _ := g.topo.Region(s.Region)
				assert.Contains(t, cm.Data["VOICEMAIL_BLOB_ENDPOINT"], reg.Names.BlobAccount)
				assert.Equal(t, reg.Names.KeyVault, spc.Spec.Parameters["keyvaultName"])
				// SIP is never open in Azure: the pods trust their dispatchers' subnet (and the
				// operator's SBCs), and TLS is on.
				assert.Contains(t, strings.Split(cm.Data["VOICEMAIL_SIP_TRUSTED_PEERS"], ","), s.PodSubnet)
				assert.NotEmpty(t, cm.Data["VOICEMAIL_TLS_CERT"])

				// A pod carries replicaCapacity.concurrentCalls calls: one RTP port each, on the
				// pod's own address; the public Service publishes none.
				for _, p := range svc.Spec.Ports {
					assert.False(t, strings.HasPrefix(p.Name, "rtp-") || strings.HasPrefix(p.Name, "sip-"), p.Name)
				}
				assert.Equal(t, fmt.Sprint(g.topo.Config.ReplicaCapacity.ConcurrentCalls), cm.Data["VOICEMAIL_SIP_MAX_CALLS"])

				// Image by digest from the stack's registry; replicas from the plan.
				assert.Regexp(t, `^[a-z0-9]+\.azurecr\.io/voicemail-platform/voicemail@sha256:[0-9a-f]{64}$`, c.Image)
				assert.Nil(t, d.Spec.Replicas, "the HPA owns the replica count")
				assert.EqualValues(t, s.Replicas, *hpa.Spec.MinReplicas)

				// A new stamp starts healthy: the state-init Job creates its state blob once,
				// as the app's service account (the federated subject above), from the same
				// pinned image and ConfigMap, locked down like the Deployment.
				job := wlDecode(t, g.reg(t, "kubernetes:batch/v1:Job", wl+"-state-init")).(*batchv1.Job)
				jp := job.Spec.Template.Spec
				require.Len(t, jp.Containers, 1)
				jc := jp.Containers[0]
				assert.Equal(t, sa.Namespace, job.Namespace)
				assert.Equal(t, sa.Name, jp.ServiceAccountName)
				assert.Equal(t, "system:serviceaccount:"+job.Namespace+":"+jp.ServiceAccountName, fic.Inputs["subject"])
				assert.Equal(t, "true", job.Spec.Template.Labels["azure.workload.identity/use"])
				assert.Equal(t, c.Image, jc.Image)
				assert.Regexp(t, `@sha256:[0-9a-f]{64}$`, jc.Image)
				assert.Equal(t, []string{contract.InitStateArg}, jc.Args)
				require.Len(t, jc.EnvFrom, 1)
				assert.Equal(t, cm.Name, jc.EnvFrom[0].ConfigMapRef.Name)
				assert.Equal(t, pod.SecurityContext, jp.SecurityContext)
				assert.Equal(t, c.SecurityContext, jc.SecurityContext)
				assert.True(t, *jc.SecurityContext.ReadOnlyRootFilesystem)
				assert.False(t, *jc.SecurityContext.AllowPrivilegeEscalation)
				assert.True(t, *jp.SecurityContext.RunAsNonRoot)
				assert.Equal(t, corev1.RestartPolicyNever, jp.RestartPolicy)
				assert.NotNil(t, job.Spec.BackoffLimit)
				assert.NotNil(t, job.Spec.TTLSecondsAfterFinished)
				assert.NotEmpty(t, jc.Resources.Requests)
				assert.NotEqual(t, d.Spec.Selector.MatchLabels["app.kubernetes.io/name"], job.Spec.Template.Labels["app.kubernetes.io/name"],
					"the Job's pod is not a Service endpoint")

				for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
					require.NotNil(t, p)
					probeStatus[p.HTTPGet.Path] = 0
				}
			}
			// Probes point at paths the service's real health handler serves, and the
			// dependency-free ones answer 200 with no backend work.
			for path := range probeStatus {
				assert.Equal(t, http.StatusOK, servedStatus(t, path), "probe path %s", path)
			}
			assert.NotEqual(t, http.StatusNotFound, servedStatus(t, topology.HealthPath), "Traffic Manager's path")
		})
	}
}

// A replacement in progress (tests/testdata/Pulumi.replacement.yaml): zone 1 has v1 (drained,
// weight 1) beside v2. Both versions are fully deployed, Traffic Manager weights and states
// follow the config, and the regional manager keeps the drained stamp drained.
func TestWorkloadStampReplacement(t *testing.T) {
	g := wlRun(t, "dev", wlConfig(t, filepath.Join("testdata", "Pulumi.replacement.yaml")))
	want := map[string]struct {
		weight  float64
		status  string
		drained bool
	}{
		"eastus2-z1-v1": {1, "Disabled", true},
		"eastus2-z1-v2": {999, "Enabled", false},
		"eastus2-z2-v1": {500, "Enabled", false},
	}
	require.Len(t, g.topo.Stamps, len(want))
	for id, w := range want {
		wl := deploy.WorkloadName(id)
		for kind, want := range wlKinds {
			n := 0
			for _, r := range g.rec.Registrations() {
				if r.Type == kind && strings.HasPrefix(r.Name, wl+"-") {
					n++
				}
			}
			assert.Equal(t, want, n, "%s of %s: a drained stamp stays deployed until removed", kind, id)
		}
		ep := g.res(t, id+"-tm-endpoint")
		assert.Equal(t, w.weight, ep.Inputs["weight"], id)
		assert.Equal(t, w.status, ep.Inputs["endpointStatus"], id)
		assert.Equal(t, g.res(t, id+"-pip").ID, ep.Inputs["targetResourceId"], id)
	}
	// The manager's stamp list (regional Functions app settings) marks v1 drained, so the
	// manager deletes its state blob and never writes it back; the others it bootstraps.
	var settings []any
	for _, r := range g.m.ofType("WebApp") {
		settings, _ = get(r.Inputs, "siteConfig", "appSettings").([]any)
	}
	var list []struct {
		ID        string `json:"id"`
		URL       string `json:"url"`
		StateBlob string `json:"stateBlob"`
		Drained   bool   `json:"drained"`
	}
	for _, s := range settings {
		if get(s, "name") == "VOICEMAIL_MANAGER_STAMPS" {
			require.NoError(t, json.Unmarshal([]byte(fmt.Sprint(get(s, "value"))), &list))
		}
	}
	require.Len(t, list, len(want))
	for _, s := range list {
		assert.Equal(t, want[s.ID].drained, s.Drained, s.ID)
		cm := wlDecode(t, g.reg(t, "kubernetes:core/v1:ConfigMap", deploy.WorkloadName(s.ID)+"-config")).(*corev1.ConfigMap)
		assert.Equal(t, s.StateBlob, cm.Data["VOICEMAIL_STATE_BLOB"], "manager and stamp agree on the state blob")
		pip := g.res(t, s.ID+"-pip")
		assert.Contains(t, s.URL, fmt.Sprint(get(pip.Outputs, "dnsSettings", "fqdn")), "manager probes the stamp's own address")
	}
}

// trafficManager.healthWindowSeconds reaches every stamp's service as VOICEMAIL_HEALTH_WINDOW.
func TestWorkloadHealthWindowFromStackConfig(t *testing.T) {
	cfg := wlConfig(t, filepath.Join("..", "Pulumi.dev.yaml"))
	tm := map[string]any{}
	if raw, ok := cfg["voicemail:trafficManager"]; ok {
		require.NoError(t, json.Unmarshal([]byte(raw), &tm))
	}
	tm["healthWindowSeconds"] = 25
	b, err := json.Marshal(tm)
	require.NoError(t, err)
	cfg["voicemail:trafficManager"] = string(b)
	g := wlRun(t, "dev", cfg)
	for _, s := range g.topo.Stamps {
		cm := wlDecode(t, g.reg(t, "kubernetes:core/v1:ConfigMap", deploy.WorkloadName(s.ID)+"-config")).(*corev1.ConfigMap)
		assert.Equal(t, "25s", cm.Data["VOICEMAIL_HEALTH_WINDOW"], s.ID)
	}
}

// The whole graph with the workloads in it passes the guardrail policy rules.
func TestWorkloadGraphPassesPolicy(t *testing.T) {
	for _, st := range []string{"dev", "prod"} {
		t.Run(st, func(t *testing.T) {
			g := wlRun(t, st, wlConfig(t, filepath.Join("..", "Pulumi."+st+".yaml")))
			var rs []rules.Resource
			for _, r := range g.m.sorted() {
				rs = append(rs, rules.Resource{Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: r.Inputs, DependsOn: r.DependsOn})
			}
			require.Positive(t, polCount(rs, rules.TypeRef{Package: "kubernetes", Module: "apps", Name: "Deployment"}))
			vs := rules.Evaluate(rs)
			assert.Empty(t, vs, "violations: %v", vs)
		})
	}
}

// The operator's IMAP balancers from the stack reach every stamp's pods, which then believe
// PROXY headers from them only.
func TestWorkloadTrustsTheIMAPBalancers(t *testing.T) {
	cfg := wlConfig(t, filepath.Join("..", "Pulumi.dev.yaml"))
	cfg["voicemail:network"] = `{"imapProxyRanges":["10.200.0.0/24","10.201.0.7/32"]}`
	g := wlRun(t, "dev", cfg)
	for _, s := range g.topo.Stamps {
		cm := wlDecode(t, g.reg(t, "kubernetes:core/v1:ConfigMap", deploy.WorkloadName(s.ID)+"-config")).(*corev1.ConfigMap)
		assert.Equal(t, "10.200.0.0/24,10.201.0.7/32", cm.Data["VOICEMAIL_IMAP_PROXY_FROM"], s.ID)
	}
	// Without the setting nobody's header is believed.
	g = wlRun(t, "dev", wlConfig(t, filepath.Join("..", "Pulumi.dev.yaml")))
	cm := wlDecode(t, g.reg(t, "kubernetes:core/v1:ConfigMap", deploy.WorkloadName(g.topo.Stamps[0].ID)+"-config")).(*corev1.ConfigMap)
	assert.NotContains(t, cm.Data, "VOICEMAIL_IMAP_PROXY_FROM")
}

// imap.visibilityDelay reaches every stamp's pods through the contract; the default needs no
// line, so a stack that leaves the key out runs the binary's default.
func TestWorkloadIMAPVisibilityDelay(t *testing.T) {
	for _, st := range []string{"dev", "prod"} {
		cfg := wlConfig(t, filepath.Join("..", "Pulumi."+st+".yaml"))
		cfg["voicemail:imap"] = `{"visibilityDelay":"1m30s"}`
		g := wlRun(t, st, cfg)
		require.NotEmpty(t, g.topo.Stamps)
		for _, s := range g.topo.Stamps {
			cm := wlDecode(t, g.reg(t, "kubernetes:core/v1:ConfigMap", deploy.WorkloadName(s.ID)+"-config")).(*corev1.ConfigMap)
			assert.Equal(t, "1m30s", cm.Data[contract.EnvIMAPVisibilityDelay.Name], s.ID)
		}
	}
	g := wlRun(t, "dev", wlConfig(t, filepath.Join("..", "Pulumi.dev.yaml")))
	cm := wlDecode(t, g.reg(t, "kubernetes:core/v1:ConfigMap", deploy.WorkloadName(g.topo.Stamps[0].ID)+"-config")).(*corev1.ConfigMap)
	assert.NotContains(t, cm.Data, contract.EnvIMAPVisibilityDelay.Name)

	// One region may show deposits at once.
	cfg := wlConfig(t, filepath.Join("..", "Pulumi.dev.yaml"))
	cfg["voicemail:imap"] = `{"visibilityDelay":"0s"}`
	g = wlRun(t, "dev", cfg)
	cm = wlDecode(t, g.reg(t, "kubernetes:core/v1:ConfigMap", deploy.WorkloadName(g.topo.Stamps[0].ID)+"-config")).(*corev1.ConfigMap)
	assert.Equal(t, "0s", cm.Data[contract.EnvIMAPVisibilityDelay.Name])
}
