package launcher

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-k8s/skiff/internal/bundle/archive"
)

// echoProgram is the "skiff" in the test archive: it prints the name it
// was called by, its arguments and its folder.
const echoProgram = `package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	exe, _ := os.Executable()
	fmt.Printf("%s|%s|%s\n", os.Args[0], strings.Join(os.Args[1:], " "), filepath.Dir(exe))
}
`

// goBuild builds the package in dir into out, static.
func goBuild(t *testing.T, dir, out string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", append(append([]string{"build"}, args...), "-o", out, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", dir, err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// buildLauncher builds the module's launcher (-tags launcher) and appends
// an archive whose skiff is echoProgram.
func buildLauncher(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the launcher")
	}
	dir := t.TempDir()
	launcherBytes := goBuild(t, filepath.Join("..", ".."), filepath.Join(dir, "launcher"), "-tags", "launcher")
	src := filepath.Join(dir, "echo")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"go.mod": "module echo\n\ngo 1.22\n", "main.go": echoProgram} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	echo := goBuild(t, src, filepath.Join(dir, "echo.bin"))
	var tarball bytes.Buffer
	if err := archive.Write(&tarball, []archive.File{{Name: "skiff", Data: echo}, {Name: "runc", Data: []byte("runc")}}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Append(&out, launcherBytes, tarball.Bytes()); err != nil {
		t.Fatal(err)
	}
	skiff := filepath.Join(dir, "skiff")
	if err := os.WriteFile(skiff, out.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return skiff
}

func TestLauncherUnpacksOnceAndExecs(t *testing.T) {
	skiff := buildLauncher(t)
	dataDir := t.TempDir()
	run := func(argv0 string, args ...string) string {
		t.Helper()
		cmd := exec.Command(skiff, args...)
		cmd.Args[0] = argv0
		cmd.Env = append(os.Environ(), "SKIFF_DATA_DIR="+dataDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", argv0, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	got := run("skiff", "server", "--flag", "x y")
	fields := strings.Split(got, "|")
	if len(fields) != 3 || fields[1] != "server --flag x y" {
		t.Fatalf("the unpacked skiff saw %q", got)
	}
	bin := fields[2]
	current, err := filepath.EvalSymlinks(filepath.Join(dataDir, "data", "current"))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Join(current, "bin") != bin {
		t.Errorf("ran from %s, but data/current is %s", bin, current)
	}
	if _, err := os.Stat(filepath.Join(bin, "runc")); err != nil {
		t.Errorf("the runtime was not unpacked beside skiff: %v", err)
	}

	// Later starts reuse the folder: a marker left in it survives.
	marker := filepath.Join(filepath.Dir(bin), "seen")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Called through a link named kubectl, the name reaches skiff.
	if got := run("kubectl", "get", "nodes"); !strings.HasPrefix(got, "kubectl|get nodes|") {
		t.Errorf("through kubectl: %q", got)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the second start unpacked again: %v", err)
	}
}

func TestLauncherRefusesADamagedDownload(t *testing.T) {
	skiff := buildLauncher(t)
	data, err := os.ReadFile(skiff)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-int(trailerSize)-10] ^= 0xff // inside the archive
	if err := os.WriteFile(skiff, data, 0o755); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	cmd := exec.Command(skiff, "--version")
	cmd.Env = append(os.Environ(), "SKIFF_DATA_DIR="+dataDir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "damaged") {
		t.Fatalf("a damaged launcher ran: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "data")); len(entries) > 1 {
		t.Errorf("a damaged launcher left %d entries in data/", len(entries))
	}
}
