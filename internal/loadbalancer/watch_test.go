package loadbalancer

import (
	"context"
	"slices"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func kubernetesSlice(name string, ready map[string]bool) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for addr, r := range ready {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{addr},
			Conditions: discoveryv1.EndpointConditions{Ready: &r},
		})
	}
	return es
}

func waitServers(t *testing.T, lb *LoadBalancer, want []string) {
	t.Helper()
	begin := time.Now()
	defer func() { t.Logf("waited %v for %q", time.Since(begin), want) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := lb.Servers()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Servers() = %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatchFollowsTheKubernetesEndpoints(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	other := kubernetesSlice("other", map[string]bool{"10.9.9.9": true})
	other.Labels[discoveryv1.LabelServiceName] = "other"
	client := fake.NewClientset(
		kubernetesSlice("kubernetes", map[string]bool{"10.0.0.2": true, "10.0.0.1": true, "10.0.0.3": false}),
		other,
	)
	lb, err := New(Config{Server: "https://s.example:6443"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		lb.Watch(ctx, client, 6443)
		close(done)
	}()
	// The endpoints carry the apiserver's port; the list has the
	// supervisor's. Not-ready endpoints and other Services are left out.
	waitServers(t, lb, []string{"10.0.0.1:6443", "10.0.0.2:6443", "s.example:6443"})

	es := kubernetesSlice("kubernetes", map[string]bool{"10.0.0.2": true, "10.0.0.3": true})
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitServers(t, lb, []string{"10.0.0.2:6443", "10.0.0.3:6443", "s.example:6443"})

	// A second slice adds to the first.
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, kubernetesSlice("kubernetes-2", map[string]bool{"10.0.0.4": true}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitServers(t, lb, []string{"10.0.0.2:6443", "10.0.0.3:6443", "10.0.0.4:6443", "s.example:6443"})

	if err := client.DiscoveryV1().EndpointSlices("default").Delete(ctx, "kubernetes", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitServers(t, lb, []string{"10.0.0.4:6443", "s.example:6443"})

	// No ready endpoint at all: the list stays as it was.
	es = kubernetesSlice("kubernetes-2", map[string]bool{"10.0.0.4": false})
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.DiscoveryV1().EndpointSlices("default").Delete(ctx, "kubernetes-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	waitServers(t, lb, []string{"10.0.0.4:6443", "s.example:6443"})

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}
