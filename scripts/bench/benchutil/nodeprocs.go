package benchutil

import "path/filepath"

// SkiffSocket is skiff's containerd socket, on its containerd's and its
// shims' command lines: what tells skiff's processes from another
// containerd's.
const SkiffSocket = "/run/skiff/containerd/containerd.sock"

// Proc is one process of a node.
type Proc struct {
	PID, PPID int
	Argv      []string
	// Shim is, for a process in a container, the shim it runs under.
	Shim int
	Usage
}

// Name is the base name of the process's argv[0] ("coredns", "pause").
func (p Proc) Name() string {
	if len(p.Argv) == 0 {
		return ""
	}
	return filepath.Base(p.Argv[0])
}

// NodeProcs is a skiff node's processes, sorted: the server, its
// containerd (the bundle's, run with --address at skiff's socket), the
// shims (the bundled runc shim, run with -address at skiff's socket) and
// every process under a shim (the containers' and runc's).
type NodeProcs struct {
	Server     Proc
	Containerd []Proc
	Shims      []Proc
	Containers []Proc
}

// ReadNodeProcs reads the processes of the node whose server is serverPID,
// with their memory and CPU.
func ReadNodeProcs(serverPID int) NodeProcs {
	var table []Proc
	for _, pid := range pids() {
		pp, ok := PPID(pid)
		if !ok {
			continue
		}
		table = append(table, Proc{PID: pid, PPID: pp, Argv: Cmdline(pid)})
	}
	n := sortNodeProcs(serverPID, table)
	n.Server.Usage = ReadUsage(serverPID)
	for _, g := range [][]Proc{n.Containerd, n.Shims, n.Containers} {
		for i := range g {
			g[i].Usage = ReadUsage(g[i].PID)
		}
	}
	return n
}

// sortNodeProcs sorts a process table (PID, PPID, Argv) into a node's
// parts; the usage is left to the caller.
func sortNodeProcs(serverPID int, table []Proc) NodeProcs {
	n := NodeProcs{Server: Proc{PID: serverPID}}
	parents := map[int]int{}
	isShim := map[int]bool{}
	for _, p := range table {
		parents[p.PID] = p.PPID
		switch {
		case p.PID == serverPID:
			n.Server = p
		case p.Name() == "containerd" && HasFlag(p.Argv, "--address", SkiffSocket):
			n.Containerd = append(n.Containerd, p)
		case HasFlag(p.Argv, "-address", SkiffSocket):
			n.Shims = append(n.Shims, p)
			isShim[p.PID] = true
		}
	}
	for _, p := range table {
		for a, depth := p.PPID, 0; a > 1 && depth < 64; a, depth = parents[a], depth+1 {
			if isShim[a] {
				p.Shim = a
				n.Containers = append(n.Containers, p)
				break
			}
		}
	}
	return n
}

// Sum adds the usage of the processes keep says yes to (all when keep is
// nil).
func Sum(procs []Proc, keep func(Proc) bool) Usage {
	var u Usage
	for _, p := range procs {
		if keep == nil || keep(p) {
			u = u.Plus(p.Usage)
		}
	}
	return u
}
