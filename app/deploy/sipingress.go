package deploy

import (
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/app/internal/kamailio"
	"github.com/voicemail-platform/voicemail/contract"
)

// The stamp's SIP ingress: Kamailio dispatchers (two or more) behind an internal load balancer
// with a fixed address, in front of the voicemail pods, which they find through a headless
// Service and probe with OPTIONS. Media never passes through them: each pod advertises its own
// VNet address (status.podIP) in Contact and SDP.
const (
	DispatcherName       = "sip-dispatcher"
	SIPHeadlessName      = "voicemail-sip"
	SIPIngressName       = "sip-ingress"
	dispatcherConfigPath = "/etc/kamailio"
	dispatcherRunPath    = "/run/kamailio"
	// DispatcherProbeSeconds is how often each dispatcher probes each pod: a pod told to stop
	// leaves rotation within this (INVITEs it still gets meanwhile are answered 503 and sent
	// to another pod).
	DispatcherProbeSeconds = 2
	// MaxGreetingSeconds is the longest greeting a caller hears before the beep.
	MaxGreetingSeconds = 60
)

// SIPDrainSeconds is how long a pod told to stop lets calls in progress go on (the service's
// contract.EnvSIPDrainTimeout): the longest greeting, the longest message and 15 s of prompts
// and storing, the service's own rule (a test checks they agree).
const SIPDrainSeconds = MaxDepositSeconds + MaxGreetingSeconds + 15

// DispatcherConfig is the stamp dispatcher's Kamailio configuration (kamailio.cfg of the
// ConfigMap): it listens on every address of the pod, advertises the internal load balancer's
// address in Record-Route, and re-reads the list the sip-targets sidecar writes.
//
// With the edge certificate it also terminates SIP over TLS from the SBCs on SIPTLSPort (the
// dispatcher must read each request to route its dialog, and the hop to the pods stays in the
// stamp's network), reading the Key Vault certificate from the CSI mount and re-reading it
// every DispatcherTLSReloadSeconds.
func DispatcherConfig(a Args) (string, error) {
	cfg := dispatcherKamailio(a)
	return cfg.Render()
}

// DispatcherTLSConfig is tls.cfg of the dispatcher's ConfigMap ("" without the edge
// certificate).
func DispatcherTLSConfig(a Args) string {
	if cfg := dispatcherKamailio(a); cfg.TLS != nil {
		return cfg.TLS.ConfigText()
	}
	return ""
}

// DispatcherTLSReloadSeconds is how often the dispatcher re-reads the certificate file; with
// the CSI driver's 2-minute poll a renewal is served within about 2.5 minutes.
const DispatcherTLSReloadSeconds = 30

func dispatcherKamailio(a Args) kamailio.Config {
	adv := fmt.Sprintf("%s:%d", a.SIPDispatcherIP, SIPPort)
	cfg := kamailio.Config{
		Role: kamailio.RoleStamp, Name: "stamp-" + a.Stamp,
		Listen: []kamailio.Listen{
			{Proto: "udp", Addr: fmt.Sprintf("0.0.0.0:%d", SIPPort), Advertise: adv},
			{Proto: "tcp", Addr: fmt.Sprintf("0.0.0.0:%d", SIPPort), Advertise: adv},
		},
		ListFile:       dispatcherRunPath + "/dispatcher.list",
		ProbeInterval:  DispatcherProbeSeconds * time.Second,
		ReloadInterval: 10 * time.Second,
		// Below the load balancer's idle timeout, so idle SBC connections stay open.
		TCPKeepalive: time.Minute,
		TCPLifetime:  time.Duration(a.IdleTimeoutMinutes) * time.Minute,
		TrustedPeers: a.SBCPrefixes,
	}
	if edgeTLS(a) {
		cfg.Listen = append(cfg.Listen, kamailio.Listen{Proto: "tls", Addr: fmt.Sprintf("0.0.0.0:%d", SIPTLSPort),
			Advertise: fmt.Sprintf("%s:%d", a.SIPDispatcherIP, SIPTLSPort)})
		cfg.TLS = &kamailio.TLS{CertFile: EdgeCertFile, KeyFile: EdgeCertFile,
			ReloadInterval: DispatcherTLSReloadSeconds * time.Second, ConfigFile: dispatcherConfigPath + "/tls.cfg"}
	}
	return cfg
}

