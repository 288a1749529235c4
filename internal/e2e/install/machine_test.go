package install

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	dh "github.com/skiff-k8s/skiff/internal/e2e/dockerharness"
	"github.com/skiff-k8s/skiff/internal/e2e/systemdmachine"
)

// The files the installer writes on a server machine.
var serverFiles = []string{
	"/usr/local/bin/skiff", "/usr/local/bin/skiff-killall.sh", "/usr/local/bin/skiff-uninstall.sh",
	"/etc/systemd/system/skiff.service", "/etc/systemd/system/skiff.service.env",
	"/var/lib/skiff/agent/images/test-http.tar",
}

// TestE2EInstallOnSystemdMachines installs skiff as a user does, `curl -sfL
// <url>/install.sh | sh -`, on two Debian machines with systemd as PID 1
// (containers of scripts/image-systemd), from a release served by the test:
//
//  1. the server: the unit is active once the installer returns, not before
//     the API answered (Type=notify), kubectl works at once, the node gets
//     Ready and runs a pod of the airgap image;
//  2. running the installer again changes no file and restarts nothing;
//  3. a download whose checksum is wrong is refused: same files, same
//     process, the cluster still answers;
//  4. an upgrade to another binary restarts the service once and the pod
//     keeps its container;
//  5. an agent installed with SKIFF_URL and SKIFF_TOKEN joins;
//  6. the uninstall scripts leave no skiff file, unit, process, mount, link
//     or iptables chain on either machine.
func TestE2EInstallOnSystemdMachines(t *testing.T) {
	e := setupMachines(t)
	suffix := dh.Suffix()
	nw := dh.CreateNetwork(t, "skiff-install-"+suffix)
	base := e.serveReleases(t, nw.Addr(1))
	server := e.newMachine(t, "skiff-install-"+suffix+"-server", nw, nw.Addr(10))
	agent := e.newMachine(t, "skiff-install-"+suffix+"-agent", nw, nw.Addr(11))
	server.waitBooted(t)
	agent.waitBooted(t)

	// 1. First install. A poller in the machine notes when kubectl first
	// gets an answer from the API, to compare with when the unit became
	// active.
	server.MustExec(t, "sh", "-c", `nohup sh -c 'until kubectl get --raw /version >/dev/null 2>&1; do sleep 0.1; done; date +%s.%N >/tmp/api-answered' >/dev/null 2>&1 &`)
	out, took, err := server.install(t, base, installTimeout,
		"INSTALL_SKIFF_DOWNLOAD_URL="+base+"/v1", "INSTALL_SKIFF_AIRGAP_IMAGES=/root/test-http.tar")
	if err != nil {
		t.Fatalf("install.sh on %s: %v\n%s", server.Name, err, out)
	}
	installed := time.Now()
	t.Logf("server: install.sh returned after %.1f s:\n%s", took.Seconds(), out)
	if nodes, err := server.Exec(context.Background(), "kubectl", "get", "nodes"); err != nil {
		t.Errorf("kubectl get nodes right after install.sh returned: %v: %s", err, nodes)
	}
	u := server.unit(t, "skiff", "ActiveState", "ActiveEnterTimestamp", "ExecMainStartTimestamp")
	if u["ActiveState"] != "active" {
		t.Fatalf("skiff.service is %q after install.sh returned", u["ActiveState"])
	}
	checkActiveAfterAPI(t, server, u)

	server.waitNodesReady(t, 1, server.Node)
	t.Logf("server: node Ready %.1f s after install.sh returned", time.Since(installed).Seconds())
	podID := startPod(t, server, "web")

	// 2. A re-run changes nothing.
	before := server.unit(t, "skiff", "MainPID", "InvocationID", "ExecMainStartTimestampMonotonic")
	files := server.installedFiles(t, serverFiles...)
	out, took, err = server.install(t, base, time.Minute,
		"INSTALL_SKIFF_DOWNLOAD_URL="+base+"/v1", "INSTALL_SKIFF_AIRGAP_IMAGES=/root/test-http.tar")
	if err != nil {
		t.Fatalf("re-running install.sh: %v\n%s", err, out)
	}
	t.Logf("server: the re-run took %.1f s", took.Seconds())
	mustContain(t, "the re-run's output", out, "nothing changed: skiff keeps running")
	if after := server.unit(t, "skiff", "MainPID", "InvocationID", "ExecMainStartTimestampMonotonic"); !sameMap(before, after) {
		t.Errorf("the re-run restarted skiff: %v, was %v", after, before)
	}
	if now := server.installedFiles(t, serverFiles...); now != files {
		t.Errorf("the re-run wrote files:\n%s\nwas:\n%s", now, files)
	}

	// 3. A tampered download is refused and changes nothing.
	out, _, err = server.install(t, base, time.Minute,
		"INSTALL_SKIFF_DOWNLOAD_URL="+base+"/tampered", "INSTALL_SKIFF_AIRGAP_IMAGES=/root/test-http.tar")
	if err == nil {
		t.Errorf("install.sh accepted a download whose checksum is wrong:\n%s", out)
	}
	mustContain(t, "the refused install's output", out, "refusing", "nothing was changed")
	if after := server.unit(t, "skiff", "MainPID", "InvocationID", "ExecMainStartTimestampMonotonic"); !sameMap(before, after) {
		t.Errorf("the refused install restarted skiff: %v, was %v", after, before)
	}
	if now := server.installedFiles(t, serverFiles...); now != files {
		t.Errorf("the refused install wrote files:\n%s\nwas:\n%s", now, files)
	}
	server.Kubectl(t, "get", "nodes")

	// 4. The upgrade: one restart, the pod keeps its container.
	since := server.MustExec(t, "date", "+%s")
	out, took, err = server.install(t, base, installTimeout,
		"INSTALL_SKIFF_DOWNLOAD_URL="+base+"/v2", "INSTALL_SKIFF_AIRGAP_IMAGES=/root/test-http.tar")
	if err != nil {
		t.Fatalf("upgrading with install.sh: %v\n%s", err, out)
	}
	t.Logf("server: the upgrade took %.1f s:\n%s", took.Seconds(), out)
	mustContain(t, "the upgrade's output", out, "restarting skiff (changed: binary)")
	after := server.unit(t, "skiff", "MainPID", "InvocationID", "NRestarts", "ActiveState")
	if after["InvocationID"] == before["InvocationID"] || after["MainPID"] == before["MainPID"] {
		t.Errorf("the upgrade did not restart skiff: %v, was %v", after, before)
	}
	if after["NRestarts"] != "0" || after["ActiveState"] != "active" {
		t.Errorf("after the upgrade skiff.service is %s with %s automatic restarts", after["ActiveState"], after["NRestarts"])
	}
	starts := server.MustExec(t, "sh", "-c", `journalctl --no-pager -o cat -u skiff --since "@$1" | grep -c '^Started ' || true`, "sh", since)
	if starts != "1" {
		t.Errorf("skiff.service started %s times during the upgrade, want once", starts)
	}
	if sum := strings.Fields(server.MustExec(t, "sha256sum", "/usr/local/bin/skiff"))[0]; sum != e.upSum {
		t.Errorf("after the upgrade /usr/local/bin/skiff has sha256 %s, want the new binary's %s", sum, e.upSum)
	}
	server.waitNodesReady(t, 1, server.Node)
	dh.WaitFor(t, podTimeout, "pod web ready again after the upgrade", func(ctx context.Context) (bool, string) {
		_, _, ready, out := server.podContainer(ctx, "web")
		return ready, out
	}, server.Node)
	ctx, cancel := context.WithTimeout(context.Background(), dh.CommandTimeout)
	id, restarts, _, _ := server.podContainer(ctx, "web")
	cancel()
	if id != podID || restarts != 0 {
		t.Errorf("after the upgrade pod web runs container %s (%d restarts); before it ran %s: the kubelet must adopt the running container", id, restarts, podID)
	}

	// 5. An agent joins.
	token := server.MustExec(t, "cat", "/var/lib/skiff/server/token")
	out, took, err = agent.install(t, base, installTimeout, "INSTALL_SKIFF_DOWNLOAD_URL="+base+"/v2",
		"SKIFF_URL=https://"+nw.Addr(10)+":6443", "SKIFF_TOKEN="+token)
	if err != nil {
		t.Fatalf("installing the agent: %v\n%s", err, out)
	}
	t.Logf("agent: install.sh returned after %.1f s:\n%s", took.Seconds(), out)
	if state := agent.unit(t, "skiff-agent", "ActiveState")["ActiveState"]; state != "active" {
		t.Errorf("skiff-agent.service is %q after install.sh returned", state)
	}
	if m := agent.MustExec(t, "stat", "-c", "%a", "/etc/systemd/system/skiff-agent.service.env"); m != "600" {
		t.Errorf("the agent's environment file (it holds the token) has mode %s, want 600", m)
	}
	server.waitNodesReady(t, 2, server.Node, agent.Node)

	// 6. Uninstall both.
	t.Run("uninstall", func(t *testing.T) {
		for _, c := range []struct {
			m      *machine
			script string
		}{{server, "/usr/local/bin/skiff-uninstall.sh"}, {agent, "/usr/local/bin/skiff-agent-uninstall.sh"}} {
			t.Run(c.m.Name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				start := time.Now()
				out, err := c.m.Exec(ctx, c.script)
				if err != nil {
					t.Fatalf("%s: %v\n%s", c.script, err, out)
				}
				t.Logf("%s took %.1f s:\n%s", c.script, time.Since(start).Seconds(), out)
				if left := c.m.leftovers(t); len(left) > 0 {
					t.Errorf("the uninstall left:\n%s", strings.Join(left, "\n"))
				}
			})
		}
	})
}

