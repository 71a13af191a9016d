package deploy

import (
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// runAsUser is distroless' "nonroot" user.
const runAsUser = 65532

// runtimeEnv is the part of the ConfigMap the component itself decides: listen addresses
// that match the container ports, the stamp's identity, and the media settings that match
// the Service.
func runtimeEnv(a Args) pulumi.StringMap {
	return pulumi.StringMap{
		"VOICEMAIL_HTTP_ADDR":      pulumi.Sprintf(":%d", HTTPPort),
		"VOICEMAIL_SIP_ADDR":       pulumi.Sprintf(":%d", SIPPort),
		"VOICEMAIL_IMAP_ADDR":      pulumi.Sprintf(":%d", IMAPPort),
		"VOICEMAIL_REGION":         pulumi.String(a.Region),
		"VOICEMAIL_STAMP":          pulumi.String(a.Stamp),
		"VOICEMAIL_SIP_MEDIA_IP":   a.PublicIPAddress,
		"VOICEMAIL_SIP_RTP_PORTS":  pulumi.Sprintf("%d-%d", a.RTPPortMin, a.RTPPortMax),
		"VOICEMAIL_SIP_MAX_CALLS":  pulumi.Sprintf("%d", rtpPortCount(a)),
		"VOICEMAIL_SHUTDOWN_GRACE": pulumi.Sprintf("%ds", ShutdownGraceSeconds),
		"VOICEMAIL_SHUTDOWN_DELAY": pulumi.String("0s"), // preStop already waited
	}
}

// rtpPortCount is how many calls a pod can carry: one even port each.
func rtpPortCount(a Args) int { return (a.RTPPortMax-a.RTPPortMin)/2 + 1 }

func httpProbe(path string, period, timeout, failures int) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String("http")},
		PeriodSeconds:    pulumi.Int(period),
		TimeoutSeconds:   pulumi.Int(timeout),
		FailureThreshold: pulumi.Int(failures),
	}
}

// podSecurityContext and containerSecurityContext are shared by the Deployment and the
// state-init Job: non-root, read-only root filesystem, no privilege escalation.
func podSecurityContext() *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsNonRoot:   pulumi.Bool(true),
		RunAsUser:      pulumi.Int(runAsUser),
		RunAsGroup:     pulumi.Int(runAsUser),
		FsGroup:        pulumi.Int(runAsUser),
		SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

func containerSecurityContext() *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		AllowPrivilegeEscalation: pulumi.Bool(false),
		Privileged:               pulumi.Bool(false),
		RunAsNonRoot:             pulumi.Bool(true),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
	}
}

