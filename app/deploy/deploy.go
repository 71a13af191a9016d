// Package deploy is the Pulumi component that runs the voicemail container in one stamp's AKS
// cluster: a Kubernetes provider built from the cluster's Entra ID (kubelogin) credentials,
// and the namespace, service account (workload identity), ConfigMap, Deployment, HPA,
// PodDisruptionBudget, NetworkPolicy, LoadBalancer Service and state-init Job. The Service
// binds the stamp's own public IP, which is what the stamp's Traffic Manager endpoint targets. The stamp
// component grants the kubelet identity AcrPull on the registry and the cluster identity
// Network Contributor on the public IP's resource group; this component only consumes them.
//
// A new stamp starts healthy: the state-init Job (StateInitName) runs `voicemail init-state`
// once, with the pods' image, ConfigMap and service account, and creates the stamp's state
// blob only if it does not exist (If-None-Match: *). The program cannot create the blob itself:
// azure-native's storage:Blob writes with the account key (https://github.com/pulumi/pulumi-azure-native/issues/2015) and
// the regional storage accounts have shared keys off. The Job's spec is ignored after creation,
// so it does not run again on later `pulumi up`s (a new image would otherwise replace it), and
// the binary records the initialisation, so a re-created Job still never undoes a drain.
package deploy

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/contract"
)

// Type is the component's Pulumi type token.
const Type = "voicemail:app:Workload"

// Container ports. IMAP listens above 1024 because the container is not root; the Service
// maps the standard port onto it.
const (
	HTTPPort        = 8080
	SIPPort         = 5060
	IMAPPort        = 1143
	ServiceHTTPPort = 80
	ServiceIMAPPort = 143
)

// Pod timing. Kubernetes counts terminationGracePeriodSeconds from the start of preStop: the
// preStop delay (the load balancer and endpoints stop sending new work), then the service's
// own shutdown grace, which must cover the longest deposit (a SIP recording of the longest
// message the platform offers, then its upload), then a margin before SIGKILL.
const (
	PreStopSeconds       = 10
	MaxDepositSeconds    = 300 // longest recording offered to mailboxes (5 min)
	DepositUploadSeconds = 30
	ShutdownGraceSeconds = MaxDepositSeconds + DepositUploadSeconds
	// The pod's grace covers the longer of the HTTP shutdown and the SIP drain (a call
	// answered just before SIGTERM: greeting, message, storing).
	TerminationGraceSecond = PreStopSeconds + max(ShutdownGraceSeconds, SIPDrainSeconds) + 5
)

// StateInitName is the state-init Job's name (also its pods' app.kubernetes.io/name); the Job
// runs the binary in its contract.InitStateArg mode.
const StateInitName = "state-init"

// Names of the Key Vault plumbing in the namespace.
const (
	secretProviderClass = "voicemail-keyvault"
	// dispatcherSecretProvider mounts the edge certificate alone, read with the dispatcher's
	// own identity.
	dispatcherSecretProvider = "sip-dispatcher-keyvault"
	syncedSecret             = "voicemail-secrets"
)

