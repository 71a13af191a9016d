// Package deploytest helps Pulumi mock tests of the workload: it answers the AKS credentials
// invoke, records every registration, and strict-decodes Kubernetes inputs into the
// k8s.io/api types. Only tests import it.
package deploytest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"net/http"
	"net/http/httptest"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/voicemail-platform/voicemail/app/internal/health"
	"github.com/voicemail-platform/voicemail/app/internal/store/embedded"
	"github.com/voicemail-platform/voicemail/contract"
)

// IsCredentialsCall reports whether an invoke token asks AKS for user credentials (any API version).
func IsCredentialsCall(token string) bool {
	return strings.HasPrefix(token, "azure-native:containerservice") && strings.HasSuffix(token, ":listManagedClusterUserCredentials")
}

// AKSKubeconfig is a kubeconfig the way AKS returns it for format=exec.
func AKSKubeconfig(cluster string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: Y2E=
    server: https://%[1]s-dns.hcp.westeurope.azmk8s.io:443
  name: %[1]s
contexts:
- context:
    cluster: %[1]s
    user: clusterUser_rg_%[1]s
  name: %[1]s
current-context: %[1]s
users:
- name: clusterUser_rg_%[1]s
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - get-token
      - --environment
      - AzurePublicCloud
      - --server-id
      - 6dae42f8-4368-4678-94ff-3960e28e3630
      - --client-id
      - 80faf920-1908-4b52-b5ef-a8e7bedfc67a
      - --tenant-id
      - 00000000-0000-0000-0000-000000000001
      - --login
      - devicecode
      command: kubelogin
      env: null
      interactiveMode: IfAvailable
      provideClusterInfo: false
`, cluster)
}

// AnswerCall answers the credentials invoke; ok=false for any other token.
func AnswerCall(args pulumi.MockCallArgs) (resource.PropertyMap, bool) {
	if !IsCredentialsCall(args.Token) {
		return nil, false
	}
	name := "cluster"
	if v, ok := args.Args["resourceName"]; ok && v.IsString() {
		name = v.StringValue()
	}
	return resource.NewPropertyMapFromMap(map[string]any{
		"kubeconfigs": []any{map[string]any{
			"name":  "clusterUser",
			"value": base64.StdEncoding.EncodeToString([]byte(AKSKubeconfig(name))),
		}},
	}), true
}

// Registration is one resource the program registered.
type Registration struct {
	Type     string
	Name     string
	URN      string
	Parent   string // parent URN
	Provider string // provider reference "URN::ID", empty for the default provider
	Custom   bool
	Inputs   resource.PropertyMap
	// IgnoreChanges are the resource's ignoreChanges paths.
	IgnoreChanges []string
}

// Recorder wraps a mock monitor: it answers the credentials invoke, records registrations
// and passes everything else on.
type Recorder struct {
	Inner pulumi.MockResourceMonitor
	// Project and Stack must be the ones given to pulumi.WithMocks, for URNs.
	Project, Stack string

	mu   sync.Mutex
	regs []Registration
}

func (r *Recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	if out, ok := AnswerCall(args); ok {
		return out, nil
	}
	return r.Inner.Call(args)
}

func (r *Recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	id, state, err := r.Inner.NewResource(args)
	reg := Registration{Type: args.TypeToken, Name: args.Name, Provider: args.Provider, Custom: args.Custom, Inputs: args.Inputs}
	if rpc := args.RegisterRPC; rpc != nil {
		reg.Parent = rpc.GetParent()
		reg.IgnoreChanges = rpc.GetIgnoreChanges()
	}
	parentType := tokens.Type("")
	if p := resource.URN(reg.Parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	reg.URN = string(resource.NewURN(tokens.QName(r.Stack), tokens.PackageName(r.Project), parentType, tokens.Type(args.TypeToken), args.Name))
	r.mu.Lock()
	r.regs = append(r.regs, reg)
	r.mu.Unlock()
	return id, state, err
}

// Registrations returns what was registered, sorted by (type, name).
func (r *Recorder) Registrations() []Registration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Registration(nil), r.regs...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// URNName is the logical name in a URN.
func URNName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// URNType is the type token in a URN (the last one, for nested components).
func URNType(urn string) string { return string(resource.URN(urn).Type()) }

// Ancestors returns the URNs above reg, nearest first.
func (r *Recorder) Ancestors(reg Registration) []string {
	byURN := map[string]Registration{}
	for _, x := range r.Registrations() {
		byURN[x.URN] = x
	}
	var out []string
	for p := reg.Parent; p != ""; p = byURN[p].Parent {
		out = append(out, p)
		if _, ok := byURN[p]; !ok {
			break
		}
	}
	return out
}

// Plain turns mock inputs into plain JSON values; secrets are unwrapped and an unknown value
// is an error, since a manifest must be fully known under mocks.
func Plain(pm resource.PropertyMap) (map[string]any, error) {
	var bad []string
	var conv func(v resource.PropertyValue, path string) any
	conv = func(v resource.PropertyValue, path string) any {
		switch {
		case v.IsSecret():
			return conv(v.SecretValue().Element, path)
		case v.IsOutput():
			if !v.OutputValue().Known {
				bad = append(bad, path)
				return nil
			}
			return conv(v.OutputValue().Element, path)
		case v.IsComputed():
			bad = append(bad, path)
			return nil
		case v.IsArray():
			out := []any{}
			for i, e := range v.ArrayValue() {
				out = append(out, conv(e, fmt.Sprintf("%s[%d]", path, i)))
			}
			return out
		case v.IsObject():
			out := map[string]any{}
			for k, e := range v.ObjectValue() {
				out[string(k)] = conv(e, path+"."+string(k))
			}
			return out
		case v.IsNumber():
			f := v.NumberValue()
			if f == float64(int64(f)) {
				return int64(f)
			}
			return f
		default:
			return v.Mappable()
		}
	}
	out := map[string]any{}
	for k, v := range pm {
		out[string(k)] = conv(v, string(k))
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("unknown values at %v", bad)
	}
	return out, nil
}

// KubernetesType maps a pulumi-kubernetes type token to the k8s.io/api type it must decode
// into; ok=false for tokens the workload does not use.
func KubernetesType(token string) (any, bool) {
	switch token {
	case "kubernetes:core/v1:Namespace":
		return &corev1.Namespace{}, true
	case "kubernetes:core/v1:ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "kubernetes:core/v1:ConfigMap":
		return &corev1.ConfigMap{}, true
	case "kubernetes:core/v1:Service":
		return &corev1.Service{}, true
	case "kubernetes:apps/v1:Deployment":
		return &appsv1.Deployment{}, true
	case "kubernetes:autoscaling/v2:HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, true
	case "kubernetes:batch/v1:Job":
		return &batchv1.Job{}, true
	case "kubernetes:policy/v1:PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "kubernetes:networking.k8s.io/v1:NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	}
	return nil, false
}

// StrictDecode decodes a Kubernetes resource's inputs into its k8s.io/api type; unknown
// fields, wrong types and a wrong apiVersion/kind are errors.
func StrictDecode(token string, inputs resource.PropertyMap) (any, error) {
	obj, ok := KubernetesType(token)
	if !ok {
		return nil, fmt.Errorf("%s: not a workload Kubernetes type", token)
	}
	plain, err := Plain(inputs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", token, err)
	}
	raw, err := json.Marshal(plain)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", token, err, raw)
	}
	// apiVersion/kind must be the ones of the token.
	parts := strings.Split(token, ":")
	group, kind := parts[1], parts[2]
	group = strings.TrimPrefix(group, "core/")
	if plain["apiVersion"] != group || plain["kind"] != kind {
		return nil, fmt.Errorf("%s: apiVersion/kind %v/%v", token, plain["apiVersion"], plain["kind"])
	}
	return obj, nil
}

// ServedStatus starts the voicemail service's real health handler (on an embedded store in
// dir, the state marker present) and returns the status it answers for GET path, so probe
// paths are checked against what the service serves, not against a copy of its routes.
func ServedStatus(dir, path string) (int, error) {
	b, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	mux := http.NewServeMux()
	health.New(health.Options{Backend: b, Stamp: "probe-check", Region: "local"}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// CheckServiceEnv loads env as the pod would see it with the stamp contract's loader, and
// reports any error plus every key it did not read: a ConfigMap key the service ignores is a
// typo or a stale name.
func CheckServiceEnv(env map[string]string) (unread []string, err error) {
	read := map[string]bool{}
	getenv := func(k string) string { read[k] = true; return env[k] }
	if _, err := contract.LoadStamp(getenv); err != nil {
		return nil, err
	}
	for k := range env {
		if !read[k] {
			unread = append(unread, k)
		}
	}
	sort.Strings(unread)
	return unread, nil
}
