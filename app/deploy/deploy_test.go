package deploy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/voicemail-platform/voicemail/app/deploy"
	"github.com/voicemail-platform/voicemail/app/deploy/deploytest"
	"github.com/voicemail-platform/voicemail/contract"
)

type echoMocks struct{}

func (echoMocks) NewResource(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return a.Name + "-id", a.Inputs, nil
}
func (echoMocks) Call(a pulumi.MockCallArgs) (resource.PropertyMap, error) { return a.Args, nil }

type stampComponent struct{ pulumi.ResourceState }

const (
	digest      = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	configImage = "ghcr.io/voicemail-platform/voicemail@" + digest
)

func testArgs(stamp string) *deploy.Args {
	return &deploy.Args{
		Stamp: stamp, Region: "westeurope", Zone: "1", Version: "v1",
		Kubeconfig:            pulumi.String(deploytest.AKSKubeconfig("aks-" + stamp)),
		AppClientID:           pulumi.String("client-" + stamp),
		RegistryLoginServer:   pulumi.String("acr.azurecr.io"),
		Image:                 configImage,
		PublicIPName:          pulumi.String("pip-" + stamp),
		PublicIPResourceGroup: pulumi.String("rg-" + stamp),
		PublicIPAddress:       pulumi.String("20.0.0.1"),
		Env:                   map[string]pulumi.StringInput{contract.EnvTableEndpoint.Name: pulumi.String("https://cosmos.table.cosmos.azure.com")},
		Replicas:              3,
		DispatcherImage:       "ghcr.io/voicemail-platform/voicemail-sip-dispatcher@" + digest,
		SIPDispatcherIP:       "10.1.15.250",
		SBCPrefixes:           []string{"192.0.2.0/28"},
		NodeSubnetName:        "snet-aks",
	}
}

func run(t *testing.T, stamps ...string) *deploytest.Recorder {
	t.Helper()
	rec := &deploytest.Recorder{Inner: echoMocks{}, Project: "voicemail", Stack: "dev"}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		for _, s := range stamps {
			st := &stampComponent{}
			if err := ctx.RegisterComponentResource("voicemail:stamp:Stamp", s, st); err != nil {
				return err
			}
			if _, err := deploy.NewWorkload(ctx, s+"-app", testArgs(s), pulumi.Parent(st)); err != nil {
				return err
			}
		}
		return nil
	}, pulumi.WithMocks("voicemail", "dev", rec))
	require.NoError(t, err)
	return rec
}

func TestWorkloadObjectsPerStamp(t *testing.T) {
	rec := run(t, "weu-1-v1", "weu-2-v1")
	regs := rec.Registrations()
	// How many of each kind a stamp has: the service's objects, plus the SIP ingress (the
	// dispatcher's service account, ConfigMap, Deployment and budget; the headless Service and the two internal
	// load balancer Services).
	kinds := map[string]int{
		"kubernetes:core/v1:Namespace": 1, "kubernetes:core/v1:ServiceAccount": 2, "kubernetes:core/v1:ConfigMap": 2,
		"kubernetes:apps/v1:Deployment": 2, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": 1,
		"kubernetes:policy/v1:PodDisruptionBudget": 2, "kubernetes:networking.k8s.io/v1:NetworkPolicy": 1, "kubernetes:core/v1:Service": 4,
		"kubernetes:batch/v1:Job": 1,
	}
	for _, stamp := range []string{"weu-1-v1", "weu-2-v1"} {
		var prov string
		for _, r := range regs {
			if r.Type == "pulumi:providers:kubernetes" && r.Name == stamp+"-app-k8s" {
				prov = r.Name
				// The provider's kubeconfig is AKS's, switched from devicecode to azurecli.
				kc := r.Inputs["kubeconfig"]
				require.True(t, kc.IsSecret() || kc.IsString() || kc.IsOutput(), kc.TypeString())
			}
		}
		require.NotEmpty(t, prov, "stamp %s has no Kubernetes provider", stamp)
		for kind, n := range kinds {
			var found []deploytest.Registration
			for _, r := range regs {
				if r.Type == kind && strings.HasPrefix(r.Name, stamp+"-") {
					found = append(found, r)
				}
			}
			require.Len(t, found, n, "%s in stamp %s", kind, stamp)
			for _, r := range found {
				assert.Contains(t, r.Provider, "::"+prov+"::", "%s uses its stamp's provider", r.Name)
				assert.Equal(t, stamp+"-app", deploytest.URNName(r.Parent), "%s parent", r.Name)
				assert.Equal(t, deploy.Type, deploytest.URNType(r.Parent))
				anc := rec.Ancestors(r)
				require.GreaterOrEqual(t, len(anc), 2)
				assert.Equal(t, stamp, deploytest.URNName(anc[1]), "%s belongs to its stamp", r.Name)
				_, err := deploytest.StrictDecode(r.Type, r.Inputs)
				assert.NoError(t, err)
			}
		}
	}
}

