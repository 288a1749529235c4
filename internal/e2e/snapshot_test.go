package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// snapshotCM is where the server records the snapshots (k3s's
// k3s-etcd-snapshots, under skiff's name).
const (
	snapshotCM   = "skiff-etcd-snapshots"
	snapshotWait = 30 * time.Second // a CLI save shows in the ConfigMap by then
)

// snapshotCLI runs `skiff etcd-snapshot <args>` on the server's data dir,
// with the test's empty config file.
func (s *server) snapshotCLI(args ...string) result {
	s.t.Helper()
	full := append([]string{"etcd-snapshot", args[0], "--config", emptyConfig(s.cfg.Root), "--data-dir", s.cfg.DataDir}, args[1:]...)
	return runSkiff(s.t, 2*time.Minute, nil, full...)
}

var savedLine = regexp.MustCompile(`^Snapshot (\S+) saved to (\S+) \((\d+) bytes`)

// saveSnapshot runs `etcd-snapshot save` and returns the snapshot's name
// and file.
func (s *server) saveSnapshot(args ...string) (name, file string) {
	s.t.Helper()
	r := s.snapshotCLI(append([]string{"save"}, args...)...)
	if r.Code != 0 {
		s.t.Fatalf("etcd-snapshot save exited %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	m := savedLine.FindStringSubmatch(strings.TrimSpace(r.Stdout))
	if m == nil {
		s.t.Fatalf("etcd-snapshot save printed %q; want 'Snapshot <name> saved to <file> (<n> bytes, ...)'", r.Stdout)
	}
	s.t.Logf("etcd-snapshot save: %v, %s bytes: %s", r.Took.Round(time.Millisecond), m[3], m[1])
	return m[1], m[2]
}

// recordedSnapshots is the server's ConfigMap of snapshots: key → entry.
func (s *server) recordedSnapshots(ctx context.Context) (map[string]map[string]any, error) {
	cm, err := s.client.CoreV1().ConfigMaps("kube-system").Get(ctx, snapshotCM, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for k, v := range cm.Data {
		var e map[string]any
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			return nil, fmt.Errorf("key %s: %v", k, err)
		}
		out[k] = e
	}
	return out, nil
}

// waitRecorded waits until the ConfigMap's keys are exactly want.
func (s *server) waitRecorded(want ...string) map[string]map[string]any {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), snapshotWait)
	defer cancel()
	var got map[string]map[string]any
	ok, err := poll(ctx, 500*time.Millisecond, func() (bool, error) {
		var err error
		got, err = s.recordedSnapshots(ctx)
		if err != nil {
			return false, err
		}
		if len(got) != len(want) {
			return false, nil
		}
		for _, n := range want {
			if _, ok := got["local-"+n]; !ok {
				return false, nil
			}
		}
		return true, nil
	})
	if !ok {
		s.t.Fatalf("ConfigMap kube-system/%s: want keys local-%v within %v; got %v (%v)", snapshotCM, want, snapshotWait, keys(got), err)
	}
	return got
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// dbState is a digest of the SQLite files and the names in the db folder:
// what "nothing changed" compares on a stopped server.
func dbState(t *testing.T, dataDir string) string {
	t.Helper()
	dir := filepath.Join(dataDir, "server", "db")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintln(h, e.Name())
		if strings.HasPrefix(e.Name(), "state.db") {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			h.Write(b)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func preRestoreFiles(dataDir string) []string {
	m, _ := filepath.Glob(filepath.Join(dataDir, "server", "db", "state.db.pre-restore-*"))
	return m
}

// TestE2ESnapshotSaveRestore: on a running SQLite server `etcd-snapshot
// save` writes a checked copy that `ls` lists and the ConfigMap records;
// after the state changes, a restore with --cluster-reset brings back the
// snapshot's objects (and drops the later ones), keeps the old database,
// and the restarted server's controllers work on the restored state. Bad
// restores (server running, missing file, not a snapshot, flags missing)
// each refuse in one line and change nothing.
func TestE2ESnapshotSaveRestore(t *testing.T) {
	integration(t)
	t.Parallel()
	// A schedule that would fire every 2 s, turned off: no scheduled
	// snapshot may appear (the ConfigMap must hold the on-demand one only).
	s := startServer(t, withArgs("--etcd-disable-snapshots", "--etcd-snapshot-schedule-cron", "@every 2s"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := s.client
	const ns = "e2e-snap"
	mustCreate(t, func() error {
		_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "keep"}, Data: map[string]string{"k": "v1"}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"}, Data: map[string][]byte{"b": {0, 255}}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.AppsV1().Deployments(ns).Create(ctx, pendingDeployment("dep", 1), metav1.CreateOptions{})
		return err
	})

	name, file := s.saveSnapshot()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatalf("the snapshot file: %v", err)
	}
	if want := filepath.Join(s.cfg.DataDir, "server", "db", "snapshots", name); file != want {
		t.Errorf("snapshot saved to %s, want %s", file, want)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode %v, want 0600 (it holds every Secret)", st.Mode().Perm())
	}
	host, _ := os.Hostname()
	if !regexp.MustCompile(`^on-demand-` + regexp.QuoteMeta(strings.ToLower(host)) + `-\d{10}$`).MatchString(name) {
		t.Errorf("snapshot named %q, want on-demand-<host name>-<unix seconds>", name)
	}

	t.Run("ls", func(t *testing.T) {
		r := s.snapshotCLI("ls")
		lines := nonEmptyLines(r.Stdout)
		if r.Code != 0 || len(lines) != 2 {
			t.Fatalf("etcd-snapshot ls exited %d with %q; want a header and one snapshot", r.Code, r.Stdout)
		}
		if f := strings.Fields(lines[0]); strings.Join(f, " ") != "Name Location Size Created" {
			t.Errorf("ls header %q, want k3s's Name Location Size Created", lines[0])
		}
		f := strings.Fields(lines[1])
		if len(f) != 4 || f[0] != name || f[1] != "file://"+file || f[2] != fmt.Sprint(st.Size()) {
			t.Errorf("ls row %q, want %s file://%s %d <time>", lines[1], name, file, st.Size())
		}
		if r := s.snapshotCLI("list"); r.Stdout != s.snapshotCLI("ls").Stdout {
			t.Errorf("etcd-snapshot list differs from ls: %q", r.Stdout)
		}
	})
	t.Run("recorded_in_configmap", func(t *testing.T) {
		got := s.waitRecorded(name)
		e := got["local-"+name]
		if e["name"] != name || e["location"] != "file://"+file || e["size"] != float64(st.Size()) || e["nodeName"] != strings.ToLower(host) {
			t.Errorf("recorded %v; want name %s, location file://%s, size %d, nodeName %s", e, name, file, st.Size(), strings.ToLower(host))
		}
		if _, err := time.Parse(time.RFC3339, fmt.Sprint(e["createdAt"])); err != nil {
			t.Errorf("createdAt %v is not a time: %v", e["createdAt"], err)
		}
	})

	// Change everything kind of state after the snapshot.
	cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "keep", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["k"] = "v2"
	if _, err := c.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Secrets(ns).Delete(ctx, "sec", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, func() error {
		_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "later"}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns + "-later"}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.AppsV1().Deployments(ns).Create(ctx, pendingDeployment("dep-later", 1), metav1.CreateOptions{})
		return err
	})

	restoreArgs := func(more ...string) []string { return append(append([]string{}, s.cfg.Args...), more...) }
	t.Run("refused_while_running", func(t *testing.T) {
		r := runSkiff(t, time.Minute, nil, restoreArgs("--cluster-reset", "--cluster-reset-restore-path", file)...)
		expectUsageError(t, r, "running", "stop it first")
		if m := preRestoreFiles(s.cfg.DataDir); len(m) != 0 {
			t.Errorf("a refused restore moved the database aside: %v", m)
		}
	})
	s.Stop()

	before := dbState(t, s.cfg.DataDir)
	notSnapshot := writeFile(t, filepath.Join(s.cfg.Root, "not-a-snapshot"), "hello, I am a text file\n")
	empty := writeFile(t, filepath.Join(s.cfg.Root, "empty"), "")
	for _, bad := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing_file", []string{"--cluster-reset", "--cluster-reset-restore-path", filepath.Join(s.cfg.Root, "nope")}, []string{"no such file", "etcd-snapshot ls"}},
		{"not_a_snapshot", []string{"--cluster-reset", "--cluster-reset-restore-path", notSnapshot}, []string{"not a SQLite database"}},
		{"empty_file", []string{"--cluster-reset", "--cluster-reset-restore-path", empty}, []string{"not a SQLite database"}},
		{"no_restore_path", []string{"--cluster-reset"}, []string{"--cluster-reset-restore-path"}},
		{"restore_path_alone", []string{"--cluster-reset-restore-path", file}, []string{"needs --cluster-reset"}},
	} {
		t.Run("refused_"+bad.name, func(t *testing.T) {
			r := runSkiff(t, time.Minute, nil, restoreArgs(bad.args...)...)
			expectUsageError(t, r, bad.want...)
			if after := dbState(t, s.cfg.DataDir); after != before {
				t.Errorf("a refused restore changed %s/server/db", s.cfg.DataDir)
			}
		})
	}

	// The restore itself: by name, as ls prints it.
	r := runSkiff(t, time.Minute, nil, restoreArgs("--cluster-reset", "--cluster-reset-restore-path", name)...)
	if r.Code != 0 {
		t.Fatalf("restore exited %d:\n%s%s", r.Code, r.Stdout, tailString(r.Stderr, 20))
	}
	if !strings.Contains(r.Stdout, "Restored") || !strings.Contains(r.Stdout, "without --cluster-reset") {
		t.Errorf("restore printed %q; want a line saying what was restored and to start again without --cluster-reset", r.Stdout)
	}
	t.Logf("restore: %v: %s", r.Took.Round(time.Millisecond), strings.TrimSpace(r.Stdout))
	if m := preRestoreFiles(s.cfg.DataDir); len(m) == 0 {
		t.Error("the old database was not kept as state.db.pre-restore-<unix>")
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("the snapshot is gone after the restore: %v", err)
	}

	s.Restart()
	c = s.client
	if cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "keep", metav1.GetOptions{}); err != nil || cm.Data["k"] != "v1" {
		t.Errorf("configmap keep after restore: %v %v; want the snapshot's k=v1", err, cm.Data)
	}
	if sec, err := c.CoreV1().Secrets(ns).Get(ctx, "sec", metav1.GetOptions{}); err != nil || string(sec.Data["b"]) != string([]byte{0, 255}) {
		t.Errorf("secret sec (deleted after the snapshot) after restore: %v", err)
	}
	for what, err := range map[string]error{
		"configmap later":            getErr(c.CoreV1().ConfigMaps(ns).Get(ctx, "later", metav1.GetOptions{})),
		"namespace " + ns + "-later": getErr(c.CoreV1().Namespaces().Get(ctx, ns+"-later", metav1.GetOptions{})),
		"deployment dep-later":       getErr(c.AppsV1().Deployments(ns).Get(ctx, "dep-later", metav1.GetOptions{})),
	} {
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s (made after the snapshot) after restore: %v; want NotFound", what, err)
		}
	}
	// The store's revisions went back: writes, and the controllers that
	// watch, must work on from there.
	if cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "keep", metav1.GetOptions{}); err == nil {
		cm.Data["k"] = "v3"
		if _, err := c.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Errorf("update after restore: %v", err)
		}
	}
	mustCreate(t, func() error {
		_, err := c.AppsV1().Deployments(ns).Create(ctx, pendingDeployment("fresh", 2), metav1.CreateOptions{})
		return err
	})
	waitCtx, waitCancel := context.WithTimeout(ctx, 90*time.Second)
	defer waitCancel()
	var pods int
	ok, err := poll(waitCtx, time.Second, func() (bool, error) {
		l, err := c.CoreV1().Pods(ns).List(waitCtx, metav1.ListOptions{LabelSelector: "app=fresh"})
		if err != nil {
			return false, err
		}
		pods = len(l.Items)
		return pods == 2, nil
	})
	if !ok {
		t.Errorf("a Deployment created after the restore has %d of 2 pods after 90s (%v): the controllers do not work on the restored store", pods, err)
	}
	s.waitRecorded(name)
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(file), "etcd-snapshot-*")); len(m) != 0 {
		t.Errorf("scheduled snapshots taken with --etcd-disable-snapshots: %v", m)
	}
	s.Stop()
}

