package clusterdns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// sync is one pass: NodeHosts first, then the pods, so that a node's new
// address reaches CoreDNS in the same pass.
func (c *Controller) sync(ctx context.Context) error {
	coredns, err := c.configMap(ConfigMapName)
	if err != nil {
		return err
	}
	if coredns == nil {
		return nil // the addon is not deployed (disabled, or not yet)
	}
	if coredns, err = c.syncNodeHosts(ctx, coredns); err != nil || coredns == nil {
		return err
	}
	custom, err := c.configMap(CustomConfigMapName)
	if err != nil {
		return err
	}
	return c.nudgePods(ctx, configHash(coredns, custom))
}

// configMap is the cached ConfigMap name, or nil when there is none.
func (c *Controller) configMap(name string) (*corev1.ConfigMap, error) {
	obj, ok, err := c.configs.GetStore().GetByKey(c.cfg.Namespace + "/" + name)
	if err != nil || !ok {
		return nil, err
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return nil, fmt.Errorf("cluster DNS: the cache holds a %T for ConfigMap %s", obj, name)
	}
	return cm, nil
}

// syncNodeHosts writes NodeHosts into cm when it differs from the nodes'
// list, and returns the ConfigMap as it now is (nil if it was deleted
// meanwhile).
func (c *Controller) syncNodeHosts(ctx context.Context, cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	var nodes []*corev1.Node
	for _, obj := range c.nodes.GetStore().List() {
		if n, ok := obj.(*corev1.Node); ok {
			nodes = append(nodes, n)
		}
	}
	want := renderNodeHosts(nodes)
	if have, ok := cm.Data[NodeHostsKey]; ok && have == want {
		return cm, nil
	}
	patch, err := json.Marshal(map[string]any{"data": map[string]string{NodeHostsKey: want}})
	if err != nil {
		return nil, err
	}
	// A merge patch of the one key, under this part's own field manager:
	// the deploy controller's apply neither removes it nor conflicts with
	// it, and a deleted ConfigMap is not created again (see doc.go).
	got, err := c.cfg.Client.CoreV1().ConfigMaps(c.cfg.Namespace).Patch(ctx, ConfigMapName, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: FieldManager})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("writing %s into ConfigMap %s/%s: %w", NodeHostsKey, c.cfg.Namespace, ConfigMapName, err)
	}
	klog.InfoS("Cluster DNS: updated the nodes' names", "configMap", klog.KObj(got), "nodes", len(nodes))
	return got, nil
}

// nudgePods sets the configuration hash on the running CoreDNS pods that
// do not carry it (needsNudge), so that their kubelets rewrite their
// volumes.
func (c *Controller) nudgePods(ctx context.Context, hash string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{HashAnnotation: hash}}})
	if err != nil {
		return err
	}
	var errs []error
	for _, obj := range c.pods.GetStore().List() {
		pod, ok := obj.(*corev1.Pod)
		if !ok || !needsNudge(pod, hash) {
			continue
		}
		_, err := c.cfg.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch,
			metav1.PatchOptions{FieldManager: PodFieldManager})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("asking the kubelet of pod %s/%s to reload CoreDNS's configuration: %w", pod.Namespace, pod.Name, err))
		default:
			klog.V(2).InfoS("Cluster DNS: asked the kubelet to rewrite CoreDNS's configuration files", "pod", klog.KObj(pod), "hash", hash)
		}
	}
	return errors.Join(errs...)
}
