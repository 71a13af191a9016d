package main

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/voicemail-platform/voicemail/policy/rules"
)

// plain turns an engine property value into the plain Go value the rules read.
// Unknown (computed) values become rules.Unknown so rules can skip them.
func plain(v property.Value) any {
	switch {
	case v.IsComputed():
		return rules.Unknown{}
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.AsBool()
	case v.IsNumber():
		return v.AsNumber()
	case v.IsString():
		return v.AsString()
	case v.IsArray():
		arr := v.AsArray()
		out := make([]any, 0, arr.Len())
		for _, e := range arr.All {
			out = append(out, plain(e))
		}
		return out
	case v.IsMap():
		return plainMap(v.AsMap())
	case v.IsResourceReference():
		ref := v.AsResourceReference()
		if id, ok := ref.IDString(); ok {
			return id
		}
		return string(ref.URN)
	}
	// Assets and archives carry nothing the rules look at.
	return nil
}

func plainMap(m property.Map) map[string]any {
	out := make(map[string]any, m.Len())
	for k, v := range m.All {
		out[k] = plain(v)
	}
	return out
}

// unmarshal decodes the engine's wire properties, keeping unknowns and secrets.
func unmarshal(label string, s *structpb.Struct) (property.Map, error) {
	pm, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		Label:            label,
		KeepUnknowns:     true,
		KeepSecrets:      true,
		KeepResources:    true,
		KeepOutputValues: true,
	})
	if err != nil {
		return property.Map{}, fmt.Errorf("unmarshal properties of %s: %w", label, err)
	}
	return resource.FromResourcePropertyMap(pm), nil
}

// parentName returns the logical name in a URN ("" when there is none).
func parentName(urn string) string {
	if urn == "" {
		return ""
	}
	u, err := resource.ParseURN(urn)
	if err != nil {
		return ""
	}
	return u.Name()
}
