package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/voicemail-platform/voicemail/app/deploy"
	"github.com/voicemail-platform/voicemail/app/deploy/deploytest"
	"github.com/voicemail-platform/voicemail/app/internal/edgetls"
	"github.com/voicemail-platform/voicemail/app/internal/kamailio"

	"github.com/voicemail-platform/voicemail/contract"
)

func TestSIPIngressManifests(t *testing.T) {
	regs := run(t, "weu-1-v1").Registrations()
	decode := func(typ, name string) any {
		obj, err := deploytest.StrictDecode(typ, find(t, regs, typ, name).Inputs)
		require.NoError(t, err)
		return obj
	}

	d := decode("kubernetes:apps/v1:Deployment", "weu-1-v1-app-dispatcher").(*appsv1.Deployment)
	assert.Equal(t, int32(2), *d.Spec.Replicas, "two or more dispatchers")
	assert.Equal(t, 0, d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue())
	pod := d.Spec.Template.Spec
	require.Len(t, pod.Containers, 2)
	assert.Equal(t, "acr.azurecr.io/voicemail-platform/voicemail-sip-dispatcher@"+digest, pod.Containers[0].Image)
	assert.Equal(t, []corev1.Capability{"NET_BIND_SERVICE"}, pod.Containers[0].SecurityContext.Capabilities.Add)
	assert.Contains(t, strings.Join(pod.InitContainers[0].Args, " "), "-host=voicemail-sip.voicemail.svc.cluster.local")

	for _, name := range []string{"weu-1-v1-app-sip-ingress", "weu-1-v1-app-imap-ingress"} {
		svc := decode("kubernetes:core/v1:Service", name).(*corev1.Service)
		assert.Equal(t, "true", svc.Annotations["service.beta.kubernetes.io/azure-load-balancer-internal"], name)
		assert.Equal(t, "10.1.15.250", svc.Annotations["service.beta.kubernetes.io/azure-load-balancer-ipv4"], name)
		assert.Equal(t, "30", svc.Annotations["service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout"], name)
	}
	headless := decode("kubernetes:core/v1:Service", "weu-1-v1-app-sip-headless").(*corev1.Service)
	assert.Equal(t, "None", headless.Spec.ClusterIP)
	assert.True(t, headless.Spec.PublishNotReadyAddresses, "draining pods stay reachable for their dialogs")

	// No shared media address in any ConfigMap; each pod advertises status.podIP.
	for _, r := range regs {
		if r.Type != "kubernetes:core/v1:ConfigMap" {
			continue
		}
		cm := decode(r.Type, r.Name).(*corev1.ConfigMap)
		assert.NotContains(t, cm.Data, "VOICEMAIL_SIP_MEDIA_IP", r.Name)
	}
	vm := decode("kubernetes:apps/v1:Deployment", "weu-1-v1-app-deployment").(*appsv1.Deployment)
	env := map[string]string{}
	for _, e := range vm.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	assert.Equal(t, "status.podIP", env["VOICEMAIL_SIP_MEDIA_IP"])
	assert.Equal(t, "status.podIP", env["VOICEMAIL_SIP_RTP_BIND_IP"])

	// The pod's grace covers the SIP drain, which is the service's own default.
	cfg := decode("kubernetes:core/v1:ConfigMap", "weu-1-v1-app-config").(*corev1.ConfigMap)
	drain, err := time.ParseDuration(cfg.Data["VOICEMAIL_SIP_DRAIN_TIMEOUT"])
	require.NoError(t, err)
	assert.Equal(t, contract.DefaultDrainTimeout(deploy.MaxDepositSeconds, deploy.MaxGreetingSeconds), drain)
	assert.GreaterOrEqual(t, *vm.Spec.Template.Spec.TerminationGracePeriodSeconds, int64(deploy.PreStopSeconds+deploy.SIPDrainSeconds))
}

