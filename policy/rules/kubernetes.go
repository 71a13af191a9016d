package rules

import (
	"fmt"
	"strings"

	"github.com/voicemail-platform/voicemail/contract"
)

// podSpec returns spec.template.spec of a workload.
func podSpec(r Resource) any { return lookup(r.Inputs, "spec", "template", "spec") }

func containerName(c map[string]any, i int) string {
	if n, _ := asString(lookup(c, "name")); n != "" {
		return n
	}
	return fmt.Sprintf("containers[%d]", i)
}

// runsAsRoot decides from one securityContext: decided=false means it says nothing.
func runsAsRoot(sc map[string]any) (root, decided bool) {
	if u, ok := asNumber(lookup(sc, "runAsUser")); ok {
		return u == 0, true
	}
	if b, ok := lookup(sc, "runAsNonRoot").(bool); ok {
		return !b, true
	}
	return false, false
}

func checkNonRoot(r Resource) []string {
	ps := podSpec(r)
	if isUnknown(ps) {
		return nil
	}
	spec := asMap(ps)
	podSC := asMap(lookup(spec, "securityContext"))
	podRoot, podDecided := runsAsRoot(podSC)
	var out []string
	for _, key := range []string{"initContainers", "containers"} {
		for i, c := range asSlice(lookup(spec, key)) {
			cm := asMap(c)
			if isUnknown(c) || isUnknown(lookup(cm, "securityContext")) {
				continue
			}
			root, decided := runsAsRoot(asMap(lookup(cm, "securityContext")))
			if !decided {
				root, decided = podRoot, podDecided
			}
			switch {
			case !decided:
				out = append(out, fmt.Sprintf("container %s must run as non-root: set securityContext.runAsNonRoot: true (pod or container)", containerName(cm, i)))
			case root:
				out = append(out, fmt.Sprintf("container %s runs as root (runAsUser 0 or runAsNonRoot false)", containerName(cm, i)))
			}
		}
	}
	if len(asSlice(lookup(spec, "containers"))) == 0 && !isUnknown(lookup(spec, "containers")) {
		out = append(out, "spec.template.spec.containers is empty")
	}
	return out
}

func checkProbes(r Resource) []string {
	ps := podSpec(r)
	if isUnknown(ps) {
		return nil
	}
	var out []string
	for i, c := range asSlice(lookup(asMap(ps), "containers")) {
		if isUnknown(c) {
			continue
		}
		cm := asMap(c)
		for _, probe := range []string{"livenessProbe", "readinessProbe"} {
			v := lookup(cm, probe)
			if isUnknown(v) || len(asMap(v)) > 0 {
				continue
			}
			out = append(out, fmt.Sprintf("container %s has no %s", containerName(cm, i), probe))
		}
	}
	return out
}

// namespaceOf returns a resource's namespace; ok=false when unknown.
func namespaceOf(r Resource) (string, bool) {
	v := lookup(r.Inputs, "metadata", "namespace")
	if isUnknown(v) {
		return "", false
	}
	if s, _ := asString(v); s != "" {
		return s, true
	}
	return "default", true
}

// selects reports whether a label selector matches labels. An empty selector
// selects nothing here: a PDB that protects "everything" is not a deliberate one.
func selects(selector map[string]any, labels map[string]any) bool {
	ml := asMap(lookup(selector, "matchLabels"))
	exprs := asSlice(lookup(selector, "matchExpressions"))
	if len(ml) == 0 && len(exprs) == 0 {
		return false
	}
	for k, v := range ml {
		if labels[k] != v {
			return false
		}
	}
	for _, e := range exprs {
		em := asMap(e)
		key, _ := asString(lookup(em, "key"))
		op, _ := asString(lookup(em, "operator"))
		val, has := labels[key]
		in := false
		for _, x := range asSlice(lookup(em, "values")) {
			if x == val {
				in = true
			}
		}
		switch op {
		case "In":
			if !has || !in {
				return false
			}
		case "NotIn":
			if has && in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func checkPDBs(rs []Resource) []Violation {
	var pdbs []Resource
	for _, r := range rs {
		if pdb.Matches(r.Type) {
			pdbs = append(pdbs, r)
		}
	}
	var out []Violation
	for _, w := range rs {
		if !deployment.Matches(w.Type) && !statefulSet.Matches(w.Type) {
			continue
		}
		labels := lookup(w.Inputs, "spec", "template", "metadata", "labels")
		if isUnknown(labels) {
			continue
		}
		wns, wnsKnown := namespaceOf(w)
		covered := false
		for _, p := range pdbs {
			pns, pnsKnown := namespaceOf(p)
			if wnsKnown && pnsKnown && wns != pns {
				continue
			}
			sel := lookup(p.Inputs, "spec", "selector")
			if isUnknown(sel) || selects(asMap(sel), asMap(labels)) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, Violation{Type: w.Type, Name: w.Name,
				Message: "no PodDisruptionBudget in the same namespace selects this workload's pod labels"})
		}
	}
	return out
}

func checkNoSharedMediaIP(r Resource) []string {
	if v := lookup(r.Inputs, "data", contract.EnvSIPMediaIP.Name); v != nil {
		return []string{"data." + contract.EnvSIPMediaIP.Name + " gives every pod one media address; set it per pod from status.podIP"}
	}
	return nil
}

func checkNoRTPPorts(r Resource) []string {
	var out []string
	for i, p := range asSlice(lookup(r.Inputs, "spec", "ports")) {
		name, _ := asString(lookup(asMap(p), "name"))
		if strings.HasPrefix(name, "rtp") {
			out = append(out, fmt.Sprintf("spec.ports[%d] %q publishes RTP through the Service", i, name))
		}
	}
	return out
}
