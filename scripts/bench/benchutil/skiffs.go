package benchutil

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RunningSkiffs lists the skiff servers, agents and containerds on the
// host, one line each ("  pid N: argv"). A node is host-global and a bench
// ends with `skiff killall`, so a bench refuses to start beside one.
func RunningSkiffs() []string {
	var busy []string
	for _, pid := range pids() {
		if pid == os.Getpid() {
			continue
		}
		argv := Cmdline(pid)
		if len(argv) == 0 {
			continue
		}
		if isSkiffProcess(exeBase(pid), argv) {
			busy = append(busy, fmt.Sprintf("  pid %d: %s", pid, strings.Join(argv, " ")))
		}
	}
	return busy
}

// isSkiffProcess says whether a process running the file exe with argv is
// a skiff server or agent, or skiff's containerd.
func isSkiffProcess(exe string, argv []string) bool {
	if strings.HasPrefix(exe, "skiff") && len(argv) > 1 && (argv[1] == "server" || argv[1] == "agent") {
		return true
	}
	return len(argv) > 0 && filepath.Base(argv[0]) == "containerd" && HasFlag(argv, "--address", SkiffSocket)
}

// RefuseIfRunning is an error naming the skiff processes on the host, nil
// when there are none.
func RefuseIfRunning() error {
	if busy := RunningSkiffs(); len(busy) > 0 {
		return fmt.Errorf("skiff already runs on this host, and the bench ends with skiff killall: stop it first\n%s", strings.Join(busy, "\n"))
	}
	return nil
}

// Killall runs `bin killall --data-dir dataDir`, which stops every skiff
// on the host and removes what they left (mounts, interfaces, rules); a
// failure is printed, not returned: it runs on the way out.
func Killall(bin, dataDir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "killall", "--data-dir", dataDir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: skiff killall: %v\n%s", err, out.String())
	}
}
