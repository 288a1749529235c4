package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// ConfigMap is where the snapshots are recorded (kube-system), named after
// k3s's k3s-etcd-snapshots: one key per snapshot, local-<file name>, whose
// value is the snapshot's Info as JSON.
const (
	ConfigMap          = "skiff-etcd-snapshots"
	ConfigMapNamespace = "kube-system"
	keyPrefix          = "local-"
)

// recorder keeps the ConfigMap's keys for this node's snapshots equal to
// the files in its folder. It re-reads the folder on a timer rather than
// being told by `skiff etcd-snapshot`: the command works with the server
// stopped, and a file removed by hand or by the user's own tools must
// leave the list too; a folder read every few seconds costs next to
// nothing. Each server writes only its own node's keys, so servers
// sharing the ConfigMap never undo each other.
type recorder struct {
	client kubernetes.Interface
	dir    string
	node   string

	last     map[string]string // the keys as last written
	lastSync time.Time
}

// fullSyncEvery bounds how long an edit of the ConfigMap by someone else
// (or its deletion) goes unrepaired while the folder does not change.
const fullSyncEvery = time.Minute

func (r *recorder) run(ctx context.Context, every time.Duration, taken <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := r.sync(ctx); err != nil && ctx.Err() == nil {
			klog.V(2).InfoS("Recording snapshots in the ConfigMap failed; retrying", "configMap", ConfigMapNamespace+"/"+ConfigMap, "err", err)
			r.last = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-taken:
		}
	}
}

// wanted is this node's keys as the folder says they should be.
func (r *recorder) wanted() (map[string]string, error) {
	list, err := List(r.dir, r.node)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list))
	for _, i := range list {
		// The file is in this server's folder: it is this node's, whatever
		// its name says.
		i.NodeName = r.node
		b, err := json.Marshal(i)
		if err != nil {
			return nil, err
		}
		out[keyPrefix+i.Name] = string(b)
	}
	return out, nil
}

func (r *recorder) sync(ctx context.Context) error {
	want, err := r.wanted()
	if err != nil {
		return err
	}
	if r.last != nil && maps.Equal(want, r.last) && time.Since(r.lastSync) < fullSyncEvery {
		return nil
	}
	cms := r.client.CoreV1().ConfigMaps(ConfigMapNamespace)
	cm, err := cms.Get(ctx, ConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMap, Namespace: ConfigMapNamespace}, Data: want}
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating the ConfigMap: %w", err)
		}
		r.remember(want)
		return nil
	}
	if err != nil {
		return err
	}
	data := merge(cm.Data, want, r.node)
	if !maps.Equal(data, cm.Data) {
		cm.Data = data
		// The resourceVersion read above guards against another server's
		// write in between: a conflict is retried on the next tick.
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating the ConfigMap: %w", err)
		}
	}
	r.remember(want)
	return nil
}

func (r *recorder) remember(want map[string]string) {
	r.last, r.lastSync = want, time.Now()
}

// merge is have with this node's entries replaced by want; other nodes'
// entries, and keys that are not snapshots, are kept.
func merge(have, want map[string]string, node string) map[string]string {
	out := make(map[string]string, len(have)+len(want))
	for k, v := range have {
		var i Info
		if json.Unmarshal([]byte(v), &i) == nil && i.NodeName == node {
			continue // this node's: want says what stays
		}
		out[k] = v
	}
	maps.Copy(out, want)
	return out
}