// checkActiveAfterAPI checks Type=notify's promise: the unit became active
// only once the API answered (the poller saw it answer at most pollSlack
// after the unit became active, one poll period late at worst).
func checkActiveAfterAPI(t *testing.T, m *machine, u map[string]string) {
	t.Helper()
	active, err := systemdmachine.ParseUnitTime(u["ActiveEnterTimestamp"])
	if err != nil {
		t.Fatalf("ActiveEnterTimestamp %q: %v", u["ActiveEnterTimestamp"], err)
	}
	started, err := systemdmachine.ParseUnitTime(u["ExecMainStartTimestamp"])
	if err != nil {
		t.Fatalf("ExecMainStartTimestamp %q: %v", u["ExecMainStartTimestamp"], err)
	}
	var answered time.Time
	dh.WaitFor(t, 30*time.Second, "the API poller's note", func(ctx context.Context) (bool, string) {
		out, err := m.Exec(ctx, "cat", "/tmp/api-answered")
		if err != nil {
			return false, out
		}
		sec, err := strconv.ParseFloat(out, 64)
		if err != nil {
			return false, out
		}
		answered = time.Unix(0, int64(sec*1e9))
		return true, out
	}, m.Node)
	t.Logf("server: skiff exec'd at %s; unit active %.2f s later; the poller saw the API answer %.2f s after exec",
		started.Format(time.RFC3339Nano), active.Sub(started).Seconds(), answered.Sub(started).Seconds())
	if answered.After(active.Add(pollSlack)) {
		t.Errorf("skiff.service became active %.2f s before the API answered: with Type=notify skiff must send READY=1 only once the API answers. "+
			"(An early READY=1 comes from the embedded kube-apiserver: the generic API server sends one, and unsets NOTIFY_SOCKET, as soon as its listener is bound, unless skiff hides NOTIFY_SOCKET from it.)",
			answered.Sub(active).Seconds())
	}
}

// startPod runs a pod of the airgap test image on the server and returns
// its container's ID once it is ready. The default ServiceAccount comes a
// few seconds after the node is Ready: creating is retried until then.
func startPod(t *testing.T, m *machine, name string) string {
	t.Helper()
	dh.WaitFor(t, podTimeout, "pod "+name+" created", func(ctx context.Context) (bool, string) {
		out, err := m.Exec(ctx, "kubectl", "run", name, "--image="+dh.TestImage, "--image-pull-policy=Never", "--restart=Always")
		return err == nil || strings.Contains(out, "AlreadyExists"), out
	}, m.Node)
	var id string
	dh.WaitFor(t, podTimeout, "pod "+name+" ready", func(ctx context.Context) (bool, string) {
		var ready bool
		var out string
		id, _, ready, out = m.podContainer(ctx, name)
		return ready && id != "", out
	}, m.Node)
	return id
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
