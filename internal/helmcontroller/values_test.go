package helmcontroller

import (
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestValuesMergeConfigAndSet(t *testing.T) {
	spec := HelmChartSpec{
		ValuesContent: "replicas: 1\nimage:\n  repository: a\n  tag: v1\nlist: [1, 2]\n",
		Set: map[string]intstr.IntOrString{
			"image.tag": intstr.FromString("v3"),
			"port":      intstr.FromInt32(8080),
			"debug":     intstr.FromString("true"),
			"version":   intstr.FromString("1.10"),
		},
	}
	config := &HelmChartConfig{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "y"},
		Spec: HelmChartConfigSpec{ValuesContent: "replicas: 2\nimage:\n  tag: v2\nlist: [3]\n"}}
	got, err := values(spec, config)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"replicas": float64(2),
		"image":    map[string]any{"repository": "a", "tag": "v3"},
		"list":     []any{float64(3)},
		"port":     int64(8080),
		"debug":    true,
		// A string stays a string, as --set-string keeps it: 1.10 is not 1.1.
		"version": "1.10",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("values:\n got %#v\nwant %#v", got, want)
	}
}

func TestValuesBadYAMLSaysWhere(t *testing.T) {
	_, err := values(HelmChartSpec{ValuesContent: "a: [1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "spec.valuesContent") {
		t.Errorf("err = %v, want one naming spec.valuesContent", err)
	}
	config := &HelmChartConfig{ObjectMeta: metav1.ObjectMeta{Name: "traefik", Namespace: "kube-system"},
		Spec: HelmChartConfigSpec{ValuesContent: "a: {"}}
	_, err = values(HelmChartSpec{}, config)
	if err == nil || !strings.Contains(err.Error(), "HelmChartConfig kube-system/traefik") {
		t.Errorf("err = %v, want one naming the HelmChartConfig", err)
	}
}

func TestDigestChangesWithWhatIsDeployed(t *testing.T) {
	base, _ := digest("sum", map[string]any{"a": 1}, "ns")
	same, _ := digest("sum", map[string]any{"a": 1}, "ns")
	if base != same {
		t.Fatal("digest is not stable")
	}
	for name, d := range map[string]func() (string, error){
		"chart":     func() (string, error) { return digest("other", map[string]any{"a": 1}, "ns") },
		"values":    func() (string, error) { return digest("sum", map[string]any{"a": 2}, "ns") },
		"namespace": func() (string, error) { return digest("sum", map[string]any{"a": 1}, "other") },
	} {
		if got, _ := d(); got == base {
			t.Errorf("a different %s gives the same digest", name)
		}
	}
}
