package servicelb

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestTrimService(t *testing.T) {
	s := holding(local(lb("app/web", 0, "80/TCP", "53/UDP")), "80/TCP")
	s.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"}
	s.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	s.Spec.Selector = map[string]string{"app": "web"}
	s.Spec.Ports[0].TargetPort.IntVal = 8080
	s.Spec.Ports[0].NodePort = 30080
	got := trimService(s)
	if got.Annotations != nil || got.ManagedFields != nil || got.Spec.Selector != nil {
		t.Errorf("trimmed Service keeps what nothing reads: %+v", got.ObjectMeta)
	}
	if got.Spec.Ports[0] != (corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP}) {
		t.Errorf("port = %+v, want only the port and protocol", got.Spec.Ports[0])
	}
	if !manages(got) || !localTraffic(got) || !reflect.DeepEqual(wanted(got), wanted(s)) ||
		!reflect.DeepEqual(recorded(got), recorded(s)) || got.UID != s.UID || got.ResourceVersion != "1" ||
		!got.CreationTimestamp.Equal(&s.CreationTimestamp) {
		t.Errorf("trimmed Service lost what the decisions read: %+v", got)
	}
}

func TestTrimNodeAndUnchanged(t *testing.T) {
	n := node("a", true, map[string]string{EnableLBLabel: "true", "kubernetes.io/os": "linux"}, "InternalIP=10.0.0.1", "Hostname=a")
	n.ResourceVersion = "1"
	n.Status.Conditions[0].LastHeartbeatTime = metav1.Now()
	n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse})
	got := trimNode(n)
	if !reflect.DeepEqual(got.Labels, map[string]string{EnableLBLabel: "true"}) {
		t.Errorf("labels = %v, want only %s", got.Labels, EnableLBLabel)
	}
	if len(got.Status.Addresses) != 1 || !nodeReady(got) || len(got.Status.Conditions) != 1 {
		t.Errorf("trimmed node: %+v", got.Status)
	}

	// A heartbeat changes nothing the controller reads.
	beat := n.DeepCopy()
	beat.ResourceVersion = "2"
	beat.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(epoch)
	if !unchanged(got, trimNode(beat)) {
		t.Error("a heartbeat counts as a change")
	}
	down := n.DeepCopy()
	down.Status.Conditions[0].Status = corev1.ConditionUnknown
	if unchanged(got, trimNode(down)) {
		t.Error("a node going NotReady does not count as a change")
	}
}

func TestTrimSliceAndReadyNodes(t *testing.T) {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web-abc", Labels: map[string]string{
			discoveryv1.LabelServiceName: "web", "endpointslice.kubernetes.io/managed-by": "x",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.42.0.5"}, NodeName: ptr.To("n2"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.42.0.6"}, NodeName: ptr.To("n2"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.42.1.5"}, NodeName: ptr.To("n1")}, // ready unset: ready
			{Addresses: []string{"10.42.2.5"}, NodeName: ptr.To("n3"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
			{Addresses: []string{"10.42.3.5"}},
		},
	}
	got := trimSlice(es)
	if !reflect.DeepEqual(got.Labels, map[string]string{discoveryv1.LabelServiceName: "web"}) {
		t.Errorf("labels = %v", got.Labels)
	}
	if len(got.Endpoints) != 2 || got.Endpoints[0].Addresses != nil {
		t.Errorf("endpoints = %+v, want one per node with a ready endpoint, without addresses", got.Endpoints)
	}
	want := map[string]bool{"n1": true, "n2": true}
	if r := readyNodes([]*discoveryv1.EndpointSlice{got}); !reflect.DeepEqual(r, want) {
		t.Errorf("ready nodes of the trimmed slice = %v, want %v", r, want)
	}
	if r := readyNodes([]*discoveryv1.EndpointSlice{es}); !reflect.DeepEqual(r, want) {
		t.Errorf("ready nodes of the whole slice = %v, want %v", r, want)
	}
	if idx, _ := sliceService(got); !reflect.DeepEqual(idx, []string{"app/web"}) {
		t.Errorf("index = %v, want app/web", idx)
	}

	// Another pod on a node that already has one changes nothing.
	more := es.DeepCopy()
	more.ResourceVersion = "9"
	more.Endpoints = append(more.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.42.0.7"}, NodeName: ptr.To("n2")})
	if !unchanged(got, trimSlice(more)) {
		t.Error("a third endpoint on n2 counts as a change")
	}
}

func TestTrimLeavesOthersAlone(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	if got, err := trim(pod); err != nil || got != any(pod) {
		t.Errorf("trim(pod) = %v, %v; want it untouched", got, err)
	}
}
