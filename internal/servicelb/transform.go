package servicelb

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// trim is the informers' transform: each object is cut down to what the
// controller decides on before it is cached, so the caches hold little
// (no managed fields, last-applied annotations, selectors, or endpoint
// addresses). Status is written with a merge patch (status.go), never by
// sending a cached object back, so nothing is lost by the cut.
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return trimService(o), nil
	case *corev1.Node:
		return trimNode(o), nil
	case *discoveryv1.EndpointSlice:
		return trimSlice(o), nil
	}
	return obj, nil // a tombstone or anything else: leave it be
}

// meta keeps what the caches, Events and patches need.
func meta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:              m.Name,
		Namespace:         m.Namespace,
		UID:               m.UID,
		ResourceVersion:   m.ResourceVersion,
		CreationTimestamp: m.CreationTimestamp,
	}
}

func trimService(s *corev1.Service) *corev1.Service {
	out := &corev1.Service{
		TypeMeta:   s.TypeMeta,
		ObjectMeta: meta(s.ObjectMeta),
		Spec: corev1.ServiceSpec{
			Type:                  s.Spec.Type,
			LoadBalancerClass:     s.Spec.LoadBalancerClass,
			ExternalTrafficPolicy: s.Spec.ExternalTrafficPolicy,
			IPFamilies:            s.Spec.IPFamilies,
		},
		Status: corev1.ServiceStatus{LoadBalancer: s.Status.LoadBalancer},
	}
	for _, p := range s.Spec.Ports {
		out.Spec.Ports = append(out.Spec.Ports, corev1.ServicePort{Protocol: p.Protocol, Port: p.Port})
	}
	return out
}

// nodeLabels are the only labels eligibleNodes reads.
var nodeLabels = []string{EnableLBLabel, corev1.LabelNodeExcludeBalancers}

func trimNode(n *corev1.Node) *corev1.Node {
	out := &corev1.Node{TypeMeta: n.TypeMeta, ObjectMeta: meta(n.ObjectMeta)}
	for _, k := range nodeLabels {
		if v, ok := n.Labels[k]; ok {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[k] = v
		}
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
			out.Status.Addresses = append(out.Status.Addresses, a)
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			// Only the status: the heartbeat times change every few
			// minutes and would make every update look like a change.
			out.Status.Conditions = []corev1.NodeCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	return out
}

// trimSlice keeps one endpoint per node that has a ready endpoint of the
// Service, with only its node name: all that externalTrafficPolicy Local
// needs. An endpoint whose ready condition is unset counts as ready, as the
// EndpointSlice API says.
func trimSlice(es *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	out := &discoveryv1.EndpointSlice{
		TypeMeta:    es.TypeMeta,
		ObjectMeta:  meta(es.ObjectMeta),
		AddressType: es.AddressType,
	}
	if svc, ok := es.Labels[discoveryv1.LabelServiceName]; ok {
		out.Labels = map[string]string{discoveryv1.LabelServiceName: svc}
	}
	var nodes []string
	for _, ep := range es.Endpoints {
		if ep.NodeName == nil || *ep.NodeName == "" || (ep.Conditions.Ready != nil && !*ep.Conditions.Ready) {
			continue
		}
		if !slices.Contains(nodes, *ep.NodeName) {
			nodes = append(nodes, *ep.NodeName)
		}
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		out.Endpoints = append(out.Endpoints, discoveryv1.Endpoint{
			NodeName:   ptr.To(n),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		})
	}
	return out
}

// readyNodes are the names of the nodes with a ready endpoint in slices.
func readyNodes(eps []*discoveryv1.EndpointSlice) map[string]bool {
	out := map[string]bool{}
	for _, es := range eps {
		for _, ep := range es.Endpoints {
			if ep.NodeName != nil && *ep.NodeName != "" && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
				out[*ep.NodeName] = true
			}
		}
	}
	return out
}

// unchanged says whether an update changed nothing the controller reads:
// the trimmed objects are equal once their resourceVersions are set aside.
// Such an update needs no pass.
func unchanged(oldObj, newObj any) bool {
	switch a := oldObj.(type) {
	case *corev1.Service:
		b, ok := newObj.(*corev1.Service)
		if !ok {
			return false
		}
		x, y := *a, *b
		x.ResourceVersion, y.ResourceVersion = "", ""
		return equality.Semantic.DeepEqual(x, y)
	case *corev1.Node:
		b, ok := newObj.(*corev1.Node)
		if !ok {
			return false
		}
		x, y := *a, *b
		x.ResourceVersion, y.ResourceVersion = "", ""
		return equality.Semantic.DeepEqual(x, y)
	case *discoveryv1.EndpointSlice:
		b, ok := newObj.(*discoveryv1.EndpointSlice)
		if !ok {
			return false
		}
		x, y := *a, *b
		x.ResourceVersion, y.ResourceVersion = "", ""
		return equality.Semantic.DeepEqual(x, y)
	}
	return false
}
