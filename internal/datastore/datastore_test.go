package datastore

import "testing"

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://kube:s3cret@db:5432/k8s":         "postgres://kube:***@db:5432/k8s",
		"mysql://root:pw@tcp(127.0.0.1:3306)/kine":   "mysql://root:***@tcp(127.0.0.1:3306)/kine",
		"https://etcd-1:2379,https://etcd-2:2379":    "https://etcd-1:2379,https://etcd-2:2379",
		"postgres://nopassword@db/k8s":               "postgres://nopassword@db/k8s",
		"sqlite:///var/lib/skiff/server/db/state.db": "sqlite:///var/lib/skiff/server/db/state.db",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
