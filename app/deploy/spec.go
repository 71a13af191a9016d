package deploy

import (
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/contract"
)

// Manifests are written as plain maps in the Kubernetes API's own field names: the typed
// pulumi-kubernetes packages took a third of a cold build. The tests strict-decode every
// object into the k8s.io/api types, so a misspelt or misplaced field still fails.
type (
	obj  = pulumi.Map
	list = pulumi.Array
)

// runAsUser is distroless' "nonroot" user.
const runAsUser = 65532

// configMapData is the ConfigMap: the service configuration with the parts the component
// decides itself (listen addresses that match the container ports, the stamp's identity, the
// RTP ports and drain and shutdown timing that match the pod's), then Env.
func configMapData(a Args) pulumi.StringMap {
	svc := *a.Service
	svc.HTTPAddr = fmt.Sprintf(":%d", HTTPPort)
	svc.SIPAddr = fmt.Sprintf(":%d", SIPPort)
	svc.IMAPAddr = fmt.Sprintf(":%d", IMAPPort)
	svc.Region, svc.Stamp = a.Region, a.Stamp
	svc.SIP.RTPPortMin, svc.SIP.RTPPortMax = a.RTPPortMin, a.RTPPortMax
	svc.SIP.MaxCalls = rtpPortCount(a)
	svc.ShutdownGrace = ShutdownGraceSeconds * time.Second
	svc.SIP.DrainTimeout = SIPDrainSeconds * time.Second
	svc.ShutdownDelay = 0 // preStop already waited
	svc.MetricsAddr = fmt.Sprintf(":%d", MetricsPort)
	if edgeTLS(a) {
		svc.TLS.CertFile, svc.TLS.KeyFile = EdgeCertFile, EdgeCertFile
		svc.IMAP.TLSAddr = fmt.Sprintf(":%d", IMAPSPort)
	}
	data := pulumi.StringMap{}
	for k, v := range svc.EnvironMap() {
		data[k] = pulumi.String(v)
	}
	// No media address here: each pod advertises its own (status.podIP, set in the pod spec),
	// so RTP reaches the pod that owns the call.
	for k, v := range a.Env {
		data[k] = v
	}
	return data
}

// rtpPortCount is how many calls a pod can carry: one even port each.
func rtpPortCount(a Args) int { return (a.RTPPortMax-a.RTPPortMin)/2 + 1 }

// httpProbe is a kubelet probe of the API port; over HTTPS the kubelet does not verify the
// certificate, so a renewal in progress never fails a probe.
func httpProbe(a Args, path string, period, timeout, failures int) obj {
	scheme := "HTTP"
	if edgeTLS(a) {
		scheme = "HTTPS"
	}
	return obj{
		"httpGet":          obj{"path": pulumi.String(path), "port": pulumi.String(apiPortName(a)), "scheme": pulumi.String(scheme)},
		"periodSeconds":    pulumi.Int(period),
		"timeoutSeconds":   pulumi.Int(timeout),
		"failureThreshold": pulumi.Int(failures),
	}
}

// podSecurityContext and containerSecurityContext are shared by the Deployment and the
// state-init Job: non-root, read-only root filesystem, no privilege escalation.
func podSecurityContext() obj {
	return obj{
		"runAsNonRoot":   pulumi.Bool(true),
		"runAsUser":      pulumi.Int(runAsUser),
		"runAsGroup":     pulumi.Int(runAsUser),
		"fsGroup":        pulumi.Int(runAsUser),
		"seccompProfile": obj{"type": pulumi.String("RuntimeDefault")},
	}
}

func containerSecurityContext() obj {
	return obj{
		"readOnlyRootFilesystem":   pulumi.Bool(true),
		"allowPrivilegeEscalation": pulumi.Bool(false),
		"privileged":               pulumi.Bool(false),
		"runAsNonRoot":             pulumi.Bool(true),
		"capabilities":             obj{"drop": pulumi.StringArray{pulumi.String("ALL")}},
	}
}

func containerPort(name string, port int, proto string) obj {
	return obj{"name": pulumi.String(name), "containerPort": pulumi.Int(port), "protocol": pulumi.String(proto)}
}

func envFromConfigMap(configMap pulumi.StringInput) list {
	return list{obj{"configMapRef": obj{"name": configMap}}}
}

// podIPEnv gives each pod its own VNet address (Azure CNI pod subnet) as the address it
// advertises in SIP Contact and SDP and binds RTP to: the SBC sends a call's media straight to
// the pod that answered it, never through a load balancer.
func podIPEnv() list {
	podIP := obj{"fieldRef": obj{"fieldPath": pulumi.String("status.podIP")}}
	return list{
		obj{"name": pulumi.String(contract.EnvSIPMediaIP.Name), "valueFrom": podIP},
		obj{"name": pulumi.String(contract.EnvSIPRTPBindIP.Name), "valueFrom": podIP},
	}
}

