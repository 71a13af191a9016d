package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Unknown stands for a value Pulumi does not know yet (a computed output during
// preview). Rules never fail on it: the engine analyzes the resource again with
// known inputs before it is created or updated.
type Unknown struct{}

func (Unknown) String() string { return "<unknown>" }

func isUnknown(v any) bool {
	_, ok := v.(Unknown)
	return ok
}

// lookup walks nested maps by key. It returns nil when a key is missing and
// Unknown when any step on the way is unknown.
func lookup(m map[string]any, path ...string) any {
	var cur any = m
	for _, k := range path {
		switch c := cur.(type) {
		case Unknown:
			return c
		case map[string]any:
			cur = c[k]
		default:
			return nil
		}
	}
	return cur
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func asString(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

func asNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// show renders a value for a violation message.
func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "unset"
	case string:
		return fmt.Sprintf("%q", x)
	case float64:
		if x == math.Trunc(x) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%g", x)
	}
	return fmt.Sprintf("%v", v)
}

// wantBool reports a message unless the value at path is the wanted bool.
// absentOK allows a missing value when the Azure default is the wanted one.
func wantBool(in map[string]any, want, absentOK bool, path ...string) []string {
	v := lookup(in, path...)
	if isUnknown(v) {
		return nil
	}
	if v == nil && absentOK {
		return nil
	}
	if b, ok := v.(bool); ok && b == want {
		return nil
	}
	return []string{fmt.Sprintf("%s must be %t (got %s)", strings.Join(path, "."), want, show(v))}
}

// normRegion makes "West Europe" and "westeurope" compare equal.
func normRegion(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, " ", ""))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