// The dispatcher's generated configuration passes Kamailio's own check.
func TestDispatcherConfigPassesKamailioCheck(t *testing.T) {
	a := testArgs("weu-1-v1")
	a.IdleTimeoutMinutes = 30
	text, err := deploy.DispatcherConfig(*a)
	require.NoError(t, err)
	assert.Contains(t, text, "advertise 10.1.15.250:5060")
	assert.Contains(t, text, `is_in_subnet("$si", "192.0.2.0/28")`, "only the SBCs start dialogs and assert identities")
	dir := t.TempDir()
	list := filepath.Join(dir, "dispatcher.list")
	text = strings.ReplaceAll(text, "/run/kamailio/dispatcher.list", list)
	require.NoError(t, os.WriteFile(list, []byte(kamailio.Config{}.List()), 0o644))
	path := filepath.Join(dir, "kamailio.cfg")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	out, err := exec.CommandContext(context.Background(), kamailio.Binary, "-c", "-f", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// With the edge certificate the dispatcher terminates SIP over TLS: the internal load balancer
// carries 5061, the dispatcher mounts the Key Vault certificate (as its own service account,
// whose identity alone the CSI driver uses), and kamailio.cfg with its tls.cfg passes Kamailio's
// check against a real certificate at the mounted path.
func TestDispatcherTLSFromKeyVault(t *testing.T) {
	rec := &deploytest.Recorder{Inner: echoMocks{}, Project: "voicemail", Stack: "dev"}
	a := testArgs("s1")
	a.KeyVaultName = pulumi.String("kv-weu")
	a.TenantID = pulumi.String("tenant-1")
	a.DispatcherClientID = pulumi.String("sip-client-s1")
	a.IdleTimeoutMinutes = 30
	require.NoError(t, pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := deploy.NewWorkload(ctx, "s1-app", a)
		return err
	}, pulumi.WithMocks("voicemail", "dev", rec)))
	regs := rec.Registrations()
	decode := func(typ, name string) any {
		obj, err := deploytest.StrictDecode(typ, find(t, regs, typ, name).Inputs)
		require.NoError(t, err)
		return obj
	}
	svc := decode("kubernetes:core/v1:Service", "s1-app-sip-ingress").(*corev1.Service)
	var tlsPort bool
	for _, p := range svc.Spec.Ports {
		tlsPort = tlsPort || (p.Port == deploy.SIPTLSPort && p.TargetPort.StrVal == "sip-tls")
	}
	assert.True(t, tlsPort, "SIP over TLS on the internal load balancer")
	d := decode("kubernetes:apps/v1:Deployment", "s1-app-dispatcher").(*appsv1.Deployment)
	pod := d.Spec.Template.Spec
	// Its own identity: a service account federated with the dispatcher's identity alone, and
	// a secret provider that reads only the edge certificate with it.
	assert.Equal(t, contract.DispatcherServiceAccount, pod.ServiceAccountName)
	sa := decode("kubernetes:core/v1:ServiceAccount", "s1-app-dispatcher-sa").(*corev1.ServiceAccount)
	assert.Equal(t, "sip-client-s1", sa.Annotations["azure.workload.identity/client-id"])
	var provider string
	for _, v := range pod.Volumes {
		if v.CSI != nil && v.CSI.Driver == "secrets-store.csi.k8s.io" {
			provider = v.CSI.VolumeAttributes["secretProviderClass"]
		}
	}
	spc, err := deploytest.Plain(find(t, regs, "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass", "s1-app-dispatcher-secretprovider").Inputs)
	require.NoError(t, err)
	assert.Equal(t, provider, spc["metadata"].(map[string]any)["name"], "the dispatcher mounts its own secret provider")
	params := spc["spec"].(map[string]any)["parameters"].(map[string]any)
	assert.Equal(t, "sip-client-s1", params["clientID"])
	assert.Contains(t, params["objects"], "objectName: "+contract.EdgeCertificate)
	assert.NotContains(t, params["objects"], contract.OperatorTokenSecret, "the dispatcher has no use for the operator token")
	// The sidecar reports the certificate Kamailio serves, for the expiry alert.
	require.Len(t, pod.Containers, 2)
	assert.Contains(t, pod.Containers[1].Args, "-cert="+deploy.EdgeCertFile)
	var sidecarMount bool
	for _, m := range pod.Containers[1].VolumeMounts {
		sidecarMount = sidecarMount || m.MountPath+"/"+contract.EdgeCertificate == deploy.EdgeCertFile
	}
	assert.True(t, sidecarMount, "the sidecar sees the mounted certificate")
	cm := decode("kubernetes:core/v1:ConfigMap", "s1-app-dispatcher-config").(*corev1.ConfigMap)
	require.Contains(t, cm.Data, "tls.cfg")

	// kamailio -c with the files at temporary paths.
	dir := t.TempDir()
	cert, err := edgetls.WriteSelfSigned(dir, "s1", time.Hour)
	require.NoError(t, err)
	pem := append(must(os.ReadFile(cert.KeyFile)), must(os.ReadFile(cert.CertFile))...)
	edge := filepath.Join(dir, "edge-tls")
	require.NoError(t, os.WriteFile(edge, pem, 0o600))
	list := filepath.Join(dir, "dispatcher.list")
	require.NoError(t, os.WriteFile(list, []byte(kamailio.Config{}.List()), 0o644))
	tlsCfg := strings.ReplaceAll(cm.Data["tls.cfg"], deploy.EdgeCertFile, edge)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.cfg"), []byte(tlsCfg), 0o644))
	text := strings.ReplaceAll(cm.Data["kamailio.cfg"], "/run/kamailio/dispatcher.list", list)
	text = strings.ReplaceAll(text, "/etc/kamailio/tls.cfg", filepath.Join(dir, "tls.cfg"))
	assert.Contains(t, text, "listen=tls:0.0.0.0:5061 advertise 10.1.15.250:5061")
	path := filepath.Join(dir, "kamailio.cfg")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	out, err := exec.CommandContext(context.Background(), kamailio.Binary, "-c", "-f", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