func getErr[T any](_ T, err error) error { return err }

// pendingDeployment is a Deployment whose pods stay Pending on a server
// without a node: enough to see the controllers make them.
func pendingDeployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/pause:1"}}},
			},
		},
	}
}

// TestE2ESnapshotScheduleDeletePrune: an every-minute schedule with
// retention 2 never leaves more than 2 scheduled snapshots, and leaves the
// on-demand ones alone; the ConfigMap follows the folder; `delete` and
// `prune` remove what they are told, refusing bad names in one line.
func TestE2ESnapshotScheduleDeletePrune(t *testing.T) {
	integration(t)
	t.Parallel()
	s := startServer(t, withArgs("--etcd-snapshot-schedule-cron", "* * * * *", "--etcd-snapshot-retention", "2"))
	dir := filepath.Join(s.cfg.DataDir, "server", "db", "snapshots")

	var onDemand []string
	for range 3 {
		n, _ := s.saveSnapshot()
		onDemand = append(onDemand, n)
		time.Sleep(1100 * time.Millisecond) // names carry seconds
	}
	extra, _ := s.saveSnapshot("--name", "before-upgrade")

	t.Run("delete", func(t *testing.T) {
		r := s.snapshotCLI("delete", onDemand[0], "no-such-snapshot")
		expectUsageError(t, r, "no-such-snapshot", "etcd-snapshot ls")
		if _, err := os.Stat(filepath.Join(dir, onDemand[0])); err != nil {
			t.Errorf("a refused delete removed %s: %v", onDemand[0], err)
		}
		r = s.snapshotCLI("delete", onDemand[0])
		if r.Code != 0 || !strings.Contains(r.Stdout, onDemand[0]) {
			t.Errorf("delete exited %d: %s%s", r.Code, r.Stdout, r.Stderr)
		}
		mustNotExist(t, filepath.Join(dir, onDemand[0]), "etcd-snapshot delete")
	})
	t.Run("prune", func(t *testing.T) {
		expectUsageError(t, s.snapshotCLI("prune", "--snapshot-retention", "0"), "--snapshot-retention 0")
		r := s.snapshotCLI("prune", "--snapshot-retention", "1")
		if r.Code != 0 || !strings.Contains(r.Stdout, onDemand[1]) {
			t.Errorf("prune exited %d: %s%s; want %s deleted", r.Code, r.Stdout, r.Stderr, onDemand[1])
		}
		mustNotExist(t, filepath.Join(dir, onDemand[1]), "prune --snapshot-retention 1")
		for _, kept := range []string{onDemand[2], extra} {
			if _, err := os.Stat(filepath.Join(dir, kept)); err != nil {
				t.Errorf("prune of on-demand removed %s: %v", kept, err)
			}
		}
	})
	t.Run("config_file_and_env", func(t *testing.T) {
		// The server's config file, with keys of the server's only, and
		// SKIFF_* variables set the commands' flags too.
		other := filepath.Join(s.cfg.Root, "elsewhere")
		cfg := writeFile(t, filepath.Join(s.cfg.Root, "snap-config.yaml"), fmt.Sprintf(
			"data-dir: %s\netcd-snapshot-dir: %s\nnode-name: from-config\ntls-san: [a.example.com]\ndisable-agent: true\n", s.cfg.DataDir, other))
		r := runSkiff(t, time.Minute, nil, "etcd-snapshot", "save", "--config", cfg)
		if r.Code != 0 || !strings.Contains(r.Stdout, "on-demand-from-config-") || !strings.Contains(r.Stdout, other) {
			t.Errorf("save with the config file exited %d: %s%s; want on-demand-from-config-* in %s", r.Code, r.Stdout, r.Stderr, other)
		}
		r = runSkiff(t, time.Minute, []string{"SKIFF_DATA_DIR=" + s.cfg.DataDir, "SKIFF_ETCD_SNAPSHOT_DIR=" + other},
			"etcd-snapshot", "ls", "--config", emptyConfig(s.cfg.Root))
		if r.Code != 0 || !strings.Contains(r.Stdout, "file://"+other+"/on-demand-from-config-") {
			t.Errorf("ls with SKIFF_* variables exited %d: %s%s; want the snapshot in %s", r.Code, r.Stdout, r.Stderr, other)
		}
	})
	t.Run("bad_name", func(t *testing.T) {
		expectUsageError(t, s.snapshotCLI("save", "--name", "../escape"), "--name")
	})

	// Three scheduled snapshots take up to three minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Second)
	defer cancel()
	var scheduled []string
	ok, err := poll(ctx, 2*time.Second, func() (bool, error) {
		if !s.Running() {
			t.Fatalf("the server exited: %v", s.Err())
		}
		// Each save is followed by a prune: between the two there may be
		// one file more than the retention for a moment.
		log := s.StartLog()
		taken, pruned := strings.Count(log, "Saved a scheduled snapshot"), strings.Count(log, "Pruned scheduled snapshots")
		scheduled, _ = filepath.Glob(filepath.Join(dir, "etcd-snapshot-*"))
		return taken >= 3 && pruned >= taken-2 && len(scheduled) <= 2, fmt.Errorf("%d scheduled snapshots taken, %d prunes, on disk %v", taken, pruned, scheduled)
	})
	if !ok {
		t.Fatalf("fewer than 3 scheduled snapshots within 200s on an every-minute schedule (%v); on disk: %v", err, scheduled)
	}
	if len(scheduled) != 2 {
		t.Errorf("after 3 scheduled snapshots with retention 2, %d are on disk: %v", len(scheduled), scheduled)
	}
	want := []string{onDemand[2], extra}
	for _, f := range scheduled {
		want = append(want, filepath.Base(f))
	}
	s.waitRecorded(want...)
	s.Stop()
}