func deploymentSpec(a Args, image, configMap, serviceAccount pulumi.StringInput) obj {
	podLabels := merge(Labels(a.Stamp), pulumi.StringMap{"azure.workload.identity/use": pulumi.String("true")})
	ports := list{
		containerPort(apiPortName(a), HTTPPort, "TCP"),
		containerPort("sip-udp", SIPPort, "UDP"),
		containerPort("sip-tcp", SIPPort, "TCP"),
		containerPort("imap", IMAPPort, "TCP"),
		containerPort("metrics", MetricsPort, "TCP"),
	}
	if edgeTLS(a) {
		ports = append(ports, containerPort("imaps", IMAPSPort, "TCP"))
	}
	mounts := list{obj{"name": pulumi.String("tmp"), "mountPath": pulumi.String("/tmp")}}
	volumes := list{obj{"name": pulumi.String("tmp"), "emptyDir": obj{"sizeLimit": pulumi.String("256Mi")}}}
	container := obj{
		"name":            pulumi.String("voicemail"),
		"image":           image,
		"imagePullPolicy": pulumi.String("IfNotPresent"),
		"ports":           ports,
		"envFrom":         envFromConfigMap(configMap),
		"env":             podIPEnv(),
		"resources": obj{
			"requests": pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("512Mi")},
			"limits":   pulumi.StringMap{"memory": pulumi.String("1Gi")},
		},
		// Ready means the process can take work; the stamp's dependencies are judged by
		// Traffic Manager on contract.StampHealthPath, not per pod.
		"readinessProbe": httpProbe(a, contract.ReadinessPath, 5, 2, 3),
		"livenessProbe":  httpProbe(a, contract.LivenessPath, 10, 2, 3),
		"startupProbe":   httpProbe(a, contract.LivenessPath, 2, 2, 30),
		"lifecycle": obj{
			"preStop": obj{"sleep": obj{"seconds": pulumi.Int(PreStopSeconds)}},
		},
		"securityContext": containerSecurityContext(),
	}
	if a.KeyVaultName != nil {
		// Mounting the CSI volume is what makes the driver sync the Secret the env reads; the
		// service reads the edge certificate from the mount itself.
		volume, mount := keyVaultVolume(secretProviderClass)
		mounts, volumes = append(mounts, mount), append(volumes, volume)
		container["env"] = append(podIPEnv(), obj{"name": pulumi.String(contract.EnvOperatorToken.Name), "valueFrom": obj{
			"secretKeyRef": obj{"name": pulumi.String(syncedSecret), "key": pulumi.String(contract.OperatorTokenSecret)},
		}})
	}
	container["volumeMounts"] = mounts
	// No "replicas": the HPA owns the count. A manifest that sets it would reset the scale to
	// that value on every change of the Deployment
	// (https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#migrating-deployments-and-statefulsets-to-horizontal-autoscaling).
	return obj{
		"selector": obj{"matchLabels": selectorLabels()},
		"strategy": obj{
			"type": pulumi.String("RollingUpdate"),
			"rollingUpdate": obj{
				"maxUnavailable": pulumi.Int(0),
				"maxSurge":       pulumi.String("25%"),
			},
		},
		"revisionHistoryLimit": pulumi.Int(5),
		"template": obj{
			"metadata": obj{"labels": podLabels},
			"spec": obj{
				"serviceAccountName":            serviceAccount,
				"automountServiceAccountToken":  pulumi.Bool(false), // the workload-identity webhook projects its own token
				"terminationGracePeriodSeconds": pulumi.Int(TerminationGraceSecond),
				"enableServiceLinks":            pulumi.Bool(false),
				"nodeSelector":                  pulumi.StringMap{"kubernetes.azure.com/mode": pulumi.String("user")},
				"securityContext":               podSecurityContext(),
				// The stamp is one zone; spread its pods over that zone's nodes.
				"topologySpreadConstraints": list{obj{
					"maxSkew":           pulumi.Int(1),
					"topologyKey":       pulumi.String("kubernetes.io/hostname"),
					"whenUnsatisfiable": pulumi.String("ScheduleAnyway"),
					"labelSelector":     obj{"matchLabels": selectorLabels()},
				}},
				"containers": list{container},
				"volumes":    volumes,
			},
		},
	}
}

