package snapshot

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func touch(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func names(list []Info) []string {
	var out []string
	for _, i := range list {
		out = append(out, i.Name)
	}
	return out
}

func TestFileNameIsK3sStyle(t *testing.T) {
	got := FileName("on-demand", "node-1", time.Unix(1700000000, 0))
	if got != "on-demand-node-1-1700000000" {
		t.Errorf("FileName = %q, want on-demand-node-1-1700000000", got)
	}
}

func TestListOrdersByTimeAndSkipsSavesUnderWay(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "etcd-snapshot-n1-300")
	touch(t, dir, "on-demand-n1-100")
	touch(t, dir, "etcd-snapshot-other-200")
	touch(t, dir, ".on-demand-n1-400.tmp-123") // a save under way
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	list, err := List(dir, "n1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"on-demand-n1-100", "etcd-snapshot-other-200", "etcd-snapshot-n1-300"}
	if !slices.Equal(names(list), want) {
		t.Fatalf("List = %q, want %q", names(list), want)
	}
	if list[0].CreatedAt.Unix() != 100 || list[0].Size != 1 || list[0].NodeName != "n1" {
		t.Errorf("first entry = %+v, want created at 100, size 1, node n1", list[0])
	}
	if list[1].NodeName != "" {
		t.Errorf("another node's file got node name %q", list[1].NodeName)
	}
	if abs, _ := filepath.Abs(filepath.Join(dir, "on-demand-n1-100")); list[0].Location != "file://"+abs {
		t.Errorf("Location = %q, want file://%s", list[0].Location, abs)
	}
	if missing, err := List(filepath.Join(dir, "none"), "n1"); err != nil || len(missing) != 0 {
		t.Errorf("List of a missing folder = %v, %v; want nothing, no error", missing, err)
	}
}

func TestPruneKeepsTheNewestOfItsPrefixOnly(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"etcd-snapshot-n1-1", "etcd-snapshot-n1-2", "etcd-snapshot-n1-3", "etcd-snapshot-n1-4", "on-demand-n1-5", "etcd-snapshot-n2-6"} {
		touch(t, dir, n)
	}
	deleted, err := Prune(dir, Prefix(ScheduledName, "n1"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"etcd-snapshot-n1-1", "etcd-snapshot-n1-2"}; !slices.Equal(deleted, want) {
		t.Errorf("Prune deleted %q, want %q", deleted, want)
	}
	list, _ := List(dir, "n1")
	if want := []string{"etcd-snapshot-n1-3", "etcd-snapshot-n1-4", "on-demand-n1-5", "etcd-snapshot-n2-6"}; !slices.Equal(names(list), want) {
		t.Errorf("left %q, want %q", names(list), want)
	}
	if _, err := Prune(dir, "x", 0); err == nil {
		t.Error("Prune with retention 0 succeeded; want a refusal")
	}
}

func TestDeleteChecksEveryNameFirst(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "a-n1-1")
	touch(t, dir, "b-n1-2")
	if _, err := Delete(dir, []string{"a-n1-1", "missing"}); err == nil {
		t.Fatal("Delete with a missing name succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "a-n1-1")); err != nil {
		t.Errorf("a refused Delete removed a file: %v", err)
	}
	if _, err := Delete(dir, []string{"../b-n1-2"}); err == nil {
		t.Error("Delete took a path outside the folder")
	}
	deleted, err := Delete(dir, []string{"a-n1-1", "b-n1-2"})
	if err != nil || len(deleted) != 2 {
		t.Fatalf("Delete = %q, %v", deleted, err)
	}
	if list, _ := List(dir, ""); len(list) != 0 {
		t.Errorf("left %q", names(list))
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"on-demand", "before.upgrade_1"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", ".hidden", "-x", "a b"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) accepted it", bad)
		}
	}
}
