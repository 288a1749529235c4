package kubelet

import (
	"context"
	"net"
	"path/filepath"
	"reflect"
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

// skiff's kubelet feature gates hold unless the user names them; a user's
// --kubelet-arg=feature-gates=... replaces the file's list upstream, and
// must not drop skiff's defaults for the gates it does not mention.
func TestKubeletFeatureGateDefaults(t *testing.T) {
	for _, c := range []struct {
		user string
		want map[string]bool
	}{
		{"", map[string]bool{"PodAndContainerStatsFromCRI": true}},
		{"feature-gates=KubeletPSI=true", map[string]bool{"PodAndContainerStatsFromCRI": true, "KubeletPSI": true}},
		{"feature-gates=PodAndContainerStatsFromCRI=false", map[string]bool{"PodAndContainerStatsFromCRI": false}},
	} {
		dir := t.TempDir()
		k := &Kubelet{Config: Config{
			NodeName: "n", NodeIP: net.ParseIP("10.0.0.2"), ClusterDNS: net.ParseIP("10.43.0.10"), ClusterDomain: "cluster.local",
			CgroupDriver: "cgroupfs", RootDir: filepath.Join(dir, "root"), ConfigDir: dir,
		}}
		if c.user != "" {
			k.Config.ExtraArgs = []string{c.user}
		}
		path, err := k.Config.configFile()
		if err != nil {
			t.Fatal(err)
		}
		s, err := k.server(context.Background(), path)
		if err != nil {
			t.Fatalf("%q: %v", c.user, err)
		}
		if !reflect.DeepEqual(s.FeatureGates, c.want) {
			t.Errorf("--kubelet-arg %q: feature gates %v, want %v", c.user, s.FeatureGates, c.want)
		}
	}
}