// Args is what the component needs from its stamp, region and the stack config. Inputs are
// Pulumi inputs so the component does not care which layer produced them.
type Args struct {
	// Plain identifiers.
	Stamp   string // stamp id, e.g. "weu-1-v1"
	Region  string // Azure region, e.g. "westeurope"
	Zone    string
	Version string

	// Names in the cluster; empty takes contract.Namespace / contract.ServiceAccount. They
	// must equal the subject of the app identity's federated credential.
	Namespace      string
	ServiceAccount string

	// Kubeconfig is the cluster's Entra ID user kubeconfig in exec (kubelogin) format, as
	// listClusterUserCredential?format=exec returns it, decoded (stamp.UserKubeconfig).
	Kubeconfig pulumi.StringInput
	// KubeloginMode is how `pulumi up` gets its token: azurecli (default), workloadidentity, msi, spn.
	KubeloginMode string

	// AppClientID is the user-assigned identity the pods run as (workload identity).
	AppClientID pulumi.StringInput
	// DispatcherClientID is the SIP dispatcher's own identity, federated with
	// contract.DispatcherServiceAccount; required with KeyVaultName (the CSI driver reads the
	// edge certificate with it). The dispatcher never runs as the app.
	DispatcherClientID pulumi.StringInput
	TenantID           pulumi.StringPtrInput // optional; the webhook defaults to the cluster's tenant

	// KeyVaultName (optional) is the regional Key Vault holding contract.OperatorTokenSecret.
	// When set, a SecretProviderClass (AKS Key Vault secrets provider, read with the workload
	// identity) syncs it into the Secret the pods read the operator token from; the service
	// refuses to start on Azure storage without it.
	KeyVaultName pulumi.StringInput

	// Image is the stack config's image, "registry/repository@sha256:<digest>". The pods pull
	// repository@digest from RegistryLoginServer, the geo-replicated registry whose replica
	// in this region serves the pull.
	RegistryLoginServer pulumi.StringInput
	Image               string

	// The stamp's public IP, created by the stamp component and targeted by Traffic Manager.
	PublicIPName          pulumi.StringInput
	PublicIPResourceGroup pulumi.StringInput
	PublicIPAddress       pulumi.StringInput // the public Service's address (HTTP, IMAP)

	// SIP ingress: the dispatcher image and replicas, the internal load balancer's fixed
	// address in the node subnet (named NodeSubnetName) and its TCP idle timeout.
	DispatcherImage    string
	DispatcherReplicas int
	SIPDispatcherIP    string
	NodeSubnetName     string
	IdleTimeoutMinutes int
	// SBCPrefixes (CIDR prefixes, at least one) are the operator's SBCs: the only sources
	// the dispatcher lets start a dialog or assert an identity (the pods believe the
	// dispatcher, so it must not pass on anyone else's).
	SBCPrefixes []string

	// Service is the stamp binary's configuration (contract.DefaultStamp when nil). The
	// component sets what it decides itself (listen addresses matching the container ports,
	// region, stamp, RTP ports, shutdown timing) and writes the rest as Service.Environ().
	Service *contract.Stamp
	// Env adds settings only known at deployment (endpoints, names of created resources),
	// keyed by contract variable names; they override Service.
	Env map[string]pulumi.StringInput

	// Dependencies must exist before the first Kubernetes object is created (the deployer's
	// Kubernetes role on the cluster, the node pool, the Key Vault secret the pods mount).
	Dependencies []pulumi.Resource

	// Capacity.
	Replicas    int // steady-state replicas (HPA minimum), from the region's capacity
	MaxReplicas int // HPA maximum
	// RequestsPerSecond is the HPA's per-pod target for voicemail_http_requests_per_second.
	RequestsPerSecond int
	// RTPPortMin..RTPPortMax (even ports carry RTP) are published on the Service.
	RTPPortMin, RTPPortMax int
}

// Defaults for Args.
const (
	DefaultKubeloginMode     = "azurecli"
	DefaultRequestsPerSecond = 50
	DefaultRTPPortMin        = 10000
	DefaultRTPPortMax        = 10039
)

// imageRef splits "registry/repository@sha256:<64 hex>" into repository and digest.
// A tag beside the digest is allowed and ignored: the digest decides.
var imageRef = regexp.MustCompile(`^[a-z0-9.-]+(?::[0-9]+)?/([a-z0-9]+(?:[._/-][a-z0-9]+)*)(?::[A-Za-z0-9._-]{1,128})?@(sha256:[0-9a-f]{64})$`)

// ImageFromRegistry is the image the pods run: the config's repository and digest, pulled
// from the stack's registry instead of the one the image was published to (it is imported
// with `az acr import`, see internal/stack/README.md, "Operating stamps").
func ImageFromRegistry(loginServer, configImage string) (string, error) {
	m := imageRef.FindStringSubmatch(configImage)
	if m == nil {
		return "", fmt.Errorf("image %q must be registry/repository@sha256:<64 hex>: stamps run an image pinned by digest", configImage)
	}
	return loginServer + "/" + m[1] + "@" + m[2], nil
}

