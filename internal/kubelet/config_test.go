package kubelet

import (
	"context"
	"net"
	"os"
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

func TestResolvConf(t *testing.T) {
	dir := t.TempDir()
	given := filepath.Join(dir, "given.conf")
	if err := os.WriteFile(given, []byte("search example.com\nnameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ResolvConf(given, dir); err != nil || got != given {
		t.Errorf("ResolvConf(%s) = %q, %v; want the file given", given, got, err)
	}
	empty := filepath.Join(dir, "empty.conf")
	if err := os.WriteFile(empty, []byte("search example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{empty, filepath.Join(dir, "missing.conf")} {
		if _, err := ResolvConf(bad, dir); err == nil {
			t.Errorf("ResolvConf(%s) accepted a file with no nameserver", bad)
		}
	}
	// Chosen from the host, the file names a nameserver a pod can reach:
	// the host's own, or a fallback written into a folder that may not
	// exist yet.
	fallbackDir := filepath.Join(dir, "not", "yet")
	got, err := ResolvConf("", fallbackDir)
	if err != nil {
		t.Fatal(err)
	}
	servers, err := nameservers(got)
	if err != nil || len(servers) == 0 || allLoopback(servers) {
		t.Errorf("ResolvConf chose %s, with nameservers %v (%v): want one a pod can reach", got, servers, err)
	}
}
