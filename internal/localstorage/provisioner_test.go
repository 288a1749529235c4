package localstorage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
)

// unreachableClient is a real client of an API server that is not there.
func unreachableClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewChecksConfig(t *testing.T) {
	client := unreachableClient(t)
	good := Config{Client: client, NodeName: testNode, Path: "/var/lib/skiff/storage"}
	if _, err := New(good); err != nil {
		t.Fatalf("New(%+v): %v", good, err)
	}
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no client", func(c *Config) { c.Client = nil }, "no API client"},
		{"no node", func(c *Config) { c.NodeName = "" }, "no node name"},
		{"node name too long for a label", func(c *Config) { c.NodeName = strings.Repeat("n", 64) }, "--node-name"},
		{"no path", func(c *Config) { c.Path = "" }, "not absolute"},
		{"relative path", func(c *Config) { c.Path = "storage" }, "--default-local-storage-path"},
	}
	for _, tc := range cases {
		cfg := good
		tc.change(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// Start makes the base directory and returns; Stop ends the informers
// even while the API server cannot be reached.
func TestStartStop(t *testing.T) {
	base := filepath.Join(t.TempDir(), "data", "storage")
	p, err := New(Config{Client: unreachableClient(t), NodeName: testNode, Path: base + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "local-storage" {
		t.Errorf("Name = %q", p.Name())
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(base); err != nil || !st.IsDir() {
		t.Errorf("base directory after Start: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Ready(ctx); err == nil {
		t.Error("Ready without an API server: want it to wait")
	}
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelStop()
	// client-go's watch-list retry sleeps about a second without looking
	// at the context, so Stop may take that long while the API server
	// cannot be reached.
	if err := p.Stop(stopCtx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// Forbidden (the addon's RBAC not applied yet, or disabled) makes the
// part Ready, so that the node does not wait for it.
func TestForbiddenIsReady(t *testing.T) {
	p, err := New(Config{Client: unreachableClient(t), NodeName: testNode, Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "persistentvolumeclaims"}, "",
		fmt.Errorf(`User "system:node:%s" cannot list resource "persistentvolumeclaims"`, testNode))
	// As the reflector hands it over: wrapped.
	p.watchError("PersistentVolumeClaims")(context.Background(), nil, fmt.Errorf("failed to list *v1.PersistentVolumeClaim: %w", forbidden))
	p.watchError("PersistentVolumes")(context.Background(), nil, forbidden)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.Ready(ctx); err != nil {
		t.Errorf("Ready after a forbidden list: %v", err)
	}
	if !strings.Contains(forbiddenHint(forbidden), ClusterRoleName) {
		t.Errorf("hint for a refused call does not name %s: %q", ClusterRoleName, forbiddenHint(forbidden))
	}
	if forbiddenHint(fmt.Errorf("connection refused")) != "" {
		t.Error("a hint for an error that is not a refusal")
	}
}

// A refusal is reported once per claim, again only when it changes, and
// again after the claim was forgotten.
func TestReportOnce(t *testing.T) {
	p, err := New(Config{Client: unreachableClient(t), NodeName: testNode, Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewFakeRecorder(10)
	p.recorder = rec
	claim := pendingClaim(testNode)
	uid := string(claim.UID)
	p.report(claim, uid, reasonProvisioningFailed, "ReadWriteMany")
	p.report(claim, uid, reasonProvisioningFailed, "ReadWriteMany")
	p.report(claim, uid, reasonProvisioningFailed, "a selector")
	p.forget(uid)
	p.report(claim, uid, reasonProvisioningFailed, "a selector")
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	want := []string{
		corev1.EventTypeWarning + " ProvisioningFailed ReadWriteMany",
		corev1.EventTypeWarning + " ProvisioningFailed a selector",
		corev1.EventTypeWarning + " ProvisioningFailed a selector",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
