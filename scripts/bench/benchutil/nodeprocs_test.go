package benchutil

import (
	"slices"
	"testing"
)

func TestSortNodeProcs(t *testing.T) {
	const server = 100
	table := []Proc{
		{PID: 1, PPID: 0, Argv: []string{"/sbin/init"}},
		{PID: server, PPID: 50, Argv: []string{"/usr/local/bin/skiff", "server"}},
		{PID: 101, PPID: server, Argv: []string{"/var/lib/skiff/data/abc/bin/containerd", "--config", "c.toml", "--address", SkiffSocket}},
		// Another containerd on the host (Docker's) is not the node's.
		{PID: 90, PPID: 1, Argv: []string{"/usr/bin/containerd", "--address", "/run/containerd/containerd.sock"}},
		// Shims re-parent to init; their containers are their children.
		{PID: 200, PPID: 1, Argv: []string{"/x/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "a", "-address", SkiffSocket}},
		{PID: 201, PPID: 200, Argv: []string{"/pause"}},
		{PID: 202, PPID: 200, Argv: []string{"/coredns", "-conf", "/etc/coredns/Corefile"}},
		{PID: 203, PPID: 202, Argv: []string{"/coredns-child"}},
		{PID: 300, PPID: 1, Argv: []string{"/x/containerd-shim-runc-v2", "-id", "b", "-address", SkiffSocket}},
		{PID: 301, PPID: 300, Argv: []string{"/pause"}},
		{PID: 400, PPID: 1, Argv: nil}, // a kernel thread
	}
	for i := range table {
		table[i].Usage = Usage{N: 1, RSS: float64(table[i].PID)}
	}
	n := sortNodeProcs(server, table)
	pids := func(ps []Proc) []int {
		var out []int
		for _, p := range ps {
			out = append(out, p.PID)
		}
		slices.Sort(out)
		return out
	}
	if n.Server.PID != server || n.Server.Name() != "skiff" {
		t.Errorf("server = %+v", n.Server)
	}
	if got := pids(n.Containerd); !slices.Equal(got, []int{101}) {
		t.Errorf("containerd = %v, want [101]", got)
	}
	if got := pids(n.Shims); !slices.Equal(got, []int{200, 300}) {
		t.Errorf("shims = %v, want [200 300]", got)
	}
	if got := pids(n.Containers); !slices.Equal(got, []int{201, 202, 203, 301}) {
		t.Errorf("containers = %v, want [201 202 203 301]", got)
	}
	for _, c := range n.Containers {
		if want := map[int]int{201: 200, 202: 200, 203: 200, 301: 300}[c.PID]; c.Shim != want {
			t.Errorf("process %d under shim %d, want %d", c.PID, c.Shim, want)
		}
	}
	pause := Sum(n.Containers, func(p Proc) bool { return p.Name() == "pause" })
	if pause.N != 2 || pause.RSS != 201+301 {
		t.Errorf("Sum of the pause processes = %+v, want 2 processes, RSS 502", pause)
	}
}
