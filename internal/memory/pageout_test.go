package memory

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssFile is pid's resident file-backed memory in kB.
func rssFile(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "RssFile:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in status")
	return 0
}

// Another process's executable pages are released: its resident
// file-backed memory drops.
func TestPageOutExecutableOfAnotherProcess(t *testing.T) {
	// A copy of this test binary, sleeping: large enough to have pages to
	// drop, and mapped by that process alone (the kernel keeps pages
	// other processes map too).
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	// Written back before it runs: the kernel does not drop dirty pages.
	cp := t.TempDir() + "/sleeper"
	f, err := os.OpenFile(cp, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(exe); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cmd := exec.Command(cp, "-test.run=^TestHelperSleep$")
	cmd.Env = append(os.Environ(), "MEMORY_HELPER_SLEEP=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }() //nolint:errcheck
	pid := cmd.Process.Pid
	time.Sleep(300 * time.Millisecond)
	before := rssFile(t, pid)
	if err := pageOutExecutable(pid); err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("process_madvise needs CAP_SYS_NICE here: %v", err)
		}
		t.Fatal(err)
	}
	after := rssFile(t, pid)
	if after >= before {
		t.Fatalf("RssFile %d kB before, %d kB after: nothing released", before, after)
	}
	t.Logf("RssFile %d kB → %d kB", before, after)
}

func TestHelperSleep(t *testing.T) {
	if os.Getenv("MEMORY_HELPER_SLEEP") == "" {
		return
	}
	time.Sleep(time.Minute)
}
