package config

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Getter reads one Pulumi config value by full key ("voicemail:regions"); *pulumi.Context
// satisfies it through GetConfig.
type Getter interface {
	GetConfig(key string) (string, bool)
}

// FromPulumi reads every known key from the running stack's config and parses it.
func FromPulumi(ctx Getter) (Config, error) {
	raw := map[string]string{}
	for _, k := range Keys() {
		if v, ok := ctx.GetConfig(Namespace + ":" + k); ok {
			raw[k] = v
		}
	}
	return Parse(raw)
}

// LoadStackFile reads the config section of a Pulumi.<stack>.yaml file and parses the
// "voicemail:" keys the way the Pulumi CLI hands them to the program (objects as JSON).
func LoadStackFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read stack file: %w", err)
	}
	raw, err := StackFileValues(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	c, err := Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// StackFileValues extracts the "voicemail:" config values of a stack file as raw strings.
func StackFileValues(data []byte) (map[string]string, error) {
	var doc struct {
		Config map[string]yaml.Node `yaml:"config"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse stack file: %w", err)
	}
	raw := map[string]string{}
	for k, node := range doc.Config {
		if !strings.HasPrefix(k, Namespace+":") {
			continue // other namespaces (azure-native:...) are not ours
		}
		switch node.Kind {
		case yaml.ScalarNode:
			raw[k] = node.Value
		case yaml.MappingNode, yaml.SequenceNode:
			var v any
			if err := node.Decode(&v); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if m, ok := v.(map[string]any); ok {
				if _, secure := m["secure"]; secure && len(m) == 1 {
					return nil, fmt.Errorf("%s: secrets are not supported; this program takes no secret config", k)
				}
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			raw[k] = string(b)
		default:
			return nil, fmt.Errorf("%s: unsupported YAML value", k)
		}
	}
	return raw, nil
}
