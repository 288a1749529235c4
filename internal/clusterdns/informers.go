package clusterdns

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// newInformers builds the three watches. Each keeps only what a pass
// reads: a node's name and addresses, a pod's identity, annotations and
// node; no managed fields anywhere.
func (c *Controller) newInformers() error {
	client, ns := c.cfg.Client, c.cfg.Namespace
	c.nodes = coreinformers.NewNodeInformer(client, 0, cache.Indexers{})
	// Every ConfigMap of the namespace: a field selector cannot name two.
	// kube-system holds a handful.
	c.configs = coreinformers.NewConfigMapInformer(client, ns, 0, cache.Indexers{})
	c.pods = coreinformers.NewFilteredPodInformer(client, ns, 0, cache.Indexers{}, func(o *metav1.ListOptions) {
		o.LabelSelector = PodSelector
	})
	c.informers = []cache.SharedIndexInformer{c.nodes, c.configs, c.pods}

	for what, in := range map[string]struct {
		inf       cache.SharedIndexInformer
		transform cache.TransformFunc
		handler   cache.ResourceEventHandler
	}{
		"Nodes": {c.nodes, trimNode, cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { c.changed() },
			UpdateFunc: func(old, cur any) {
				// Status updates are frequent; only addresses and names matter.
				if o, ok := old.(*corev1.Node); ok {
					if n, ok := cur.(*corev1.Node); ok && fmt.Sprint(internalIPs(o)) == fmt.Sprint(internalIPs(n)) {
						return
					}
				}
				c.changed()
			},
			DeleteFunc: func(any) { c.changed() },
		}},
		"ConfigMaps": {c.configs, trimMeta, cache.FilteringResourceEventHandler{
			FilterFunc: isCoreDNSConfig,
			Handler: cache.ResourceEventHandlerFuncs{
				AddFunc:    func(any) { c.changed() },
				UpdateFunc: func(any, any) { c.changed() },
				DeleteFunc: func(any) { c.changed() },
			},
		}},
		// A pod is looked at when it appears and once it is on a node.
		"Pods": {c.pods, trimPod, cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { c.changed() },
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(*corev1.Pod)
				n, ok2 := cur.(*corev1.Pod)
				if !ok1 || !ok2 || o.Spec.NodeName != n.Spec.NodeName {
					c.changed()
				}
			},
		}},
	} {
		if err := in.inf.SetTransform(in.transform); err != nil {
			return fmt.Errorf("cluster DNS: %s informer: %w", what, err)
		}
		if _, err := in.inf.AddEventHandler(in.handler); err != nil {
			return fmt.Errorf("cluster DNS: %s informer: %w", what, err)
		}
	}
	return nil
}

func isCoreDNSConfig(obj any) bool {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	cm, ok := obj.(*corev1.ConfigMap)
	return ok && (cm.Name == ConfigMapName || cm.Name == CustomConfigMapName)
}

// trimNode keeps a node's name and addresses: all a pass reads of it.
func trimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion},
		Status:     corev1.NodeStatus{Addresses: n.Status.Addresses},
	}, nil
}

// trimPod keeps what needsNudge reads.
func trimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Annotations: p.Annotations, DeletionTimestamp: p.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{NodeName: p.Spec.NodeName},
	}, nil
}

// trimMeta drops managed fields, which a ConfigMap applied by two managers
// carries for each.
func trimMeta(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
