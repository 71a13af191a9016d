// Package rules holds the carrier-grade guardrails as plain Go functions over a
// resource's type token, logical name and inputs. The policy pack (policy/) runs
// them inside `pulumi preview`/`pulumi up`; tests/ runs the same functions over
// the mocked dev and prod graphs and over deliberately broken inputs.
package rules

import (
	"fmt"
	"sort"
)

// Resource is one registered resource as a plain value. Its JSON form is the
// inventory snapshot entry ({type, name, parent, inputs}).
type Resource struct {
	Type   string         `json:"type"`
	Name   string         `json:"name"`
	Parent string         `json:"parent,omitempty"`
	Inputs map[string]any `json:"inputs"`
	// Deps maps a property to the logical names of the resources its value came
	// from (the engine's property dependencies). Stack rules need it after an
	// update, when they see outputs: azure-native outputs drop path parameters
	// such as accountName, so values alone cannot link a child to its parent.
	Deps map[string][]string `json:"-"`
	// DependsOn lists the logical names of resources this one waits for besides
	// (or including) Deps: the order in which the engine creates them. The
	// inventory snapshots record the explicit ones.
	DependsOn []string `json:"dependsOn,omitempty"`
}

// Violation is one broken rule on one resource.
type Violation struct {
	Rule    string
	Type    string
	Name    string
	Message string
}

func (v Violation) String() string {
	return fmt.Sprintf("[%s] %s %q: %s", v.Rule, v.Type, v.Name, v.Message)
}

// ResourceRule judges one resource alone.
type ResourceRule struct {
	ID          string
	Description string
	// Doc is the documentation of the Azure (or Kubernetes) behaviour the rule encodes.
	Doc   string
	Types []TypeRef
	// Check returns one message per problem; nil means compliant.
	Check func(r Resource) []string
}

// Applies reports whether the rule looks at resources of this type token.
func (rr ResourceRule) Applies(token string) bool { return matchesAny(rr.Types, token) }

// Run checks r if the rule applies to its type.
func (rr ResourceRule) Run(r Resource) []Violation {
	if !rr.Applies(r.Type) {
		return nil
	}
	var out []Violation
	for _, msg := range rr.Check(r) {
		out = append(out, Violation{Rule: rr.ID, Type: r.Type, Name: r.Name, Message: msg})
	}
	return out
}

// StackRule judges relations between resources, so it sees the whole stack.
type StackRule struct {
	ID          string
	Description string
	Doc         string // documentation of the behaviour the rule encodes
	Check       func(rs []Resource) []Violation
}

// Run checks the stack and stamps the rule ID on each violation.
func (sr StackRule) Run(rs []Resource) []Violation {
	out := sr.Check(rs)
	for i := range out {
		out[i].Rule = sr.ID
	}
	return out
}

// Evaluate runs every resource rule on every resource and every stack rule on the
// whole set, returning violations in a stable order.
func Evaluate(rs []Resource) []Violation {
	var out []Violation
	for _, rule := range ResourceRules() {
		for _, r := range rs {
			out = append(out, rule.Run(r)...)
		}
	}
	for _, rule := range StackRules() {
		out = append(out, rule.Run(rs)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Name < b.Name
	})
	return out
}