func sipHeadlessSpec() obj {
	return obj{
		"clusterIP": pulumi.String("None"),
		// Draining pods stay listed: their calls' in-dialog requests must still reach them;
		// their 503 to OPTIONS keeps new calls away.
		"publishNotReadyAddresses": pulumi.Bool(true),
		"selector":                 selectorLabels(),
		"ports": list{
			obj{"name": pulumi.String("sip-udp"), "port": pulumi.Int(SIPPort), "protocol": pulumi.String("UDP")},
			obj{"name": pulumi.String("sip-tcp"), "port": pulumi.Int(SIPPort), "protocol": pulumi.String("TCP")},
		},
	}
}

func dispatcherLabels() pulumi.StringMap {
	return pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(DispatcherName)}
}

func dispatcherSpec(a Args, image, configMap pulumi.StringInput) obj {
	sc := containerSecurityContext()
	// Kamailio binds 5060 as a non-root user; "restricted" pod security allows this one.
	sc["capabilities"] = obj{"drop": pulumi.StringArray{pulumi.String("ALL")}, "add": pulumi.StringArray{pulumi.String("NET_BIND_SERVICE")}}
	run := obj{"name": pulumi.String("run"), "mountPath": pulumi.String(dispatcherRunPath)}
	targets := func(name string, once bool) obj {
		args := pulumi.StringArray{pulumi.String("sip-targets"),
			pulumi.Sprintf("-host=%s.%s.svc.cluster.local", SIPHeadlessName, a.Namespace),
			pulumi.Sprintf("-port=%d", SIPPort), pulumi.String("-list=" + dispatcherRunPath + "/dispatcher.list")}
		mounts := list{run}
		if once {
			args = append(args, pulumi.String("-once"))
		} else if edgeTLS(a) {
			// Reports the certificate Kamailio serves, for the expiry alert.
			_, kv := keyVaultVolume(dispatcherSecretProvider)
			args, mounts = append(args, pulumi.String("-cert="+EdgeCertFile)), append(mounts, kv)
		}
		c := obj{
			"name": pulumi.String(name), "image": image, "imagePullPolicy": pulumi.String("IfNotPresent"),
			"command": pulumi.StringArray{pulumi.String("/voicemail")}, "args": args,
			"volumeMounts":    mounts,
			"resources":       obj{"requests": pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("32Mi")}, "limits": pulumi.StringMap{"memory": pulumi.String("64Mi")}},
			"securityContext": containerSecurityContext(),
		}
		if !once {
			// Alive while it keeps a list for Kamailio.
			probe := obj{"exec": obj{"command": pulumi.StringArray{pulumi.String("test"), pulumi.String("-s"),
				pulumi.String(dispatcherRunPath + "/dispatcher.list")}}, "periodSeconds": pulumi.Int(10)}
			c["livenessProbe"], c["readinessProbe"] = probe, probe
		}
		return c
	}
	sipProbe := obj{"tcpSocket": obj{"port": pulumi.String("sip-tcp")}, "periodSeconds": pulumi.Int(5), "failureThreshold": pulumi.Int(3)}
	ports := list{
		containerPort("sip-udp", SIPPort, "UDP"),
		containerPort("sip-tcp", SIPPort, "TCP"),
	}
	mounts := list{run, obj{"name": pulumi.String("config"), "mountPath": pulumi.String(dispatcherConfigPath), "readOnly": pulumi.Bool(true)}}
	volumes := list{
		obj{"name": pulumi.String("run"), "emptyDir": obj{"sizeLimit": pulumi.String("16Mi")}},
		obj{"name": pulumi.String("config"), "configMap": obj{"name": configMap}},
	}
	podSpec := obj{}
	if edgeTLS(a) {
		// The edge certificate alone, through the dispatcher's own SecretProviderClass: the
		// CSI driver reads Key Vault with the identity federated to the dispatcher's service
		// account, which may read that one secret (not the operator token, nor any app data).
		ports = append(ports, containerPort("sip-tls", SIPTLSPort, "TCP"))
		volume, mount := keyVaultVolume(dispatcherSecretProvider)
		mounts, volumes = append(mounts, mount), append(volumes, volume)
	}
	return obj{
		"replicas": pulumi.Int(a.DispatcherReplicas),
		"selector": obj{"matchLabels": dispatcherLabels()},
		// Dispatchers keep no dialog state (the route set names the load balancer), so a
		// replaced one loses nothing; one extra at a time keeps capacity during a rollout.
		"strategy": obj{"type": pulumi.String("RollingUpdate"),
			"rollingUpdate": obj{"maxUnavailable": pulumi.Int(0), "maxSurge": pulumi.Int(1)}},
		"template": obj{
			"metadata": obj{"labels": merge(Labels(a.Stamp), dispatcherLabels())},
			"spec": withFields(podSpec, obj{
				"serviceAccountName":            pulumi.String(contract.DispatcherServiceAccount),
				"automountServiceAccountToken":  pulumi.Bool(false),
				"enableServiceLinks":            pulumi.Bool(false),
				"terminationGracePeriodSeconds": pulumi.Int(30),
				"nodeSelector":                  pulumi.StringMap{"kubernetes.azure.com/mode": pulumi.String("user")},
				"securityContext":               podSecurityContext(),
				"topologySpreadConstraints": list{obj{
					"maxSkew": pulumi.Int(1), "topologyKey": pulumi.String("kubernetes.io/hostname"),
					"whenUnsatisfiable": pulumi.String("DoNotSchedule"),
					"labelSelector":     obj{"matchLabels": dispatcherLabels()},
				}},
				"initContainers": list{targets("targets-init", true)},
				"containers": list{
					obj{
						"name": pulumi.String("kamailio"), "image": image, "imagePullPolicy": pulumi.String("IfNotPresent"),
						"args": pulumi.StringArray{pulumi.String("-f"), pulumi.String(dispatcherConfigPath + "/kamailio.cfg"),
							pulumi.String("-DD"), pulumi.String("-E"), pulumi.String("-Y"), pulumi.String(dispatcherRunPath)},
						"ports":          ports,
						"readinessProbe": sipProbe,
						"livenessProbe":  sipProbe,
						"volumeMounts":   mounts,
						"resources": obj{
							"requests": pulumi.StringMap{"cpu": pulumi.String("250m"), "memory": pulumi.String("256Mi")},
							"limits":   pulumi.StringMap{"memory": pulumi.String("512Mi")},
						},
						"securityContext": sc,
					},
					targets("targets", false),
				},
				"volumes": volumes,
			}),
		},
	}
}