// servicePorts are the public Service's ports: the API (HTTPS on 443 with the edge
// certificate, else HTTP on 80) and IMAP (143 with STARTTLS, and 993). SIP enters through the
// stamp's internal dispatcher and RTP goes to each pod's own address, so neither is here;
// metrics are scraped inside the cluster, never through a Service.
func servicePorts(a Args) list {
	port := func(name string, p int, proto string) obj {
		return obj{"name": pulumi.String(name), "port": pulumi.Int(p), "targetPort": pulumi.String(name), "protocol": pulumi.String(proto)}
	}
	if edgeTLS(a) {
		return list{
			port("https", ServiceHTTPSPort, "TCP"),
			port("imap", ServiceIMAPPort, "TCP"),
			port("imaps", ServiceIMAPSPort, "TCP"),
		}
	}
	return list{
		port("http", ServiceHTTPPort, "TCP"),
		port("imap", ServiceIMAPPort, "TCP"),
	}
}

func serviceSpec(a Args) obj {
	return obj{
		"type":     pulumi.String("LoadBalancer"),
		"selector": selectorLabels(),
		"ports":    servicePorts(a),
		// Local keeps the client's address and skips a second hop; the Azure load balancer
		// then probes kube-proxy's health node port, so only nodes with a ready pod
		// (readiness on contract.ReadinessPath) receive traffic.
		"externalTrafficPolicy": pulumi.String("Local"),
	}
}

// publicPodPorts are the pod ports the public and internal load balancers reach.
func publicPodPorts(a Args, port func(string, int) obj, portRange func(string, int, int) obj) list {
	ports := list{
		port("TCP", HTTPPort), port("UDP", SIPPort), port("TCP", SIPPort), port("TCP", IMAPPort),
		portRange("UDP", a.RTPPortMin, a.RTPPortMax),
	}
	if edgeTLS(a) {
		ports = append(ports, port("TCP", IMAPSPort))
	}
	return ports
}

func networkPolicySpec(a Args) obj {
	port := func(proto string, p int) obj {
		return obj{"protocol": pulumi.String(proto), "port": pulumi.Int(p)}
	}
	portRange := func(proto string, from, to int) obj {
		return obj{"protocol": pulumi.String(proto), "port": pulumi.Int(from), "endPort": pulumi.Int(to)}
	}
	return obj{
		"podSelector": obj{"matchLabels": selectorLabels()},
		"policyTypes": pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		// Callers, HTTP clients and Traffic Manager's probes arrive from the internet through
		// the load balancer; the metrics port only from the cluster's own scraper (AKS runs
		// the managed Prometheus agent in kube-system); nothing else may reach the pods.
		"ingress": list{
			obj{"ports": publicPodPorts(a, port, portRange)},
			obj{
				"from": list{obj{"namespaceSelector": obj{"matchLabels": pulumi.StringMap{
					"kubernetes.io/metadata.name": pulumi.String("kube-system")}}}},
				"ports": list{port("TCP", MetricsPort)},
			},
		},
		// Out: DNS, HTTPS to Azure (Cosmos, Storage, Entra ID, Key Vault), SIP NOTIFY for MWI
		// and RTP back to callers.
		"egress": list{
			obj{"ports": list{port("UDP", 53), port("TCP", 53)}},
			obj{"ports": list{
				port("TCP", 443), port("UDP", SIPPort), port("TCP", SIPPort), portRange("UDP", 1024, 65535),
			}},
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
func stateInitSpec(a Args, image, configMap, serviceAccount pulumi.StringInput) obj {
	return obj{
		"backoffLimit":            pulumi.Int(StateInitBackoffLimit),
		"activeDeadlineSeconds":   pulumi.Int(StateInitDeadlineSeconds),
		"ttlSecondsAfterFinished": pulumi.Int(StateInitTTLSeconds),
		"template": obj{
			"metadata": obj{"labels": merge(stateInitLabels(a.Stamp), pulumi.StringMap{"azure.workload.identity/use": pulumi.String("true")})},
			"spec": obj{
				"restartPolicy":                pulumi.String("Never"), // a new pod per retry keeps the failed one's logs
				"serviceAccountName":           serviceAccount,
				"automountServiceAccountToken": pulumi.Bool(false),
				"enableServiceLinks":           pulumi.Bool(false),
				"nodeSelector":                 pulumi.StringMap{"kubernetes.azure.com/mode": pulumi.String("user")},
				"securityContext":              podSecurityContext(),
				"containers": list{obj{
					"name":            pulumi.String(StateInitName),
					"image":           image,
					"imagePullPolicy": pulumi.String("IfNotPresent"),
					"args":            pulumi.StringArray{pulumi.String(contract.InitStateArg)},
					"envFrom":         envFromConfigMap(configMap),
					"resources": obj{
						"requests": pulumi.StringMap{"cpu": pulumi.String("50m"), "memory": pulumi.String("64Mi")},
						"limits":   pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("128Mi")},
					},
					"securityContext": containerSecurityContext(),
				}},
			},
		},
	}
}