func find(t *testing.T, regs []deploytest.Registration, typ, name string) deploytest.Registration {
	t.Helper()
	for _, r := range regs {
		if r.Type == typ && r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s %s", typ, name)
	return deploytest.Registration{}
}

func TestWorkloadManifests(t *testing.T) {
	regs := run(t, "weu-1-v1").Registrations()

	obj, err := deploytest.StrictDecode("kubernetes:apps/v1:Deployment", find(t, regs, "kubernetes:apps/v1:Deployment", "weu-1-v1-app-deployment").Inputs)
	require.NoError(t, err)
	d := obj.(*appsv1.Deployment)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	assert.Equal(t, "acr.azurecr.io/voicemail-platform/voicemail@"+digest, c.Image)
	assert.Nil(t, d.Spec.Replicas, "the HPA owns the count: a replicas field would reset the scale on every change")
	assert.Equal(t, "true", d.Spec.Template.Labels["azure.workload.identity/use"])
	assert.Equal(t, "voicemail", pod.ServiceAccountName)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.Equal(t, int64(deploy.TerminationGraceSecond), *pod.TerminationGracePeriodSeconds)
	assert.Greater(t, *pod.TerminationGracePeriodSeconds, int64(deploy.MaxDepositSeconds+deploy.PreStopSeconds))
	assert.Equal(t, int64(deploy.PreStopSeconds), c.Lifecycle.PreStop.Sleep.Seconds)
	assert.Equal(t, contract.ReadinessPath, c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, contract.LivenessPath, c.LivenessProbe.HTTPGet.Path)
	assert.NotNil(t, c.StartupProbe)
	require.Len(t, pod.TopologySpreadConstraints, 1)
	assert.Equal(t, "kubernetes.io/hostname", pod.TopologySpreadConstraints[0].TopologyKey)
	// Every named probe port exists on the container.
	names := map[string]bool{}
	for _, p := range c.Ports {
		names[p.Name] = true
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		assert.True(t, names[p.HTTPGet.Port.StrVal], p.HTTPGet.Port.StrVal)
	}

	obj, err = deploytest.StrictDecode("kubernetes:core/v1:Service", find(t, regs, "kubernetes:core/v1:Service", "weu-1-v1-app-service").Inputs)
	require.NoError(t, err)
	svc := obj.(*corev1.Service)
	assert.Equal(t, corev1.ServiceTypeLoadBalancer, svc.Spec.Type)
	assert.Equal(t, "pip-weu-1-v1", svc.Annotations["service.beta.kubernetes.io/azure-pip-name"])
	protos := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		protos[string(p.Protocol)+"/"+p.TargetPort.String()] = true
	}
	assert.Equal(t, map[string]bool{"TCP/http": true, "TCP/imap": true}, protos,
		"the public Service carries HTTP and IMAP only: SIP enters through the internal dispatcher, RTP goes to each pod")

	obj, err = deploytest.StrictDecode("kubernetes:core/v1:ServiceAccount", find(t, regs, "kubernetes:core/v1:ServiceAccount", "weu-1-v1-app-sa").Inputs)
	require.NoError(t, err)
	sa := obj.(*corev1.ServiceAccount)
	assert.Equal(t, "client-weu-1-v1", sa.Annotations["azure.workload.identity/client-id"])
	assert.Equal(t, "true", sa.Labels["azure.workload.identity/use"])

	obj, err = deploytest.StrictDecode("kubernetes:core/v1:ConfigMap", find(t, regs, "kubernetes:core/v1:ConfigMap", "weu-1-v1-app-config").Inputs)
	require.NoError(t, err)
	cm := obj.(*corev1.ConfigMap)
	assert.Equal(t, "weu-1-v1", cm.Data["VOICEMAIL_STAMP"])
	assert.Equal(t, "https://cosmos.table.cosmos.azure.com", cm.Data["VOICEMAIL_TABLE_ENDPOINT"])

	// The provider's kubeconfig is AKS's, switched from devicecode to a non-interactive login.
	prov := find(t, regs, "pulumi:providers:kubernetes", "weu-1-v1-app-k8s")
	plain, err := deploytest.Plain(prov.Inputs)
	require.NoError(t, err)
	kc, _ := plain["kubeconfig"].(string)
	assert.Contains(t, kc, "azurecli")
	assert.NotContains(t, kc, "devicecode")
	assert.Contains(t, kc, "aks-weu-1-v1-dns.hcp")
}

