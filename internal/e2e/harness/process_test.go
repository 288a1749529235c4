package harness

import (
	"os"
	"path/filepath"
	"testing"
)

// TestKeepLog: with $SKIFF_E2E_KEEP_LOGS set, a log is copied whole into
// that folder under the test's name; without it nothing is written.
func TestKeepLog(t *testing.T) {
	src := filepath.Join(t.TempDir(), "skiff.log")
	if err := os.WriteFile(src, []byte("first line\nlast line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "kept")

	t.Setenv(keepLogsEnv, "")
	keepLog(t, src)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("without %s a log was kept: %v", keepLogsEnv, err)
	}

	t.Setenv(keepLogsEnv, dir)
	keepLog(t, src)
	kept, err := filepath.Glob(filepath.Join(dir, "TestKeepLog-*.log"))
	if err != nil || len(kept) != 1 {
		t.Fatalf("kept logs: %v %v, want one TestKeepLog-*.log", kept, err)
	}
	if b, err := os.ReadFile(kept[0]); err != nil || string(b) != "first line\nlast line\n" {
		t.Fatalf("kept log reads %q %v, want the whole log", b, err)
	}
}
