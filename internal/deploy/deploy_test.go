package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

func TestNewChecksConfig(t *testing.T) {
	if _, err := New(Config{RESTConfig: &rest.Config{Host: "https://127.0.0.1:1"}}); err == nil || !strings.Contains(err.Error(), "folder") {
		t.Errorf("no Dir: %v", err)
	}
	if _, err := New(Config{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "API") {
		t.Errorf("no RESTConfig: %v", err)
	}
	given := &rest.Config{Host: "https://127.0.0.1:1"}
	c, err := New(Config{Dir: t.TempDir(), RESTConfig: given})
	if err != nil {
		t.Fatal(err)
	}
	if c.interval != DefaultInterval || c.k.namespace != "kube-system" {
		t.Errorf("defaults: interval %v, namespace %q", c.interval, c.k.namespace)
	}
	if given.QPS != 0 || given.UserAgent != "" {
		t.Error("New changed the caller's rest.Config; it must copy it")
	}
	if c.Name() == "" {
		t.Error("no name")
	}
}

// With no API to reach, the controller keeps trying to read the
// inventories; Stop must still end it at once, and Ready then says it
// stopped before applying anything.
func TestStopWithoutAPI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "server", "manifests")
	c, err := New(Config{Dir: dir, RESTConfig: &rest.Config{Host: "https://127.0.0.1:1", Timeout: time.Second}, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("the manifests folder was not created 0700: %v %v", fi, err)
	}
	if err := c.Start(context.Background()); err == nil {
		t.Error("a second Start was accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.Ready(ctx); err == nil {
		t.Error("ready without an API")
	}
	begin := time.Now()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelStop()
	if err := c.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if err := c.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("Ready after Stop: %v", err)
	}
}

func TestStopBeforeStart(t *testing.T) {
	c, err := New(Config{Dir: t.TempDir(), RESTConfig: &rest.Config{Host: "https://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err == nil {
		t.Error("Start after Stop was accepted")
	}
}
