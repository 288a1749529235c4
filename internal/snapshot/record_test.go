package snapshot

import (
	"context"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestRecorderKeepsItsNodesKeys: the ConfigMap gets a key per file of this
// node's folder, loses the key of a deleted file, and keeps other nodes'.
func TestRecorderKeepsItsNodesKeys(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "on-demand-n1-100")
	touch(t, dir, "etcd-snapshot-n1-200")
	client := fake.NewClientset()
	ctx := context.Background()
	r := &recorder{client: client, dir: dir, node: "n1"}
	if err := r.sync(ctx); err != nil {
		t.Fatal(err)
	}
	cm, err := client.CoreV1().ConfigMaps(ConfigMapNamespace).Get(ctx, ConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var i Info
	if err := json.Unmarshal([]byte(cm.Data["local-on-demand-n1-100"]), &i); err != nil {
		t.Fatalf("key local-on-demand-n1-100: %v (data %v)", err, cm.Data)
	}
	if i.Name != "on-demand-n1-100" || i.NodeName != "n1" || i.Size != 1 || i.CreatedAt.Unix() != 100 {
		t.Errorf("recorded %+v", i)
	}

	other, _ := json.Marshal(Info{Name: "on-demand-n2-5", NodeName: "n2"})
	cm.Data["local-on-demand-n2-5"] = string(other)
	if _, err := client.CoreV1().ConfigMaps(ConfigMapNamespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Delete(dir, []string{"on-demand-n1-100"}); err != nil {
		t.Fatal(err)
	}
	if err := r.sync(ctx); err != nil {
		t.Fatal(err)
	}
	cm, _ = client.CoreV1().ConfigMaps(ConfigMapNamespace).Get(ctx, ConfigMap, metav1.GetOptions{})
	if _, ok := cm.Data["local-on-demand-n1-100"]; ok {
		t.Error("the deleted snapshot is still recorded")
	}
	if _, ok := cm.Data["local-etcd-snapshot-n1-200"]; !ok {
		t.Error("the remaining snapshot is no longer recorded")
	}
	if _, ok := cm.Data["local-on-demand-n2-5"]; !ok {
		t.Error("another node's snapshot was removed")
	}
}

func TestParseSchedule(t *testing.T) {
	for _, ok := range []string{DefaultSchedule, "* * * * *", "@every 6h", "@daily"} {
		if _, err := ParseSchedule(ok); err != nil {
			t.Errorf("ParseSchedule(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "every day", "61 * * * *", "* * * *"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted it", bad)
		}
	}
}
