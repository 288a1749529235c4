package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeSource(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.go")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A file of crictl's command becomes package crictl, loses its build
// constraint and the framework import, and gets the constant's value.
func TestRewrite(t *testing.T) {
	p := writeSource(t, `//go:build !windows && !freebsd

// Package comment.
package main

import (
	"fmt"
	"runtime"

	"sigs.k8s.io/cri-tools/pkg/framework"
)

func main() {
	if runtime.GOOS == framework.OSWindows {
		fmt.Println("windows")
	}
}
`)
	out, err := rewrite(p, `"windows"`)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{"package crictl\n", `runtime.GOOS == "windows"`, "// Package comment.", "func main()"} {
		if !strings.Contains(got, want) {
			t.Errorf("rewritten file lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"go:build", "framework", "package main"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("rewritten file still has %q:\n%s", unwanted, got)
		}
	}
}

// Anything else taken from the test framework stops the build, named.
func TestRewriteRefusesMoreOfTheFramework(t *testing.T) {
	p := writeSource(t, `package main

import "sigs.k8s.io/cri-tools/pkg/framework"

var _ = framework.OSWindows
var _ = framework.TestContext
`)
	_, err := rewrite(p, `"windows"`)
	if err == nil || !strings.Contains(err.Error(), "framework.TestContext") {
		t.Fatalf("rewrite = %v, want an error naming framework.TestContext", err)
	}
	q := writeSource(t, "package other\n")
	if _, err := rewrite(q, `"windows"`); err == nil {
		t.Error("a file of another package was rewritten")
	}
}

// The constant's value is read from the framework's source, not assumed.
func TestConstant(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.go"), []byte("package framework\n\nconst (\n\tOSLinux = \"linux\"\n\tOSWindows = \"windows\"\n)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := constant(dir, "OSWindows"); err != nil || v != `"windows"` {
		t.Errorf("constant = %s, %v", v, err)
	}
	if _, err := constant(dir, "Missing"); err == nil {
		t.Error("a missing constant was found")
	}
}