func TestImageFromRegistry(t *testing.T) {
	got, err := deploy.ImageFromRegistry("acr.azurecr.io", "ghcr.io/voicemail-platform/voicemail:1.2.3@"+digest)
	require.NoError(t, err)
	assert.Equal(t, "acr.azurecr.io/voicemail-platform/voicemail@"+digest, got)
	for _, bad := range []string{"ghcr.io/voicemail-platform/voicemail:1.2.3", "voicemail@" + digest, "ghcr.io/x@sha256:abc"} {
		_, err := deploy.ImageFromRegistry("acr.azurecr.io", bad)
		assert.Error(t, err, bad)
	}
}

func TestKubeconfigForPulumi(t *testing.T) {
	out, err := deploy.KubeconfigForPulumi(deploytest.AKSKubeconfig("aks1"), "azurecli")
	require.NoError(t, err)
	var doc struct {
		Users []struct {
			User struct {
				Exec struct {
					Command string   `yaml:"command"`
					Args    []string `yaml:"args"`
				} `yaml:"exec"`
			} `yaml:"user"`
		} `yaml:"users"`
		Clusters []map[string]any `yaml:"clusters"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(out), &doc))
	require.Len(t, doc.Users, 1)
	assert.Equal(t, "kubelogin", doc.Users[0].User.Exec.Command)
	assert.Equal(t, []string{"get-token", "--environment", "AzurePublicCloud", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630",
		"--tenant-id", "00000000-0000-0000-0000-000000000001", "--login", "azurecli"}, doc.Users[0].User.Exec.Args)
	assert.Len(t, doc.Clusters, 1)

	bad := []struct{ name, kc, mode string }{
		{"mode", deploytest.AKSKubeconfig("aks1"), "devicecode"},
		{"not yaml", "users: [", "azurecli"},
		{"no exec user", "users:\n- name: u\n  user:\n    token: abc\n", "azurecli"},
		{"no users", "clusters: []\n", "azurecli"},
		{"not kubelogin", "users:\n- name: u\n  user:\n    exec:\n      command: az\n      args: [get-token]\n", "azurecli"},
	}
	for _, b := range bad {
		_, err := deploy.KubeconfigForPulumi(b.kc, b.mode)
		assert.Error(t, err, b.name)
	}
}

func TestArgsValidate(t *testing.T) {
	cases := map[string]func(a *deploy.Args){
		"image by tag":         func(a *deploy.Args) { a.Image = "ghcr.io/voicemail-platform/voicemail:dev" },
		"no registry":          func(a *deploy.Args) { a.Image = "voicemail@" + digest },
		"one replica":          func(a *deploy.Args) { a.Replicas = 1 },
		"max below min":        func(a *deploy.Args) { a.MaxReplicas = 2 },
		"odd rtp start":        func(a *deploy.Args) { a.RTPPortMin, a.RTPPortMax = 10001, 10010 },
		"no kubeconfig":        func(a *deploy.Args) { a.Kubeconfig = nil },
		"login mode":           func(a *deploy.Args) { a.KubeloginMode = "devicecode" },
		"vault without tenant": func(a *deploy.Args) { a.KeyVaultName = pulumi.String("kv") },
		"vault without dispatcher identity": func(a *deploy.Args) {
			a.KeyVaultName, a.TenantID = pulumi.String("kv"), pulumi.String("tenant-1")
		},
		"no SBCs": func(a *deploy.Args) { a.SBCPrefixes = nil },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			a := testArgs("s1")
			mut(a)
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := deploy.NewWorkload(ctx, "s1-app", a)
				return err
			}, pulumi.WithMocks("voicemail", "dev", &deploytest.Recorder{Inner: echoMocks{}}))
			assert.ErrorContains(t, err, "s1")
		})
	}
}

func TestStrictDecodeRejects(t *testing.T) {
	good := resource.NewPropertyMapFromMap(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "x"}, "data": map[string]any{"A": "b"},
	})
	_, err := deploytest.StrictDecode("kubernetes:core/v1:ConfigMap", good)
	require.NoError(t, err)
	for name, pm := range map[string]map[string]any{
		"unknown field": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x", "lables": map[string]any{}}},
		"wrong type":    {"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"A": 1}},
		"wrong kind":    {"apiVersion": "v1", "kind": "Secret"},
	} {
		_, err := deploytest.StrictDecode("kubernetes:core/v1:ConfigMap", resource.NewPropertyMapFromMap(pm))
		assert.Error(t, err, name)
	}
}

// keyVaultWorkload builds stamp s1's workload with a Key Vault (as every Azure stamp has) and
// returns its registrations and its secret provider's parameters.
func keyVaultWorkload(t *testing.T) ([]deploytest.Registration, map[string]any) {
	t.Helper()
	rec := &deploytest.Recorder{Inner: echoMocks{}, Project: "voicemail", Stack: "dev"}
	require.NoError(t, pulumi.RunErr(func(ctx *pulumi.Context) error {
		a := testArgs("s1")
		a.KeyVaultName = pulumi.String("kv-weu")
		a.TenantID = pulumi.String("tenant-1")
		a.DispatcherClientID = pulumi.String("sip-client-s1")
		_, err := deploy.NewWorkload(ctx, "s1-app", a)
		return err
	}, pulumi.WithMocks("voicemail", "dev", rec)))
	regs := rec.Registrations()
	spc, err := deploytest.Plain(find(t, regs, "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass", "s1-app-secretprovider").Inputs)
	require.NoError(t, err)
	params, _ := spc["spec"].(map[string]any)["parameters"].(map[string]any)
	return regs, params
}

func TestWorkloadOperatorTokenFromKeyVault(t *testing.T) {
	regs, params := keyVaultWorkload(t)
	assert.Equal(t, "kv-weu", params["keyvaultName"])
	assert.Equal(t, "client-s1", params["clientID"])
	assert.Equal(t, "tenant-1", params["tenantId"])
	assert.Contains(t, params["objects"], "objectName: "+contract.OperatorTokenSecret)

	obj, err := deploytest.StrictDecode("kubernetes:apps/v1:Deployment", find(t, regs, "kubernetes:apps/v1:Deployment", "s1-app-deployment").Inputs)
	require.NoError(t, err)
	pod := obj.(*appsv1.Deployment).Spec.Template.Spec
	env := pod.Containers[0].Env
	require.Len(t, env, 3, "the pod's own address twice, and the token")
	assert.Equal(t, "VOICEMAIL_OPERATOR_TOKEN", env[2].Name)
	assert.Equal(t, contract.OperatorTokenSecret, env[2].ValueFrom.SecretKeyRef.Key)
	var csi bool
	for _, v := range pod.Volumes {
		csi = csi || (v.CSI != nil && v.CSI.Driver == "secrets-store.csi.k8s.io")
	}
	assert.True(t, csi, "the CSI volume is what syncs the secret")
}

// The probe paths are the ones the service's real health handler serves.
func TestProbePathsAreServed(t *testing.T) {
	for _, p := range []string{contract.ReadinessPath, contract.LivenessPath} {
		code, err := deploytest.ServedStatus(t.TempDir(), p)
		require.NoError(t, err)
		assert.Equal(t, 200, code, p)
	}
	code, err := deploytest.ServedStatus(t.TempDir(), contract.StampHealthPath)
	require.NoError(t, err)
	assert.NotEqual(t, 404, code)
}

// The state-init Job runs the Deployment's image as the Deployment's service account, with
// the Deployment's ConfigMap and security settings, in the init-state mode; its pod is not
// one of the Service's endpoints.
func TestStateInitJob(t *testing.T) {
	regs := run(t, "weu-1-v1").Registrations()
	reg := find(t, regs, "kubernetes:batch/v1:Job", "weu-1-v1-app-state-init")
	// Created once: a new image on a later `pulumi up` must not replace (re-run) it.
	assert.Equal(t, []string{"spec"}, reg.IgnoreChanges)
	obj, err := deploytest.StrictDecode("kubernetes:batch/v1:Job", reg.Inputs)
	require.NoError(t, err)
	job := obj.(*batchv1.Job)
	obj, err = deploytest.StrictDecode("kubernetes:apps/v1:Deployment", find(t, regs, "kubernetes:apps/v1:Deployment", "weu-1-v1-app-deployment").Inputs)
	require.NoError(t, err)
	dep := obj.(*appsv1.Deployment)

	assert.Equal(t, deploy.StateInitName, job.Name)
	assert.Equal(t, dep.Namespace, job.Namespace)
	js, dp := job.Spec.Template.Spec, dep.Spec.Template.Spec
	require.Len(t, js.Containers, 1)
	jc, dc := js.Containers[0], dp.Containers[0]
	assert.Equal(t, dc.Image, jc.Image)
	assert.Equal(t, []string{contract.InitStateArg}, jc.Args)
	assert.Empty(t, jc.Command, "the image's entrypoint is the voicemail binary")
	assert.Equal(t, dc.EnvFrom, jc.EnvFrom)
	assert.Equal(t, dp.ServiceAccountName, js.ServiceAccountName)
	assert.Equal(t, "true", job.Spec.Template.Labels["azure.workload.identity/use"])
	assert.Equal(t, dp.SecurityContext, js.SecurityContext)
	assert.Equal(t, dc.SecurityContext, jc.SecurityContext)
	assert.Equal(t, corev1.RestartPolicyNever, js.RestartPolicy)
	assert.NotEmpty(t, jc.Resources.Requests)
	assert.NotEmpty(t, jc.Resources.Limits.Memory())
	assert.Equal(t, int32(deploy.StateInitBackoffLimit), *job.Spec.BackoffLimit)
	assert.Equal(t, int32(deploy.StateInitTTLSeconds), *job.Spec.TTLSecondsAfterFinished)
	assert.NotNil(t, job.Spec.ActiveDeadlineSeconds)
	for k, v := range dep.Spec.Selector.MatchLabels {
		assert.NotEqual(t, v, job.Spec.Template.Labels[k], "the Job's pod must not match the Deployment's selector (Service, PDB)")
	}
}

// With a Key Vault (every Azure stamp) the edge speaks TLS: the pods read the edge certificate
// from the CSI mount, the kubelet probes over HTTPS, the public Service offers 443, 143 and 993
// and no plain HTTP, and /metrics is on a port that no Service carries and only kube-system
// may reach.
func TestWorkloadEdgeTLSFromKeyVault(t *testing.T) {
	regs, params := keyVaultWorkload(t)
	assert.Contains(t, params["objects"], "objectName: "+contract.EdgeCertificate+"\n    objectType: secret",
		"objectType secret: the key with the whole chain")

	obj, err := deploytest.StrictDecode("kubernetes:core/v1:ConfigMap", find(t, regs, "kubernetes:core/v1:ConfigMap", "s1-app-config").Inputs)
	require.NoError(t, err)
	cm := obj.(*corev1.ConfigMap).Data
	assert.Equal(t, deploy.EdgeCertFile, cm[contract.EnvTLSCert.Name])
	assert.Equal(t, deploy.EdgeCertFile, cm[contract.EnvTLSKey.Name])
	assert.Equal(t, fmt.Sprintf(":%d", deploy.IMAPSPort), cm[contract.EnvIMAPSAddr.Name])
	assert.Equal(t, fmt.Sprintf(":%d", deploy.MetricsPort), cm[contract.EnvMetricsAddr.Name])
	loaded, err := contract.LoadStamp(func(k string) string {
		if k == contract.EnvTableEndpoint.Name { // the test's storage is incomplete
			return ""
		}
		return cm[k]
	})
	require.NoError(t, err, "the ConfigMap loads")
	assert.True(t, loaded.TLS.Enabled())

	obj, err = deploytest.StrictDecode("kubernetes:apps/v1:Deployment", find(t, regs, "kubernetes:apps/v1:Deployment", "s1-app-deployment").Inputs)
	require.NoError(t, err)
	pod := obj.(*appsv1.Deployment).Spec.Template.Spec
	c := pod.Containers[0]
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		assert.Equal(t, corev1.URISchemeHTTPS, p.HTTPGet.Scheme)
		assert.Equal(t, "https", p.HTTPGet.Port.StrVal)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || strings.HasPrefix(deploy.EdgeCertFile, m.MountPath+"/")
	}
	assert.True(t, mounted, "the certificate's directory is mounted")

	obj, err = deploytest.StrictDecode("kubernetes:core/v1:Service", find(t, regs, "kubernetes:core/v1:Service", "s1-app-service").Inputs)
	require.NoError(t, err)
	ports := map[int32]string{}
	for _, p := range obj.(*corev1.Service).Spec.Ports {
		ports[p.Port] = p.TargetPort.StrVal
	}
	assert.Equal(t, map[int32]string{443: "https", 143: "imap", 993: "imaps"}, ports, "no plain HTTP and no metrics on the public Service")

	obj, err = deploytest.StrictDecode("kubernetes:networking.k8s.io/v1:NetworkPolicy", find(t, regs, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "s1-app-netpol").Inputs)
	require.NoError(t, err)
	for _, rule := range obj.(*networkingv1.NetworkPolicy).Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port.IntVal == deploy.MetricsPort {
				require.Len(t, rule.From, 1, "metrics only from the cluster's scraper")
				assert.Equal(t, "kube-system", rule.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
			}
		}
	}
}