func (a *Args) withDefaults() Args {
	c := *a
	if c.Namespace == "" {
		c.Namespace = contract.Namespace
	}
	if c.ServiceAccount == "" {
		c.ServiceAccount = contract.ServiceAccount
	}
	if c.KubeloginMode == "" {
		c.KubeloginMode = DefaultKubeloginMode
	}
	if c.RequestsPerSecond == 0 {
		c.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if c.RTPPortMin == 0 && c.RTPPortMax == 0 {
		c.RTPPortMin, c.RTPPortMax = DefaultRTPPortMin, DefaultRTPPortMax
	}
	if c.MaxReplicas == 0 {
		c.MaxReplicas = 3 * c.Replicas
	}
	if c.Service == nil {
		d := contract.DefaultStamp()
		c.Service = &d
	}
	if c.DispatcherReplicas == 0 {
		c.DispatcherReplicas = 2
	}
	if c.IdleTimeoutMinutes == 0 {
		c.IdleTimeoutMinutes = 30
	}
	return c
}

// Validate checks the plain parts of Args, naming the field.
func (a Args) Validate() error {
	switch {
	case a.Stamp == "":
		return fmt.Errorf("deploy: Args.Stamp is empty")
	case a.Region == "":
		return fmt.Errorf("deploy %s: Args.Region is empty", a.Stamp)
	case a.Replicas < 2:
		return fmt.Errorf("deploy %s: replicas %d: at least 2 so one pod may be disrupted", a.Stamp, a.Replicas)
	case a.MaxReplicas != 0 && a.MaxReplicas < a.Replicas:
		return fmt.Errorf("deploy %s: maxReplicas %d below replicas %d", a.Stamp, a.MaxReplicas, a.Replicas)
	case a.RTPPortMin%2 != 0 || a.RTPPortMin < 1024 || a.RTPPortMax > 65535 || a.RTPPortMin > a.RTPPortMax:
		return fmt.Errorf("deploy %s: RTP ports %d-%d: want an even start within 1024-65535", a.Stamp, a.RTPPortMin, a.RTPPortMax)
	case a.Kubeconfig == nil:
		return fmt.Errorf("deploy %s: Args.Kubeconfig (the cluster's exec kubeconfig) is required", a.Stamp)
	case a.KeyVaultName != nil && a.TenantID == nil:
		return fmt.Errorf("deploy %s: Args.TenantID is required with Args.KeyVaultName (the secrets provider needs it)", a.Stamp)
	case a.KeyVaultName != nil && a.DispatcherClientID == nil:
		return fmt.Errorf("deploy %s: Args.DispatcherClientID is required with Args.KeyVaultName (the dispatcher reads the edge certificate as itself)", a.Stamp)
	case a.AppClientID == nil || a.RegistryLoginServer == nil:
		return fmt.Errorf("deploy %s: Args.AppClientID and Args.RegistryLoginServer are required", a.Stamp)
	case a.DispatcherReplicas != 0 && a.DispatcherReplicas < 2:
		return fmt.Errorf("deploy %s: dispatcher replicas %d: at least 2", a.Stamp, a.DispatcherReplicas)
	case net.ParseIP(a.SIPDispatcherIP) == nil:
		return fmt.Errorf("deploy %s: Args.SIPDispatcherIP %q is not an address", a.Stamp, a.SIPDispatcherIP)
	case len(a.SBCPrefixes) == 0:
		return fmt.Errorf("deploy %s: Args.SBCPrefixes is empty: the dispatcher would refuse every call", a.Stamp)
	case a.IdleTimeoutMinutes != 0 && (a.IdleTimeoutMinutes < 4 || a.IdleTimeoutMinutes > 100):
		return fmt.Errorf("deploy %s: idle timeout %d min: Azure Load Balancer allows 4-100", a.Stamp, a.IdleTimeoutMinutes)
	case a.PublicIPName == nil || a.PublicIPResourceGroup == nil || a.PublicIPAddress == nil:
		return fmt.Errorf("deploy %s: the stamp's public IP name, resource group and address are required", a.Stamp)
	}
	if !slices.Contains(kubeloginModes, a.KubeloginMode) {
		return fmt.Errorf("deploy %s: kubelogin mode %q: want one of %v", a.Stamp, a.KubeloginMode, kubeloginModes)
	}
	if _, err := ImageFromRegistry("registry.invalid", a.Image); err != nil {
		return fmt.Errorf("deploy %s: %w", a.Stamp, err)
	}
	if _, err := ImageFromRegistry("registry.invalid", a.DispatcherImage); err != nil {
		return fmt.Errorf("deploy %s: dispatcher %w", a.Stamp, err)
	}
	return nil
}

// Workload is the component.
type Workload struct {
	pulumi.ResourceState

	Provider       *kubernetes.Provider
	Namespace      pulumi.StringOutput
	ServiceAccount pulumi.StringOutput
	ServiceName    pulumi.StringOutput
	// LoadBalancerIP is the address the Service got: the stamp's public IP once AKS binds it.
	LoadBalancerIP pulumi.StringOutput
}

// Labels on every object and the pod selector.
func Labels(stamp string) pulumi.StringMap {
	return pulumi.StringMap{
		"app.kubernetes.io/name":       pulumi.String("voicemail"),
		"app.kubernetes.io/part-of":    pulumi.String("voicemail-platform"),
		"app.kubernetes.io/managed-by": pulumi.String("pulumi"),
		"voicemail.io/stamp":           pulumi.String(stamp),
	}
}

func selectorLabels() pulumi.StringMap {
	return pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("voicemail")}
}

