package loadbalancer

import (
	"context"
	"net"
	"slices"
	"strconv"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Watch keeps the list in step with the EndpointSlices of the kubernetes
// Service in the default namespace, until ctx ends. Those endpoints are the
// servers' advertise addresses at the apiserver's own port; the agent talks
// to the supervisor, so each address is taken at port instead (the servers'
// --https-listen-port).
//
// An update with no ready address leaves the list as it is: losing every
// server for a moment of empty endpoints would be worse than trying a stale
// one. The informer retries on its own while no server answers.
//
// client needs list and watch on discovery.k8s.io EndpointSlices in the
// default namespace (kube-proxy's credentials have that).
func (lb *LoadBalancer) Watch(ctx context.Context, client kubernetes.Interface, port int) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(metav1.NamespaceDefault),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=kubernetes"
		}))
	slicesInformer := factory.Discovery().V1().EndpointSlices()
	lister := slicesInformer.Lister()
	update := func() {
		all, err := lister.List(labels.Everything())
		if err != nil {
			klog.ErrorS(err, "Load balancer: listing the kubernetes EndpointSlices")
			return
		}
		addrs := serverAddresses(all, port)
		if len(addrs) == 0 {
			klog.V(2).InfoS("Load balancer: the kubernetes Service has no ready endpoint; keeping the list", "servers", lb.Servers())
			return
		}
		lb.SetServers(addrs)
	}
	// The handler's calls are serialised by the informer.
	_, err := slicesInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { update() },
		UpdateFunc: func(any, any) { update() },
		DeleteFunc: func(any) { update() },
	})
	if err != nil {
		klog.ErrorS(err, "Load balancer: watching the kubernetes EndpointSlices")
		return
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
}

// serverAddresses are the ready endpoints' addresses at port, sorted so
// that the order does not depend on how they are split across slices.
func serverAddresses(eps []*discoveryv1.EndpointSlice, port int) []string {
	var out []string
	p := strconv.Itoa(port)
	for _, es := range eps {
		if es.Labels[discoveryv1.LabelServiceName] != "kubernetes" {
			continue
		}
		for _, ep := range es.Endpoints {
			// Ready is nil when unknown, which counts as ready.
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				if net.ParseIP(a) == nil {
					continue
				}
				if hp := net.JoinHostPort(a, p); !slices.Contains(out, hp) {
					out = append(out, hp)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
