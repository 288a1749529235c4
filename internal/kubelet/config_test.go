package kubelet

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestParseTaints(t *testing.T) {
	got, err := parseTaints([]string{"dedicated=edge:NoSchedule", "gpu:NoExecute"})
	if err != nil {
		t.Fatal(err)
	}
	want := []v1.Taint{
		{Key: "dedicated", Value: "edge", Effect: v1.TaintEffectNoSchedule},
		{Key: "gpu", Effect: v1.TaintEffectNoExecute},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("parseTaints = %v, want %v", got, want)
	}
	for _, bad := range []string{"novalue", "k=v:Sometimes", "=v:NoSchedule"} {
		if _, err := parseTaints([]string{bad}); err == nil {
			t.Errorf("parseTaints(%q) accepted it", bad)
		}
	}
}