func deploymentSpec(a Args, image, configMap, serviceAccount pulumi.StringInput) *appsv1.DeploymentSpecArgs {
	podLabels := merge(Labels(a.Stamp), pulumi.StringMap{"azure.workload.identity/use": pulumi.String("true")})
	ports := corev1.ContainerPortArray{
		&corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(HTTPPort), Protocol: pulumi.String("TCP")},
		&corev1.ContainerPortArgs{Name: pulumi.String("sip-udp"), ContainerPort: pulumi.Int(SIPPort), Protocol: pulumi.String("UDP")},
		&corev1.ContainerPortArgs{Name: pulumi.String("sip-tcp"), ContainerPort: pulumi.Int(SIPPort), Protocol: pulumi.String("TCP")},
		&corev1.ContainerPortArgs{Name: pulumi.String("imap"), ContainerPort: pulumi.Int(IMAPPort), Protocol: pulumi.String("TCP")},
	}
	mounts := corev1.VolumeMountArray{
		&corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
	}
	volumes := corev1.VolumeArray{
		&corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("256Mi")}},
	}
	var env corev1.EnvVarArray
	if a.KeyVaultName != nil {
		// Mounting the CSI volume is what makes the driver sync the Secret the env reads.
		mounts = append(mounts, &corev1.VolumeMountArgs{Name: pulumi.String("keyvault"), MountPath: pulumi.String("/mnt/keyvault"), ReadOnly: pulumi.Bool(true)})
		volumes = append(volumes, &corev1.VolumeArgs{Name: pulumi.String("keyvault"), Csi: &corev1.CSIVolumeSourceArgs{
			Driver: pulumi.String("secrets-store.csi.k8s.io"), ReadOnly: pulumi.Bool(true),
			VolumeAttributes: pulumi.StringMap{"secretProviderClass": pulumi.String(secretProviderClass)},
		}})
		env = append(env, &corev1.EnvVarArgs{Name: pulumi.String("VOICEMAIL_OPERATOR_TOKEN"), ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: pulumi.String(syncedSecret), Key: pulumi.String(OperatorTokenSecret)},
		}})
	}
	return &appsv1.DeploymentSpecArgs{
		Replicas: pulumi.Int(a.Replicas),
		Selector: &metav1.LabelSelectorArgs{MatchLabels: selectorLabels()},
		Strategy: &appsv1.DeploymentStrategyArgs{
			Type: pulumi.String("RollingUpdate"),
			RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
				MaxUnavailable: pulumi.Int(0),
				MaxSurge:       pulumi.String("25%"),
			},
		},
		RevisionHistoryLimit: pulumi.Int(5),
		Template: &corev1.PodTemplateSpecArgs{
			Metadata: &metav1.ObjectMetaArgs{Labels: podLabels},
			Spec: &corev1.PodSpecArgs{
				ServiceAccountName:            serviceAccount,
				AutomountServiceAccountToken:  pulumi.Bool(false), // the workload-identity webhook projects its own token
				TerminationGracePeriodSeconds: pulumi.Int(TerminationGraceSecond),
				EnableServiceLinks:            pulumi.Bool(false),
				NodeSelector:                  pulumi.StringMap{"kubernetes.azure.com/mode": pulumi.String("user")},
				SecurityContext:               podSecurityContext(),
				// The stamp is one zone; spread its pods over that zone's nodes.
				TopologySpreadConstraints: corev1.TopologySpreadConstraintArray{
					&corev1.TopologySpreadConstraintArgs{
						MaxSkew:           pulumi.Int(1),
						TopologyKey:       pulumi.String("kubernetes.io/hostname"),
						WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
						LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: selectorLabels()},
					},
				},
				Containers: corev1.ContainerArray{
					&corev1.ContainerArgs{
						Name:            pulumi.String("voicemail"),
						Image:           image,
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Ports:           ports,
						EnvFrom: corev1.EnvFromSourceArray{
							&corev1.EnvFromSourceArgs{ConfigMapRef: &corev1.ConfigMapEnvSourceArgs{Name: configMap}},
						},
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("512Mi")},
							Limits:   pulumi.StringMap{"memory": pulumi.String("1Gi")},
						},
						// Ready means the process can take work; the stamp's dependencies
						// are judged by Traffic Manager on /health/stamp, not per pod.
						ReadinessProbe: httpProbe(ReadinessPath, 5, 2, 3),
						LivenessProbe:  httpProbe(LivenessPath, 10, 2, 3),
						StartupProbe:   httpProbe(LivenessPath, 2, 2, 30),
						Lifecycle: &corev1.LifecycleArgs{
							PreStop: &corev1.LifecycleHandlerArgs{Sleep: &corev1.SleepActionArgs{Seconds: pulumi.Int(PreStopSeconds)}},
						},
						SecurityContext: containerSecurityContext(),
						Env:             env,
						VolumeMounts:    mounts,
					},
				},
				Volumes: volumes,
			},
		},
	}
}

// servicePorts are the Service's ports: HTTP, SIP over UDP and TCP, IMAP, and the RTP ports.
func servicePorts(a Args) corev1.ServicePortArray {
	ports := corev1.ServicePortArray{
		&corev1.ServicePortArgs{Name: pulumi.String("http"), Port: pulumi.Int(ServiceHTTPPort), TargetPort: pulumi.String("http"), Protocol: pulumi.String("TCP")},
		&corev1.ServicePortArgs{Name: pulumi.String("sip-udp"), Port: pulumi.Int(SIPPort), TargetPort: pulumi.String("sip-udp"), Protocol: pulumi.String("UDP")},
		&corev1.ServicePortArgs{Name: pulumi.String("sip-tcp"), Port: pulumi.Int(SIPPort), TargetPort: pulumi.String("sip-tcp"), Protocol: pulumi.String("TCP")},
		&corev1.ServicePortArgs{Name: pulumi.String("imap"), Port: pulumi.Int(ServiceIMAPPort), TargetPort: pulumi.String("imap"), Protocol: pulumi.String("TCP")},
	}
	for p := a.RTPPortMin; p <= a.RTPPortMax; p += 2 {
		ports = append(ports, &corev1.ServicePortArgs{
			Name: pulumi.Sprintf("rtp-%d", p), Port: pulumi.Int(p), TargetPort: pulumi.Int(p), Protocol: pulumi.String("UDP"),
		})
	}
	return ports
}

func serviceSpec(a Args) *corev1.ServiceSpecArgs {
	return &corev1.ServiceSpecArgs{
		Type:     pulumi.String("LoadBalancer"),
		Selector: selectorLabels(),
		Ports:    servicePorts(a),
		// Local keeps the caller's address (SIP needs it) and skips a second hop; the Azure
		// load balancer then probes kube-proxy's health node port, so only nodes with a ready
		// pod (readiness on ReadinessPath) receive traffic.
		ExternalTrafficPolicy: pulumi.String("Local"),
		// A caller's SIP and RTP come from one address; affinity keeps them on one pod.
		SessionAffinity: pulumi.String("ClientIP"),
		SessionAffinityConfig: &corev1.SessionAffinityConfigArgs{
			ClientIP: &corev1.ClientIPConfigArgs{TimeoutSeconds: pulumi.Int(3 * 3600)},
		},
	}
}

