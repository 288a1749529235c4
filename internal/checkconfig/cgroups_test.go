package checkconfig

import (
	"strings"
	"testing"
)

func TestCgroupV1(t *testing.T) {
	expect(t, find(t, fakeHost(t, goodHost(), nodeOptions(t), true).run(), "cgroup"), OK,
		"cgroup v1: cpu cpuacct cpuset memory pids devices mounted (the v2 hierarchy at /sys/fs/cgroup/unified is not used)")

	// cpu and cpuacct mounted together, as systemd does.
	files := goodHost()
	files["/proc/self/mounts"] = strings.NewReplacer(
		"cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n", "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0\n",
		"cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0\n", "",
		"cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n", "",
	).Replace(files["/proc/self/mounts"])
	expect(t, find(t, fakeHost(t, files, nodeOptions(t), true).run(), "cgroup"), OK, "cgroup v1: cpu cpuacct cpuset memory pids devices mounted")

	noMemory := func() map[string]string {
		files := goodHost()
		files["/proc/self/mounts"] = strings.Replace(files["/proc/self/mounts"], "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n", "", 1)
		return files
	}
	files = noMemory()
	expect(t, find(t, fakeHost(t, files, nodeOptions(t), true).run(), "cgroup"), Missing,
		"cgroup v1 controller memory is not mounted; the kubelet and runc need it", "mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory")

	// A Raspberry Pi's default: memory disabled at boot.
	files = noMemory()
	files["/proc/cgroups"] = strings.Replace(procCgroups, "memory\t4\t41\t1", "memory\t0\t1\t0", 1)
	_, err := start(fakeHost(t, files, nodeOptions(t), false))
	if err == nil || !strings.Contains(err.Error(), "memory is disabled on the kernel command line") || !strings.Contains(err.Error(), "cgroup_enable=memory") {
		t.Errorf("start error = %v", err)
	}

	files = noMemory()
	files["/proc/cgroups"] = strings.Replace(procCgroups, "memory\t4\t41\t1\n", "", 1)
	expect(t, find(t, fakeHost(t, files, nodeOptions(t), true).run(), "cgroup"), Missing, "memory is not in this kernel", "CONFIG_MEMCG")
}

const v2Mounts = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
`

func TestCgroupV2(t *testing.T) {
	v2 := func(controllers, procCgroups string) map[string]string {
		files := goodHost()
		files["/proc/self/mounts"] = v2Mounts
		files["/sys/fs/cgroup/cgroup.controllers"] = controllers
		files["/proc/cgroups"] = procCgroups
		return files
	}
	const v2ProcCgroups = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\ncpu\t0\t1\t1\nmemory\t0\t1\t1\npids\t0\t1\t1\n"
	expect(t, find(t, fakeHost(t, v2("cpuset cpu io memory hugetlb pids rdma misc\n", v2ProcCgroups), nodeOptions(t), true).run(), "cgroup"), OK,
		"cgroup v2: cpu cpuset memory pids available")

	// A container's cgroup namespace whose parent did not delegate pids.
	_, err := start(fakeHost(t, v2("cpuset cpu io memory\n", v2ProcCgroups), nodeOptions(t), false))
	if err == nil || !strings.Contains(err.Error(), "cgroup v2 controller pids is not delegated to this cgroup") {
		t.Errorf("start error = %v", err)
	}
	held := strings.Replace(v2ProcCgroups, "pids\t0", "pids\t8", 1)
	expect(t, find(t, fakeHost(t, v2("cpuset cpu io memory\n", held), nodeOptions(t), true).run(), "cgroup"), Missing,
		"pids is held by a cgroup v1 hierarchy")

	// The node image's entrypoint hides the container's cgroup2 mount
	// under a tmpfs of v1 mounts: v1 it is.
	files := goodHost()
	files["/proc/self/mounts"] = v2Mounts + strings.SplitN(v1Mounts, "\n", 2)[1]
	expect(t, find(t, fakeHost(t, files, nodeOptions(t), true).run(), "cgroup"), OK, "cgroup v1:")
}

func TestNoCgroups(t *testing.T) {
	files := goodHost()
	files["/proc/self/mounts"] = "sysfs /sys sysfs rw 0 0\nproc /proc proc rw 0 0\n"
	expect(t, find(t, fakeHost(t, files, nodeOptions(t), true).run(), "cgroups:"), Missing,
		"no cgroup filesystem is mounted at /sys/fs/cgroup", "cgroupfs-mount")
}
