package killall

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "1234 (my (odd) name) S 77 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615"
	p, err := parseStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if p.ppid != 77 || p.state != 'S' || p.start != 987654 {
		t.Errorf("got %+v", p)
	}
	if _, err := parseStat([]byte("1 (x) S")); err == nil {
		t.Error("want an error for a short stat")
	}
}

func TestSelectTargets(t *testing.T) {
	self := [2]uint64{1, 100}
	other := [2]uint64{1, 200}
	mk := func(pid, ppid int, exe string, id [2]uint64, argv ...string) *proc {
		return &proc{pid: pid, ppid: ppid, exe: exe, exeID: id, argv: argv, state: 'S'}
	}
	sock := "/run/skiff/containerd/containerd.sock"
	procs := map[int]*proc{}
	for _, p := range []*proc{
		mk(1, 0, "/sbin/init", other, "/sbin/init"),
		mk(10, 1, "/usr/local/bin/skiff", self, "skiff", "server", "--token", "x"),
		mk(11, 1, "/opt/skiff-old", [2]uint64{2, 3}, "/opt/skiff-old", "agent"),    // another copy
		mk(12, 1, "/usr/local/bin/skiff", self, "skiff", "kubectl", "get", "pods"), // not a role
		mk(20, 1, "/usr/local/bin/skiff", self, "containerd", "--config", "/var/lib/skiff/agent/etc/containerd/config.toml"),
		mk(21, 1, "/usr/bin/containerd", other, "/usr/bin/containerd"), // Docker's
		mk(30, 1, "/var/lib/skiff/data/x/bin/containerd-shim-runc-v2", other,
			"/var/lib/skiff/data/x/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "abc", "-address", sock),
		mk(31, 30, "/pause", other, "/pause"),
		mk(32, 30, "/bin/sh", other, "sh", "-c", "sleep 1000"),
		mk(33, 32, "/bin/sleep", other, "sleep", "1000"),
		mk(40, 1, "/usr/bin/containerd-shim-runc-v2", other,
			"/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", "def", "-address", "/run/containerd/containerd.sock"),
		mk(41, 40, "/bin/nginx", other, "nginx"), // a Docker container
		// killall itself, run from a shell.
		mk(50, 1, "/bin/bash", other, "-bash"),
		mk(51, 50, "/usr/local/bin/skiff", self, "skiff", "killall"),
		// Left by the server and containerd.
		mk(60, 10, "/usr/sbin/iptables", other, "iptables", "-w", "-S"),
		mk(61, 20, "/bin/true", other, "true"),
	} {
		procs[p.pid] = p
	}
	got := selectTargets(procs, selection{self: 51, selfExe: self, socket: sock})
	want := targets{roles: []int{10, 11}, containerd: []int{20}, shims: []int{30}, containers: []int{31, 32, 33}, children: []int{60, 61}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}

	// A role that is killall's own ancestor is spared, and so are
	// killall and the role's other children.
	procs[51].ppid = 10
	got = selectTargets(procs, selection{self: 51, selfExe: self, socket: sock})
	if !reflect.DeepEqual(got.roles, []int{11}) || !reflect.DeepEqual(got.children, []int{61}) {
		t.Errorf("roles %v, want [11]; children %v, want [61]", got.roles, got.children)
	}

	// containerd found by its pid file, whatever binary it is.
	procs[22] = mk(22, 1, "/opt/bin/containerd", other, "containerd")
	got = selectTargets(procs, selection{self: 51, selfExe: self, socket: sock, containerdPID: 22})
	if !reflect.DeepEqual(got.containerd, []int{20, 22}) {
		t.Errorf("containerd %v, want [20 22]", got.containerd)
	}

	// The bundle's containerd found by the socket on its command line,
	// with no pid file; the host's containerd is left alone.
	procs[23] = mk(23, 10, "/data/d/data/abc/bin/containerd", other,
		"/data/d/data/abc/bin/containerd", "--config", "/data/d/agent/etc/containerd/config.toml", "--address", sock)
	procs[24] = mk(24, 1, "/usr/bin/containerd", other, "/usr/bin/containerd", "--address", "/run/containerd/containerd.sock")
	got = selectTargets(procs, selection{self: 51, selfExe: self, socket: sock})
	if !reflect.DeepEqual(got.containerd, []int{20, 23}) {
		t.Errorf("containerd %v, want [20 23]", got.containerd)
	}
}

const mountinfo = `22 1 0:21 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,mode=755
23 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
100 22 0:50 / /run/skiff/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw shared:60 - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c
101 22 0:51 / /run/skiff/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/shm rw shared:61 - tmpfs shm rw
102 23 0:52 / /var/lib/kubelet/pods/uid/volumes/kubernetes.io~projected/kube-api-access-x rw shared:62 - tmpfs tmpfs rw
103 23 0:53 / /var/lib/kubelet/pods/uid/volumes/kubernetes.io~empty\040dir/cache rw shared:63 - tmpfs tmpfs rw
104 22 0:4 net:[4026532] /run/netns/cni-1234 rw shared:64 - nsfs nsfs rw
105 22 0:4 net:[4026533] /run/netns/other rw shared:65 - nsfs nsfs rw
106 23 0:54 / /var/lib/skiff/agent/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs rw - overlay overlay rw
107 23 0:55 / /var/lib/skiff/server/db rw - tmpfs tmpfs rw
108 23 0:56 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw
109 23 0:57 / /var/lib/kubelet/pods/uid/volumes/kubernetes.io~projected/kube-api-access-x rw - tmpfs tmpfs rw
110 23 0:58 / /var/lib/kubelet/pods-other rw - tmpfs tmpfs rw
`

func TestMountInfoOrder(t *testing.T) {
	ms, err := parseMountInfo(strings.NewReader(mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 13 || ms[5].point != "/var/lib/kubelet/pods/uid/volumes/kubernetes.io~empty dir/cache" || ms[2].fsType != "overlay" {
		t.Fatalf("parsed %+v", ms)
	}
	got := toUnmount(ms, []string{"/run/skiff", "/var/lib/kubelet/pods", "/var/lib/kubelet/plugins", "/run/netns/cni-", "/var/lib/skiff/agent/containerd"})
	// Deepest first; at one depth the later mount first, so that of two
	// stacked on one point the upper goes first.
	want := []string{
		"/var/lib/skiff/agent/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs",
		"/var/lib/kubelet/pods/uid/volumes/kubernetes.io~projected/kube-api-access-x", // 109
		"/var/lib/kubelet/pods/uid/volumes/kubernetes.io~empty dir/cache",
		"/var/lib/kubelet/pods/uid/volumes/kubernetes.io~projected/kube-api-access-x", // 102
		"/run/skiff/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/shm",
		"/run/skiff/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs",
		"/run/netns/cni-1234",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := 1; i < len(got); i++ {
		if strings.Count(got[i], "/") > strings.Count(got[i-1], "/") {
			t.Errorf("%s comes after the shallower %s", got[i], got[i-1])
		}
	}
	if _, err := parseMountInfo(strings.NewReader("garbage line\n")); err == nil {
		t.Error("want an error for a malformed line")
	}
}

func TestChainAndLinkSelection(t *testing.T) {
	chains := []string{
		"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING",
		"SKIFF-FORWARD", "SKIFF-POSTROUTING",
		"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-FORWARD", "KUBE-FIREWALL",
		"KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY", "KUBE-SEP-ABCDEF", "KUBE-SVC-ABCDEF",
		"KUBE-EXT-ABCDEF", "KUBE-MARK-MASQ", "KUBE-PROXY-FIREWALL",
		"CNI-HOSTPORT-DNAT", "CNI-DN-1234", "CNI-HOSTPORT-MASQ", "FLANNEL-POSTRTG",
		"DOCKER", "DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-FORWARD", "LIBVIRT_FWO", "f2b-sshd", "KUBERNETES", "skiff-lower",
	}
	var removed []string
	for _, c := range chains {
		if chainToRemove(c) {
			removed = append(removed, c)
		}
	}
	want := chains[5:23]
	sort.Strings(removed)
	want = append([]string(nil), want...)
	sort.Strings(want)
	if !reflect.DeepEqual(removed, want) {
		t.Errorf("removed %v\nwant %v", removed, want)
	}
	for name, want := range map[string]bool{
		"flannel.1": true, "flannel-v6.1": true, "skiff.1": true, "skiff.vxlan": true,
		"cni0": false, "docker0": false, "eth0": false, "vethabc": false, "skiffy": false,
	} {
		if linkToRemove(name) != want {
			t.Errorf("linkToRemove(%s) = %v", name, !want)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{`a\040b`: "a b", `\134x`: `\x`, `plain`: "plain", `end\04`: `end\04`} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSelectTargetsSparesSkiffInOtherPIDNamespaces(t *testing.T) {
	procs := map[int]*proc{
		10: {pid: 10, ppid: 1, argv: []string{"/usr/local/bin/skiff", "server"}, pidNS: 1},
		20: {pid: 20, ppid: 1, argv: []string{"/usr/local/bin/skiff", "server"}, pidNS: 2}, // a node container's
		21: {pid: 21, ppid: 20, argv: []string{"containerd", "--config", "/var/lib/skiff/agent/etc/containerd/config.toml"}, pidNS: 2},
	}
	got := selectTargets(procs, selection{self: 99, pidNS: 1, socket: "/run/skiff/containerd/containerd.sock"})
	if len(got.roles) != 1 || got.roles[0] != 10 || len(got.containerd) != 0 {
		t.Fatalf("picked roles %v and containerd %v; want only pid 10", got.roles, got.containerd)
	}
}
