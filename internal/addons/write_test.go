package addons

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
)

var testValues = Values{
	ClusterDNS: "10.43.0.10", ClusterDomain: "cluster.local", ClusterCIDR: "10.42.0.0/16", ServiceCIDR: "10.43.0.0/16",
	CoreDNSImage: "docker.io/coredns/coredns:1.15.0", ServerCABase64: "Q0E=", MetricsPort: 6445,
	TraefikImage: "docker.io/library/traefik:v3.7.13",
}

// withManifest reports whether the addon has a manifest (servicelb runs
// in-process only).
func withManifest(t *testing.T, name string) bool {
	t.Helper()
	_, err := manifests.ReadFile("manifests/" + name + ".yaml")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// Every manifest renders with the values and decodes into objects that
// name a kind and a name: a template error or broken YAML would otherwise
// show only when a server started.
func TestWriteRendersEveryAddon(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, testValues, Disabled{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range Names {
		path := filepath.Join(dir, name+".yaml")
		data, err := os.ReadFile(path)
		if !withManifest(t, name) {
			if err == nil {
				t.Errorf("%s has no manifest but %s was written", name, path)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if bytes.Contains(data, []byte("{{")) || bytes.Contains(data, []byte("<no value>")) {
			t.Errorf("%s: a template action was left unrendered", path)
		}
		objs, err := Objects(name, testValues)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			m, err := meta.Accessor(o)
			if err != nil || m.GetName() == "" {
				t.Errorf("%s: an object without a name: %v (%v)", path, o, err)
			}
		}
		if len(objs) == 0 {
			t.Errorf("%s holds no object", path)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "coredns.yaml")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "coredns.yaml")); !strings.Contains(string(data), "10.43.0.10") {
		t.Errorf("coredns.yaml does not carry the cluster DNS address")
	}
}

// A disabled addon's file goes (so the deploy controller removes what it
// deployed); a .skip file keeps the user's version, enabled or not; an
// unchanged file is not rewritten.
func TestWriteDisableSkipAndRewrite(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, testValues, Disabled{}); err != nil {
		t.Fatal(err)
	}
	coredns := filepath.Join(dir, "coredns.yaml")
	storage := filepath.Join(dir, "local-storage.yaml")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(storage, old, old); err != nil {
		t.Fatal(err)
	}
	// The user owns local-storage.yaml from now on.
	mine := []byte("# mine\n")
	if err := os.WriteFile(coredns, mine, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(coredns+SkipSuffix, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	if err := Write(dir, testValues, Disabled{CoreDNS: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(coredns); !bytes.Equal(got, mine) {
		t.Errorf("a disabled addon with a .skip file was changed: %q", got)
	}
	st, err := os.Stat(storage)
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime().Equal(old) {
		t.Errorf("an unchanged manifest was rewritten (mtime %v, want %v)", st.ModTime(), old)
	}

	if err := Write(dir, testValues, Disabled{LocalStorage: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(storage); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the disabled addon's manifest is still there (%v)", err)
	}
	if err := Write(dir, testValues, Disabled{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(storage); err != nil {
		t.Errorf("re-enabled, local-storage.yaml was not written back: %v", err)
	}
}

func TestImageRefParts(t *testing.T) {
	for _, c := range []struct{ ref, registry, repository, tag string }{
		{"docker.io/library/traefik:v3.7.13", "docker.io", "library/traefik", "v3.7.13"},
		{"registry.example.com:5000/mirror/traefik:v3", "registry.example.com:5000", "mirror/traefik", "v3"},
	} {
		r := ImageRef(c.ref)
		if r.Registry() != c.registry || r.Repository() != c.repository || r.Tag() != c.tag {
			t.Errorf("%s: %q %q %q, want %q %q %q", c.ref, r.Registry(), r.Repository(), r.Tag(), c.registry, c.repository, c.tag)
		}
	}
}