// withFields is b with a's fields added.
func withFields(a, b obj) obj {
	for k, v := range a {
		b[k] = v
	}
	return b
}

// sipIngressAnnotations make the Service an internal load balancer on the stamp's fixed SIP
// address, with the TCP idle timeout raised for SIP trunks and IMAP IDLE (Azure's default is
// 4 minutes; 4-100 are allowed).
// https://learn.microsoft.com/en-us/azure/aks/internal-lb
// https://kubernetes-sigs.github.io/cloud-provider-azure/topics/loadbalancer/
func sipIngressAnnotations(a Args) pulumi.StringMap {
	return pulumi.StringMap{
		"service.beta.kubernetes.io/azure-load-balancer-internal":          pulumi.String("true"),
		"service.beta.kubernetes.io/azure-load-balancer-ipv4":              pulumi.String(a.SIPDispatcherIP),
		"service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout":  pulumi.Sprintf("%d", a.IdleTimeoutMinutes),
		"service.beta.kubernetes.io/azure-load-balancer-internal-subnet":   pulumi.String(a.NodeSubnetName),
		"service.beta.kubernetes.io/azure-load-balancer-disable-tcp-reset": pulumi.String("false"),
	}
}

// sipIngressSpec is the internal load balancer: SIP to the dispatchers. Local keeps the SBC's
// address as the source the dispatcher sees (trusted peers are checked by address).
func sipIngressSpec(a Args) obj {
	port := func(name string, p int, proto string) obj {
		return obj{"name": pulumi.String(name), "port": pulumi.Int(p), "targetPort": pulumi.String(name), "protocol": pulumi.String(proto)}
	}
	ports := list{port("sip-udp", SIPPort, "UDP"), port("sip-tcp", SIPPort, "TCP")}
	if edgeTLS(a) {
		ports = append(ports, port("sip-tls", SIPTLSPort, "TCP"))
	}
	return obj{
		"type":                  pulumi.String("LoadBalancer"),
		"selector":              dispatcherLabels(),
		"externalTrafficPolicy": pulumi.String("Local"),
		"ports":                 ports,
	}
}

