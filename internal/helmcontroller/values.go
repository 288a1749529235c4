package helmcontroller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/strvals"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// values are the release's values: the HelmChart's valuesContent, the
// HelmChartConfig's merged over it, then each of set, as k3s passes them to
// helm (-f, -f, --set/--set-string).
func values(spec HelmChartSpec, config *HelmChartConfig) (map[string]any, error) {
	vals, err := parseValues(spec.ValuesContent)
	if err != nil {
		return nil, fmt.Errorf("spec.valuesContent is not valid YAML: %w", err)
	}
	if config != nil {
		over, err := parseValues(config.Spec.ValuesContent)
		if err != nil {
			return nil, fmt.Errorf("HelmChartConfig %s/%s: spec.valuesContent is not valid YAML: %w", config.Namespace, config.Name, err)
		}
		vals = mergeValues(vals, over)
	}
	keys := make([]string, 0, len(spec.Set))
	for k := range spec.Set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := spec.Set[k]
		parse := strvals.ParseIntoString
		if typed(v) {
			parse = strvals.ParseInto
		}
		if err := parse(k+"="+v.String(), vals); err != nil {
			return nil, fmt.Errorf("spec.set[%s]: %w", k, err)
		}
	}
	return vals, nil
}

// typed says whether a set value is meant as a number or a boolean (helm
// --set) rather than a string (--set-string): k3s's rule.
func typed(v intstr.IntOrString) bool {
	return v.Type == intstr.Int || v.StrVal == "true" || v.StrVal == "false"
}

func parseValues(content string) (map[string]any, error) {
	vals := map[string]any{}
	if strings.TrimSpace(content) == "" {
		return vals, nil
	}
	if err := yaml.Unmarshal([]byte(content), &vals); err != nil {
		return nil, err
	}
	if vals == nil { // "null" or only comments
		vals = map[string]any{}
	}
	return vals, nil
}

// mergeValues merges over into base, as a later -f file does: maps are
// merged key by key, anything else is replaced.
func mergeValues(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// digest identifies what an operation would deploy: the chart's bytes, the
// values and the options that shape the release.
func digest(chartSum string, vals map[string]any, namespace string) (string, error) {
	b, err := json.Marshal(struct {
		Chart     string         `json:"chart"`
		Values    map[string]any `json:"values"`
		Namespace string         `json:"namespace"`
	}{chartSum, vals, namespace})
	if err != nil {
		return "", fmt.Errorf("values cannot be encoded: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}
