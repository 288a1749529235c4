package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func testOptions(dir string, now time.Time) Options {
	return Options{
		Dir:          dir,
		ServingIPs:   []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.43.0.1"), net.ParseIP("192.168.1.10")},
		ServingNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "node1"},
		Now:          func() time.Time { return now },
	}
}

func mustEnsure(t *testing.T, opts Options) *Files {
	t.Helper()
	f, err := Ensure(opts)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return f
}

func mustCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cert
}

type fileState struct {
	data  []byte
	mtime time.Time
}

// snapshot records every file in dir after pushing mtimes into the past,
// so that any rewrite shows even on filesystems with coarse timestamps.
func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	out := map[string]fileState{}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fileState{data: data, mtime: fi.ModTime()}
	}
	return out
}

// changedFiles lists the files in dir that differ from the snapshot by
// content or mtime, including files added or removed.
func changedFiles(t *testing.T, before map[string]fileState, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]bool{}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Name()] = true
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		b, ok := before[e.Name()]
		if !ok || !bytes.Equal(b.data, data) || !b.mtime.Equal(fi.ModTime()) {
			changed[e.Name()] = true
		}
	}
	for name := range before {
		if !seen[name] {
			changed[name] = true
		}
	}
	return changed
}
