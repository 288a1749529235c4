package checkconfig

import "testing"

func TestNamespaces(t *testing.T) {
	expect(t, find(t, fakeHost(t, goodHost(), nodeOptions(t), true).run(), "namespaces:"), OK,
		"namespaces: mnt uts ipc pid net user cgroup")

	files := goodHost()
	delete(files, "/proc/self/ns/pid")
	delete(files, "/proc/self/ns/net")
	results := fakeHost(t, files, nodeOptions(t), true).run()
	expect(t, find(t, results, "namespaces:"), Missing,
		"this kernel has no pid, net namespace (no /proc/self/ns/pid)", "use a kernel built with CONFIG_PID_NS and CONFIG_NET_NS")

	// User namespaces serve only some pods.
	files = goodHost()
	delete(files, "/proc/self/ns/user")
	results = fakeHost(t, files, nodeOptions(t), true).run()
	expect(t, find(t, results, "namespaces: mnt"), OK, "mnt uts ipc pid net cgroup")
	expect(t, find(t, results, "namespaces: this kernel has no user"), Warning, "hostUsers: false", "CONFIG_USER_NS")
	if _, err := start(fakeHost(t, files, nodeOptions(t), false)); err != nil {
		t.Errorf("start refused a kernel without user namespaces: %v", err)
	}
}
