package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// missingImage names a registry on this host where nothing listens (port
// 1 refuses at once): the pull fails fast and no packet leaves the machine.
const missingImage = "127.0.0.1:1/skiff/does-not-exist:v1"

const failuresManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: e2e-fail
---
apiVersion: v1
kind: Pod
metadata:
  name: missing
  namespace: e2e-fail
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: ` + missingImage + `
    imagePullPolicy: IfNotPresent
---
apiVersion: v1
kind: Pod
metadata:
  name: crash
  namespace: e2e-fail
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: ` + testImage + `
    imagePullPolicy: IfNotPresent
    args: ["exit", "1"]
`

// TestE2ENodeFailures: a pod whose image cannot be pulled shows
// ErrImagePull or ImagePullBackOff with the image's name, in its status and
// its events; a container that exits is restarted by the kubelet with
// back-off (restartCount grows, CrashLoopBackOff shows).
func TestE2ENodeFailures(t *testing.T) {
	integration(t)
	n := newNode(t)
	n.Start()
	n.apply(failuresManifest)

	t.Run("missing_image", func(t *testing.T) {
		p := n.in(t).waitPod("e2e-fail", "missing", 60*time.Second, "waiting with ErrImagePull/ImagePullBackOff", func(p *corev1.Pod) bool {
			w := waitingOf(p)
			return w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff")
		})
		w := waitingOf(p)
		t.Logf("missing: %s: %s", w.Reason, w.Message)
		if !strings.Contains(w.Message, missingImage) {
			t.Errorf("pod missing: waiting %s with message %q; want the image name %q in it", w.Reason, w.Message, missingImage)
		}
		ctx := within(t, 30*time.Second)
		ok, _ := poll(ctx, time.Second, func() (bool, error) {
			evs, err := n.client.CoreV1().Events("e2e-fail").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=missing"})
			if err != nil {
				return false, err
			}
			for _, e := range evs.Items {
				if e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, missingImage) {
					t.Logf("event %s: %s", e.Reason, e.Message)
					return true, nil
				}
			}
			return false, nil
		})
		if !ok {
			t.Errorf("no Warning event of pod missing names the image %s:\n%s", missingImage, n.describePods("e2e-fail"))
		}
	})

	t.Run("crash_loop", func(t *testing.T) {
		// Back-off shows as the container waiting in CrashLoopBackOff when
		// the kubelet publishes a status during the back-off, and always as
		// a BackOff event ("Back-off restarting failed container").
		sawBackOff := ""
		begin := time.Now()
		last := ""
		p := n.in(t).waitPod("e2e-fail", "crash", 120*time.Second, "restarted twice, with back-off seen", func(p *corev1.Pod) bool {
			cs := containerOf(p)
			if cs == nil {
				return false
			}
			now := fmt.Sprintf("restartCount %d", cs.RestartCount)
			if w := cs.State.Waiting; w != nil {
				now += " waiting " + w.Reason
				if w.Reason == "CrashLoopBackOff" && sawBackOff == "" {
					sawBackOff = "status: waiting CrashLoopBackOff: " + w.Message
				}
			}
			if now != last {
				t.Logf("%5.1fs: crash: %s", time.Since(begin).Seconds(), now)
				last = now
			}
			if sawBackOff == "" {
				evs, err := n.client.CoreV1().Events("e2e-fail").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=crash"})
				if err == nil {
					for _, e := range evs.Items {
						if e.Reason == "BackOff" && strings.Contains(e.Message, "restarting failed container") {
							sawBackOff = "event: " + e.Message
						}
					}
				}
			}
			return sawBackOff != "" && cs.RestartCount >= 2
		})
		t.Logf("back-off seen in the %s", sawBackOff)
		cs := containerOf(p)
		t.Logf("crash: restartCount %d, state %+v", cs.RestartCount, cs.State)
		if term := cs.LastTerminationState.Terminated; term == nil || term.ExitCode != 1 {
			t.Errorf("crash: last termination %+v, want exit code 1", cs.LastTerminationState)
		}
		// The output of a run that ended is in the logs: of the current
		// container while it is terminated, else of the previous one (the
		// kubelet keeps one dead container, so --previous can race with
		// its garbage collection: ask again).
		var got []string
		ok, _ := poll(within(t, 20*time.Second), time.Second, func() (bool, error) {
			got = got[:0]
			for _, args := range [][]string{{"logs", "-n", "e2e-fail", "crash"}, {"logs", "-n", "e2e-fail", "crash", "--previous"}} {
				out, errOut, code := n.kubectlRun(nil, args...)
				if code == 0 && strings.Contains(out, "test-http: exiting with code 1") {
					return true, nil
				}
				got = append(got, fmt.Sprintf("kubectl %s: exit %d %q %s", strings.Join(args, " "), code, out, errOut))
			}
			return false, nil
		})
		if !ok {
			t.Errorf("no kubectl logs of pod crash shows its exit line:\n%s", strings.Join(got, "\n"))
		}
	})
}

func containerOf(p *corev1.Pod) *corev1.ContainerStatus {
	if len(p.Status.ContainerStatuses) == 0 {
		return nil
	}
	return &p.Status.ContainerStatuses[0]
}

func waitingOf(p *corev1.Pod) *corev1.ContainerStateWaiting {
	if cs := containerOf(p); cs != nil {
		return cs.State.Waiting
	}
	return nil
}

var oneReplica = webDeployment("default", 1, "Never", false)

// TestE2ENodeBadImageTarball: a tarball of random bytes in the airgap
// images folder is reported by name in the log and skipped; the test image
// beside it is imported all the same (a pod that may not pull it runs).
func TestE2ENodeBadImageTarball(t *testing.T) {
	integration(t)
	n := newNode(t)
	junk := make([]byte, 64<<10)
	_, _ = rand.Read(junk)
	n.AddImageBytes("junk.tar", junk)
	n.Start()
	var lines []string
	for _, l := range strings.Split(n.thisStartLog(), "\n") {
		if strings.Contains(l, "junk.tar") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Errorf("the server log never names junk.tar, the corrupt tarball in %s", n.ImagesDir())
	} else {
		t.Logf("the log about junk.tar:\n%s", strings.Join(lines, "\n"))
	}
	n.apply(oneReplica)
	n.waitAvailable("default", "web", podTimeout)
}

// TestE2ENodeBadRegistries: a registries file that is not valid YAML stops
// start-up with a line that names the file and the line, and a non-zero
// exit. The server has no flag for the file yet, so the test writes
// /etc/skiff/registries.yaml and puts back what was there.
func TestE2ENodeBadRegistries(t *testing.T) {
	integration(t)
	n := newNode(t)
	const bad = "mirrors:\n  docker.io:\n    endpoint: [\"https://mirror.example.com\"\n  bad: : :\n"
	path := registriesFile(t, n, bad)
	n.Launch()
	code := n.WaitExit(90 * time.Second)
	if code == 0 {
		t.Errorf("skiff server exited 0 with a malformed %s; want a non-zero exit", path)
	}
	var named []string
	for _, l := range strings.Split(n.thisStartLog(), "\n") {
		if strings.Contains(l, path) {
			named = append(named, strings.TrimSpace(l))
		}
	}
	found := false
	for _, l := range named {
		if strings.Contains(strings.ToLower(l), "line") {
			found = true
			t.Logf("exit %d: %s", code, l)
		}
	}
	if !found {
		t.Errorf("no line of the server's output names %s and the line of the error; those naming the file:\n%s", path, strings.Join(named, "\n"))
	}
}

// registriesFile puts content where the server reads its registries: a file
// of the test given by flag, if the server has one (k3s calls it
// --private-registry), or else /etc/skiff/registries.yaml, restored at the
// end. It returns the path.
func registriesFile(t *testing.T, n *node, content string) string {
	t.Helper()
	r := runSkiff(t, 30*time.Second, "server", "--help")
	for _, flag := range []string{"--registries", "--private-registry"} {
		if strings.Contains(r.Stdout+r.Stderr, flag+" ") {
			p := writeFile(t, filepath.Join(n.Root, "registries.yaml"), content)
			n.Args = append(n.Args, flag, p)
			return p
		}
	}
	const p = "/etc/skiff/registries.yaml"
	old, err := os.ReadFile(p)
	existed := err == nil
	_, dirErr := os.Stat(filepath.Dir(p))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if existed {
			_ = os.WriteFile(p, old, 0o600)
			return
		}
		_ = os.Remove(p)
		if dirErr != nil {
			_ = os.Remove(filepath.Dir(p)) // only if empty
		}
	})
	writeFile(t, p, content)
	t.Logf("skiff server has no flag for the registries file: the test writes %s (and restores it)", p)
	return p
}