// TestE2ESnapshotBadInput: flags and commands that cannot work refuse in
// one line, with a non-zero exit, before writing anything.
func TestE2ESnapshotBadInput(t *testing.T) {
	integration(t)
	t.Parallel()
	for _, bad := range []struct {
		name string
		args []string
		want []string
	}{
		{"bad_cron", []string{"--etcd-snapshot-schedule-cron", "every day"}, []string{"--etcd-snapshot-schedule-cron", "not a cron schedule"}},
		{"cron_out_of_range", []string{"--etcd-snapshot-schedule-cron", "61 * * * *"}, []string{"--etcd-snapshot-schedule-cron"}},
		{"zero_retention", []string{"--etcd-snapshot-retention", "0"}, []string{"--etcd-snapshot-retention 0"}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			t.Parallel()
			c := newServerConfig(t)
			r := runSkiff(t, 30*time.Second, nil, append(standardArgs(c), bad.args...)...)
			expectUsageError(t, r, bad.want...)
			mustNotExist(t, c.DataDir, bad.name)
			mustNotExist(t, c.Kubeconfig, bad.name)
		})
	}
	t.Run("save_without_a_server_data_dir", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		r := runSkiff(t, 30*time.Second, nil, "etcd-snapshot", "save", "--config", emptyConfig(c.Root), "--data-dir", c.DataDir)
		expectUsageError(t, r, "no skiff datastore", "--data-dir")
		mustNotExist(t, filepath.Join(c.DataDir, "server"), "a save with no datastore")
	})
	t.Run("restore_on_an_empty_data_dir_refuses_a_bad_file", func(t *testing.T) {
		t.Parallel()
		c := newServerConfig(t)
		bad := writeFile(t, filepath.Join(c.Root, "bad"), "not a snapshot")
		r := runSkiff(t, 30*time.Second, nil, append(standardArgs(c), "--cluster-reset", "--cluster-reset-restore-path", bad)...)
		expectUsageError(t, r, "not a SQLite database")
		mustNotExist(t, c.DataDir, "a refused restore")
	})
}