// NewWorkload deploys the voicemail service into one stamp. Pass pulumi.Parent(stamp).
func NewWorkload(ctx *pulumi.Context, name string, in *Args, opts ...pulumi.ResourceOption) (*Workload, error) {
	if in == nil {
		return nil, fmt.Errorf("deploy %s: nil args", name)
	}
	args := in.withDefaults()
	if err := args.Validate(); err != nil {
		return nil, err
	}
	w := &Workload{}
	if err := ctx.RegisterComponentResource(Type, name, w, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(w)
	prov, err := newKubernetesProvider(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	w.Provider = prov
	k8s := []pulumi.ResourceOption{parent, pulumi.Provider(prov)}

	ns, err := registerNamespace(ctx, name, args, append(k8s, pulumi.DependsOn(args.Dependencies)))
	if err != nil {
		return nil, err
	}
	nsName := ns.name()
	inNS := append([]pulumi.ResourceOption{pulumi.DependsOn([]pulumi.Resource{ns})}, k8s...)
	meta := objectMeta(args)

	sa, err := registerServiceAccount(ctx, name, args, nsName, inNS)
	if err != nil {
		return nil, err
	}
	cm, err := register(ctx, "v1", "ConfigMap", name+"-config", obj{
		"metadata": meta("voicemail-config"),
		"data":     configMapData(args),
	}, inNS...)
	if err != nil {
		return nil, err
	}
	if args.KeyVaultName != nil {
		if err := registerSecretProvider(ctx, name, args, meta, inNS); err != nil {
			return nil, err
		}
	}
	dep, err := registerPods(ctx, name, args, meta, cm.name(), sa.name(), inNS)
	if err != nil {
		return nil, err
	}
	if err := registerScaling(ctx, name, args, meta, dep.name(), inNS); err != nil {
		return nil, err
	}
	if _, err := register(ctx, "networking.k8s.io/v1", "NetworkPolicy", name+"-netpol", obj{
		"metadata": meta("voicemail"),
		"spec":     networkPolicySpec(args),
	}, inNS...); err != nil {
		return nil, err
	}
	svc, err := registerService(ctx, name, args, inNS)
	if err != nil {
		return nil, err
	}
	if err := registerSIPIngress(ctx, name, args, meta, nsName, inNS); err != nil {
		return nil, err
	}

	w.Namespace = nsName
	w.ServiceAccount = sa.name()
	w.ServiceName = svc.name()
	w.LoadBalancerIP = loadBalancerIP(svc)
	if err := ctx.RegisterResourceOutputs(w, pulumi.Map{
		"namespace":      w.Namespace,
		"serviceAccount": w.ServiceAccount,
		"serviceName":    w.ServiceName,
		"loadBalancerIP": w.LoadBalancerIP,
	}); err != nil {
		return nil, err
	}
	return w, nil
}

// newKubernetesProvider reaches the stamp's cluster with its Entra ID user kubeconfig,
// switched to a non-interactive kubelogin mode.
func newKubernetesProvider(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (*kubernetes.Provider, error) {
	mode := args.KubeloginMode
	kubeconfig := args.Kubeconfig.ToStringOutput().ApplyT(func(kc string) (string, error) {
		out, err := KubeconfigForPulumi(kc, mode)
		if err != nil {
			return "", fmt.Errorf("stamp %s: %w", args.Stamp, err)
		}
		return out, nil
	}).(pulumi.StringOutput)
	return kubernetes.NewProvider(ctx, name+"-k8s", &kubernetes.ProviderArgs{
		Kubeconfig:            pulumi.ToSecret(kubeconfig).(pulumi.StringOutput),
		EnableServerSideApply: pulumi.Bool(true),
		DeleteUnreachable:     pulumi.Bool(true), // a stamp removed from config may have lost its cluster first
	}, parent)
}

// objectMeta returns the metadata of a named object in the stamp's namespace.
func objectMeta(args Args) func(n string) obj {
	labels := Labels(args.Stamp)
	return func(n string) obj {
		return obj{"name": pulumi.String(n), "namespace": pulumi.String(args.Namespace), "labels": labels}
	}
}

// registerNamespace creates the namespace, held to the restricted Pod Security Standard.
func registerNamespace(ctx *pulumi.Context, name string, args Args, opts []pulumi.ResourceOption) (*object, error) {
	return register(ctx, "v1", "Namespace", name+"-ns", obj{
		"metadata": obj{
			"name": pulumi.String(args.Namespace),
			"labels": pulumi.StringMap{
				"app.kubernetes.io/part-of":          pulumi.String("voicemail-platform"),
				"pod-security.kubernetes.io/enforce": pulumi.String("restricted"),
				"pod-security.kubernetes.io/warn":    pulumi.String("restricted"),
			},
		},
	}, opts...)
}

// registerServiceAccount creates the pods' service account, federated with the app's managed
// identity through workload identity; it mounts no Kubernetes API token.
func registerServiceAccount(ctx *pulumi.Context, name string, args Args, nsName pulumi.StringOutput, inNS []pulumi.ResourceOption) (*object, error) {
	return registerIdentityAccount(ctx, name+"-sa", args, args.ServiceAccount, args.AppClientID, nsName, inNS)
}

// registerIdentityAccount creates a service account federated with the identity clientID (none
// when nil); it mounts no Kubernetes API token.
func registerIdentityAccount(ctx *pulumi.Context, res string, args Args, account string, clientID pulumi.StringInput, nsName pulumi.StringOutput, inNS []pulumi.ResourceOption) (*object, error) {
	saAnn := pulumi.StringMap{}
	if clientID != nil {
		saAnn["azure.workload.identity/client-id"] = clientID
	}
	if args.TenantID != nil {
		saAnn["azure.workload.identity/tenant-id"] = args.TenantID.ToStringPtrOutput().Elem()
	}
	return register(ctx, "v1", "ServiceAccount", res, obj{
		"metadata": obj{
			"name": pulumi.String(account), "namespace": nsName, "annotations": saAnn,
			"labels": merge(Labels(args.Stamp), pulumi.StringMap{"azure.workload.identity/use": pulumi.String("true")}),
		},
		"automountServiceAccountToken": pulumi.Bool(false),
	}, inNS...)
}

// registerSecretProvider makes the Key Vault objects (operator token, edge certificate)
// mountable through the Secrets Store CSI driver and syncs the operator token into a
// Kubernetes secret.
func registerSecretProvider(ctx *pulumi.Context, name string, args Args, meta func(string) obj, inNS []pulumi.ResourceOption) error {
	_, err := register(ctx, "secrets-store.csi.x-k8s.io/v1", "SecretProviderClass", name+"-secretprovider", obj{
		"metadata": meta(secretProviderClass),
		"spec": obj{
			"provider": pulumi.String("azure"),
			"parameters": pulumi.StringMap{
				"usePodIdentity": pulumi.String("false"),
				"clientID":       args.AppClientID,
				"keyvaultName":   args.KeyVaultName,
				"tenantId":       args.TenantID.ToStringPtrOutput().Elem(),
				"objects":        pulumi.String(keyVaultObjects(contract.OperatorTokenSecret, contract.EdgeCertificate)),
			},
			"secretObjects": list{obj{
				"secretName": pulumi.String(syncedSecret),
				"type":       pulumi.String("Opaque"),
				"data": list{obj{
					"objectName": pulumi.String(contract.OperatorTokenSecret), "key": pulumi.String(contract.OperatorTokenSecret),
				}},
			}},
		},
	}, inNS...)
	return err
}

// registerPods creates the service's Deployment and the state-init Job, both running the
// stack's image from the stack's registry.
func registerPods(ctx *pulumi.Context, name string, args Args, meta func(string) obj, configMap, serviceAccount pulumi.StringOutput,
	inNS []pulumi.ResourceOption) (*object, error) {
	image := args.RegistryLoginServer.ToStringOutput().ApplyT(func(ls string) (string, error) {
		return ImageFromRegistry(ls, args.Image)
	}).(pulumi.StringOutput)
	dep, err := register(ctx, "apps/v1", "Deployment", name+"-deployment", obj{
		"metadata": meta("voicemail"),
		"spec":     deploymentSpec(args, image, configMap, serviceAccount),
	}, inNS...)
	if err != nil {
		return nil, err
	}
	// Once per stamp: ignoring spec changes keeps a new image from replacing (re-running) it.
	// Pulumi waits for the Job to complete, so `pulumi up` ends with the stamp in service.
	if _, err := register(ctx, "batch/v1", "Job", name+"-state-init", obj{
		"metadata": obj{"name": pulumi.String(StateInitName), "namespace": pulumi.String(args.Namespace), "labels": stateInitLabels(args.Stamp)},
		"spec":     stateInitSpec(args, image, configMap, serviceAccount),
	}, append(inNS, pulumi.IgnoreChanges([]string{"spec"}), pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "20m"}))...); err != nil {
		return nil, err
	}
	return dep, nil
}

// registerScaling creates the Deployment's autoscaler (CPU and requests per second) and its
// disruption budget (one pod down at a time).
func registerScaling(ctx *pulumi.Context, name string, args Args, meta func(string) obj, deployment pulumi.StringOutput,
	inNS []pulumi.ResourceOption) error {
	if _, err := register(ctx, "autoscaling/v2", "HorizontalPodAutoscaler", name+"-hpa", obj{
		"metadata": meta("voicemail"),
		"spec": obj{
			"scaleTargetRef": obj{
				"apiVersion": pulumi.String("apps/v1"), "kind": pulumi.String("Deployment"), "name": deployment,
			},
			"minReplicas": pulumi.Int(args.Replicas),
			"maxReplicas": pulumi.Int(args.MaxReplicas),
			"metrics": list{
				obj{
					"type": pulumi.String("Resource"),
					"resource": obj{
						"name":   pulumi.String("cpu"),
						"target": obj{"type": pulumi.String("Utilization"), "averageUtilization": pulumi.Int(65)},
					},
				},
				// Served by the cluster's custom-metrics adapter from the service's
				// voicemail_http_requests_total (see internal/stack/README.md, "Operating stamps").
				obj{
					"type": pulumi.String("Pods"),
					"pods": obj{
						"metric": obj{"name": pulumi.String("voicemail_http_requests_per_second")},
						"target": obj{"type": pulumi.String("AverageValue"), "averageValue": pulumi.String(fmt.Sprint(args.RequestsPerSecond))},
					},
				},
			},
			"behavior": obj{
				// Scale down slowly: a region may have to absorb a lost region's load again.
				"scaleDown": obj{"stabilizationWindowSeconds": pulumi.Int(600)},
			},
		},
	}, inNS...); err != nil {
		return err
	}
	_, err := register(ctx, "policy/v1", "PodDisruptionBudget", name+"-pdb", obj{
		"metadata": meta("voicemail"),
		"spec": obj{
			"maxUnavailable": pulumi.Int(1),
			"selector":       obj{"matchLabels": selectorLabels()},
		},
	}, inNS...)
	return err
}

// registerService creates the stamp's load-balanced Service on the stamp's public IP.
func registerService(ctx *pulumi.Context, name string, args Args, inNS []pulumi.ResourceOption) (*object, error) {
	return register(ctx, "v1", "Service", name+"-service", obj{
		"metadata": obj{
			"name":      pulumi.String("voicemail"),
			"namespace": pulumi.String(args.Namespace),
			"labels":    Labels(args.Stamp),
			"annotations": pulumi.StringMap{
				"service.beta.kubernetes.io/azure-pip-name":                     args.PublicIPName,
				"service.beta.kubernetes.io/azure-load-balancer-resource-group": args.PublicIPResourceGroup,
			},
		},
		"spec": serviceSpec(args),
	}, inNS...)
}

// loadBalancerIP is the address the cluster gave the Service ("" until it has one).
func loadBalancerIP(svc *object) pulumi.StringOutput {
	return svc.Status.ApplyT(func(s map[string]any) string {
		lb, _ := s["loadBalancer"].(map[string]any)
		ingress, _ := lb["ingress"].([]any)
		if len(ingress) == 0 {
			return ""
		}
		first, _ := ingress[0].(map[string]any)
		ip, _ := first["ip"].(string)
		return ip
	}).(pulumi.StringOutput)
}

// object is a Kubernetes object registered by its pulumi-kubernetes type token
// ("kubernetes:<group/version>:<Kind>", exactly what the typed SDK registers), with the two
// outputs the component reads.
type object struct {
	pulumi.CustomResourceState
	Metadata pulumi.MapOutput `pulumi:"metadata"`
	Status   pulumi.MapOutput `pulumi:"status"`
}

// name is the object's metadata.name as the cluster has it, so consumers wait for the object.
func (o *object) name() pulumi.StringOutput {
	return o.Metadata.ApplyT(func(m map[string]any) string {
		n, _ := m["name"].(string)
		return n
	}).(pulumi.StringOutput)
}

// register creates one object through the stamp's provider (passed in opts). apiVersion and
// kind are set the way the typed SDK sets them.
func register(ctx *pulumi.Context, apiVersion, kind, name string, props obj, opts ...pulumi.ResourceOption) (*object, error) {
	props["apiVersion"] = pulumi.String(apiVersion)
	props["kind"] = pulumi.String(kind)
	group := apiVersion
	if !strings.Contains(group, "/") {
		group = "core/" + group
	}
	o := &object{}
	if err := ctx.RegisterResource("kubernetes:"+group+":"+kind, name, props, o, opts...); err != nil {
		return nil, err
	}
	return o, nil
}

func merge(a, b pulumi.StringMap) pulumi.StringMap {
	out := pulumi.StringMap{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// WorkloadName is the logical name of a stamp's workload component.
func WorkloadName(stampID string) string { return strings.TrimSuffix(stampID, "-") + "-app" }
