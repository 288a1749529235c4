package benchutil

import "testing"

func TestIsSkiffProcess(t *testing.T) {
	for _, c := range []struct {
		exe  string
		argv []string
		want bool
	}{
		{"skiff", []string{"skiff", "server", "--data-dir", "/d"}, true},
		{"skiff", []string{"/usr/local/bin/skiff", "agent"}, true},
		{"skiff.new", []string{"./bin/skiff", "server"}, true},
		{"skiff", []string{"skiff", "killall"}, false},
		{"skiff", []string{"kubectl", "get", "pods"}, false},
		{"containerd", []string{"/d/bin/containerd", "--address", SkiffSocket}, true},
		{"containerd", []string{"/usr/bin/containerd"}, false},
		{"go", []string{"go", "run", "./scripts/bench/node"}, false},
	} {
		if got := isSkiffProcess(c.exe, c.argv); got != c.want {
			t.Errorf("isSkiffProcess(%q, %q) = %v, want %v", c.exe, c.argv, got, c.want)
		}
	}
}