// imapIngressSpec shares the internal address for IMAP (to the voicemail pods), which the
// operator's TCP balancer (HAProxy reference) reaches over the peering.
func imapIngressSpec(a Args) obj {
	ports := list{obj{"name": pulumi.String("imap"), "port": pulumi.Int(ServiceIMAPPort),
		"targetPort": pulumi.String("imap"), "protocol": pulumi.String("TCP")}}
	if edgeTLS(a) {
		ports = append(ports, obj{"name": pulumi.String("imaps"), "port": pulumi.Int(ServiceIMAPSPort),
			"targetPort": pulumi.String("imaps"), "protocol": pulumi.String("TCP")})
	}
	return obj{
		"type":                  pulumi.String("LoadBalancer"),
		"selector":              selectorLabels(),
		"externalTrafficPolicy": pulumi.String("Local"),
		"ports":                 ports,
	}
}

// registerSIPIngress creates the headless Service, the dispatcher's service account (its own
// identity), secret provider, ConfigMap, Deployment and disruption budget, and the internal
// load balancer Services.
func registerSIPIngress(ctx *pulumi.Context, name string, a Args, meta func(string) obj, nsName pulumi.StringOutput, opts []pulumi.ResourceOption) error {
	cfg, err := DispatcherConfig(a)
	if err != nil {
		return fmt.Errorf("deploy %s: dispatcher config: %w", a.Stamp, err)
	}
	if _, err := registerIdentityAccount(ctx, name+"-dispatcher-sa", a, contract.DispatcherServiceAccount, a.DispatcherClientID, nsName, opts); err != nil {
		return err
	}
	if a.KeyVaultName != nil {
		if _, err := register(ctx, "secrets-store.csi.x-k8s.io/v1", "SecretProviderClass", name+"-dispatcher-secretprovider", obj{
			"metadata": meta(dispatcherSecretProvider),
			"spec": obj{
				"provider": pulumi.String("azure"),
				"parameters": pulumi.StringMap{
					"usePodIdentity": pulumi.String("false"),
					"clientID":       a.DispatcherClientID,
					"keyvaultName":   a.KeyVaultName,
					"tenantId":       a.TenantID.ToStringPtrOutput().Elem(),
					"objects":        pulumi.String(keyVaultObjects(contract.EdgeCertificate)),
				},
			},
		}, opts...); err != nil {
			return err
		}
	}
	if _, err := register(ctx, "v1", "Service", name+"-sip-headless", obj{
		"metadata": meta(SIPHeadlessName), "spec": sipHeadlessSpec(),
	}, opts...); err != nil {
		return err
	}
	data := pulumi.StringMap{"kamailio.cfg": pulumi.String(cfg)}
	if t := DispatcherTLSConfig(a); t != "" {
		data["tls.cfg"] = pulumi.String(t)
	}
	cm, err := register(ctx, "v1", "ConfigMap", name+"-dispatcher-config", obj{
		"metadata": meta(DispatcherName + "-config"),
		"data":     data,
	}, opts...)
	if err != nil {
		return err
	}
	// Pulled, like the service's image, from the stack's geo-replicated registry.
	image := a.RegistryLoginServer.ToStringOutput().ApplyT(func(ls string) (string, error) {
		return ImageFromRegistry(ls, a.DispatcherImage)
	}).(pulumi.StringOutput)
	if _, err := register(ctx, "apps/v1", "Deployment", name+"-dispatcher", obj{
		"metadata": meta(DispatcherName), "spec": dispatcherSpec(a, image, cm.name()),
	}, opts...); err != nil {
		return err
	}
	if _, err := register(ctx, "policy/v1", "PodDisruptionBudget", name+"-dispatcher-pdb", obj{
		"metadata": meta(DispatcherName),
		"spec":     obj{"maxUnavailable": pulumi.Int(1), "selector": obj{"matchLabels": dispatcherLabels()}},
	}, opts...); err != nil {
		return err
	}
	for _, s := range []struct {
		res, name string
		spec      obj
	}{{name + "-sip-ingress", SIPIngressName, sipIngressSpec(a)}, {name + "-imap-ingress", "imap-ingress", imapIngressSpec(a)}} {
		m := meta(s.name)
		m["annotations"] = sipIngressAnnotations(a)
		if _, err := register(ctx, "v1", "Service", s.res, obj{"metadata": m, "spec": s.spec}, opts...); err != nil {
			return err
		}
	}
	return nil
}