func networkPolicySpec(a Args) *networkingv1.NetworkPolicySpecArgs {
	tcp, udp := pulumi.String("TCP"), pulumi.String("UDP")
	port := func(proto pulumi.String, p int) *networkingv1.NetworkPolicyPortArgs {
		return &networkingv1.NetworkPolicyPortArgs{Protocol: proto, Port: pulumi.Int(p)}
	}
	portRange := func(proto pulumi.String, from, to int) *networkingv1.NetworkPolicyPortArgs {
		return &networkingv1.NetworkPolicyPortArgs{Protocol: proto, Port: pulumi.Int(from), EndPort: pulumi.Int(to)}
	}
	return &networkingv1.NetworkPolicySpecArgs{
		PodSelector: &metav1.LabelSelectorArgs{MatchLabels: selectorLabels()},
		PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		// Callers, HTTP clients and Traffic Manager's probes arrive from the internet through
		// the load balancer; nothing else may reach the pods.
		Ingress: networkingv1.NetworkPolicyIngressRuleArray{
			&networkingv1.NetworkPolicyIngressRuleArgs{
				Ports: networkingv1.NetworkPolicyPortArray{
					port(tcp, HTTPPort), port(udp, SIPPort), port(tcp, SIPPort), port(tcp, IMAPPort),
					portRange(udp, a.RTPPortMin, a.RTPPortMax),
				},
			},
		},
		// Out: DNS, HTTPS to Azure (Cosmos, Storage, Entra ID, Key Vault), SIP NOTIFY for MWI
		// and RTP back to callers.
		Egress: networkingv1.NetworkPolicyEgressRuleArray{
			&networkingv1.NetworkPolicyEgressRuleArgs{
				Ports: networkingv1.NetworkPolicyPortArray{port(udp, 53), port(tcp, 53)},
			},
			&networkingv1.NetworkPolicyEgressRuleArgs{
				Ports: networkingv1.NetworkPolicyPortArray{
					port(tcp, 443), port(udp, SIPPort), port(tcp, SIPPort), portRange(udp, 1024, 65535),
				},
			},
		},
	}
}

// State-init Job timing: the workload-identity federation of a new stamp can take minutes to
// reach Entra ID, so the Job retries (6 retries back off 10 s .. 320 s, about 10 min) within
// a deadline; the finished Job is removed after an hour, its logs read by then.
const (
	StateInitBackoffLimit    = 6
	StateInitDeadlineSeconds = 15 * 60
	StateInitTTLSeconds      = 3600
)

// stateInitLabels keep the Job's pod out of the Deployment's selector (Service, PDB,
// NetworkPolicy, topology spread), while carrying the workload-identity label.
func stateInitLabels(stamp string) pulumi.StringMap {
	return merge(Labels(stamp), pulumi.StringMap{
		"app.kubernetes.io/name":      pulumi.String(StateInitName),
		"app.kubernetes.io/component": pulumi.String(StateInitName),
	})
}

// stateInitSpec runs `voicemail init-state` once: the pinned image, the stamp's ConfigMap and
// the app's service account (Storage Blob Data Contributor through workload identity).
func stateInitSpec(a Args, image, configMap, serviceAccount pulumi.StringInput) *batchv1.JobSpecArgs {
	return &batchv1.JobSpecArgs{
		BackoffLimit:            pulumi.Int(StateInitBackoffLimit),
		ActiveDeadlineSeconds:   pulumi.Int(StateInitDeadlineSeconds),
		TtlSecondsAfterFinished: pulumi.Int(StateInitTTLSeconds),
		Template: &corev1.PodTemplateSpecArgs{
			Metadata: &metav1.ObjectMetaArgs{Labels: merge(stateInitLabels(a.Stamp), pulumi.StringMap{"azure.workload.identity/use": pulumi.String("true")})},
			Spec: &corev1.PodSpecArgs{
				RestartPolicy:                pulumi.String("Never"), // a new pod per retry keeps the failed one's logs
				ServiceAccountName:           serviceAccount,
				AutomountServiceAccountToken: pulumi.Bool(false),
				EnableServiceLinks:           pulumi.Bool(false),
				NodeSelector:                 pulumi.StringMap{"kubernetes.azure.com/mode": pulumi.String("user")},
				SecurityContext:              podSecurityContext(),
				Containers: corev1.ContainerArray{
					&corev1.ContainerArgs{
						Name:            pulumi.String(StateInitName),
						Image:           image,
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Args:            pulumi.StringArray{pulumi.String(StateInitArg)},
						EnvFrom: corev1.EnvFromSourceArray{
							&corev1.EnvFromSourceArgs{ConfigMapRef: &corev1.ConfigMapEnvSourceArgs{Name: configMap}},
						},
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("50m"), "memory": pulumi.String("64Mi")},
							Limits:   pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("128Mi")},
						},
						SecurityContext: containerSecurityContext(),
					},
				},
			},
		},
	}
}
