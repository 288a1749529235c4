package servicelb

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// lb is a LoadBalancer Service ns/name created `created` minutes after
// epoch, asking for ports like "80/TCP".
func lb(name string, created int, ports ...string) *corev1.Service {
	ns, n, ok := strings.Cut(name, "/")
	if !ok {
		ns, n = "default", name
	}
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         ns,
			Name:              n,
			UID:               types.UID("uid-" + name),
			ResourceVersion:   "1",
			CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(created) * time.Minute)),
		},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeLoadBalancer,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
		},
	}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, servicePort(p))
	}
	return s
}

func servicePort(p string) corev1.ServicePort {
	num, proto, _ := strings.Cut(p, "/")
	n, err := strconv.Atoi(num)
	if err != nil {
		panic(p)
	}
	return corev1.ServicePort{Port: int32(n), Protocol: corev1.Protocol(proto)}
}

// holding gives s a status ingress (at 192.0.2.1) that records ports.
func holding(s *corev1.Service, ports ...string) *corev1.Service {
	ing := corev1.LoadBalancerIngress{IP: "192.0.2.1", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}
	for _, p := range ports {
		sp := servicePort(p)
		ing.Ports = append(ing.Ports, corev1.PortStatus{Port: sp.Port, Protocol: sp.Protocol})
	}
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{ing}
	return s
}

func withClass(s *corev1.Service, class string) *corev1.Service {
	s.Spec.LoadBalancerClass = ptr.To(class)
	return s
}

func local(s *corev1.Service) *corev1.Service {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	return s
}

// node is a Node; addrs are "InternalIP=10.0.0.1" or "ExternalIP=...".
func node(name string, ready bool, labels map[string]string, addrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}
	for _, a := range addrs {
		typ, ip, _ := strings.Cut(a, "=")
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeAddressType(typ), Address: ip})
	}
	return n
}

func TestManages(t *testing.T) {
	clusterIP := lb("c", 0, "80/TCP")
	clusterIP.Spec.Type = corev1.ServiceTypeClusterIP
	for _, tc := range []struct {
		svc  *corev1.Service
		want bool
	}{
		{lb("plain", 0, "80/TCP"), true},
		{withClass(lb("ours", 0, "80/TCP"), ClassName), true},
		{withClass(lb("metallb", 0, "80/TCP"), "metallb.io/metallb"), false},
		{clusterIP, false},
	} {
		if got := manages(tc.svc); got != tc.want {
			t.Errorf("manages(%s) = %v, want %v", tc.svc.Name, got, tc.want)
		}
	}
}

func TestEligibleNodes(t *testing.T) {
	on := map[string]string{EnableLBLabel: "true"}
	off := map[string]string{EnableLBLabel: "false"}
	excluded := map[string]string{corev1.LabelNodeExcludeBalancers: ""}
	for _, tc := range []struct {
		name   string
		nodes  []*corev1.Node
		want   []string
		whyHas string
	}{
		{"every Ready node, sorted", []*corev1.Node{node("b", true, nil), node("a", true, nil)}, []string{"a", "b"}, ""},
		{"not Ready left out", []*corev1.Node{node("a", true, nil), node("b", false, nil)}, []string{"a"}, ""},
		{"label selects", []*corev1.Node{node("a", true, on), node("b", true, nil), node("c", true, off)}, []string{"a"}, ""},
		{"label false alone still selects", []*corev1.Node{node("a", true, off), node("b", true, nil)}, nil, "no node is labelled " + EnableLBLabel + "=true"},
		{"excluded by upstream's label", []*corev1.Node{node("a", true, excluded), node("b", true, nil)}, []string{"b"}, ""},
		{"all excluded", []*corev1.Node{node("a", true, excluded)}, nil, "every node is labelled " + corev1.LabelNodeExcludeBalancers},
		{"none Ready", []*corev1.Node{node("a", false, on)}, nil, "none of the nodes that may serve it is Ready"},
		{"no nodes", nil, nil, "no node in the cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := eligibleNodes(tc.nodes)
			var names []string
			for _, n := range got {
				names = append(names, n.Name)
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("eligible = %v, want %v", names, tc.want)
			}
			if (tc.whyHas == "") != (why == "") || !strings.Contains(why, tc.whyHas) {
				t.Errorf("why = %q, want it to say %q", why, tc.whyHas)
			}
		})
	}
}

func TestNodeAddresses(t *testing.T) {
	n := node("a", true, nil, "InternalIP=10.0.0.5", "ExternalIP=203.0.113.5", "InternalIP=fd00::5", "Hostname=a")
	if got := nodeAddresses(n, corev1.IPv4Protocol); len(got) != 1 || got[0].String() != "203.0.113.5" {
		t.Errorf("IPv4 = %v, want the ExternalIP 203.0.113.5", got)
	}
	if got := nodeAddresses(n, corev1.IPv6Protocol); len(got) != 1 || got[0].String() != "fd00::5" {
		t.Errorf("IPv6 = %v, want the InternalIP fd00::5 (no IPv6 ExternalIP)", got)
	}
	if got := nodeAddresses(node("b", true, nil, "Hostname=b"), corev1.IPv4Protocol); len(got) != 0 {
		t.Errorf("a node with no IP: %v, want none", got)
	}
}

func ips(ingress []corev1.LoadBalancerIngress) []string {
	var out []string
	for _, i := range ingress {
		out = append(out, i.IP)
	}
	return out
}

func TestIngressFor(t *testing.T) {
	nodes := []*corev1.Node{
		node("a", true, nil, "InternalIP=10.0.0.10"),
		node("b", true, nil, "InternalIP=10.0.0.9", "InternalIP=fd00::9"),
		node("c", true, nil, "InternalIP=10.0.0.11", "ExternalIP=198.51.100.11"),
	}
	dual := lb("dual", 0, "80/TCP")
	dual.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
	v6 := lb("v6", 0, "80/TCP")
	v6.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	for _, tc := range []struct {
		name   string
		svc    *corev1.Service
		nodes  []*corev1.Node
		local  map[string]bool
		want   []string
		whyHas string
	}{
		{"Cluster: every eligible node, sorted as addresses", lb("s", 0, "80/TCP"), nodes, nil, []string{"10.0.0.9", "10.0.0.10", "198.51.100.11"}, ""},
		{"Local: only nodes with a ready endpoint", local(lb("s", 0, "80/TCP")), nodes, map[string]bool{"b": true, "gone": true}, []string{"10.0.0.9"}, ""},
		{"Local without endpoints", local(lb("s", 0, "80/TCP")), nodes, nil, nil, "externalTrafficPolicy is Local"},
		{"the Service's family order", dual, nodes, nil, []string{"fd00::9", "10.0.0.9", "10.0.0.10", "198.51.100.11"}, ""},
		{"no address of the family", v6, nodes[:1], nil, nil, "no node that may serve it has an IPv6 address"},
		{"no eligible node", lb("s", 0, "80/TCP"), nil, nil, nil, "because"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eligible, why := eligibleNodes(tc.nodes)
			if len(eligible) == 0 {
				why = "because"
			}
			got, gotWhy := ingressFor(tc.svc, eligible, why, tc.local)
			if !reflect.DeepEqual(ips(got), tc.want) {
				t.Errorf("ingress IPs = %v, want %v", ips(got), tc.want)
			}
			if (tc.whyHas == "") != (gotWhy == "") || !strings.Contains(gotWhy, tc.whyHas) {
				t.Errorf("why = %q, want it to say %q", gotWhy, tc.whyHas)
			}
			for _, ing := range got {
				if ing.IPMode == nil || *ing.IPMode != corev1.LoadBalancerIPModeVIP {
					t.Errorf("ingress %s: ipMode %v, want VIP (kube-proxy programs only VIPs)", ing.IP, ing.IPMode)
				}
				if len(ing.Ports) != 1 || ing.Ports[0] != (corev1.PortStatus{Port: 80, Protocol: corev1.ProtocolTCP}) {
					t.Errorf("ingress %s: ports %v, want the Service's 80/TCP", ing.IP, ing.Ports)
				}
			}
		})
	}
}

func TestAllocate(t *testing.T) {
	reserved := map[portKey]string{
		{corev1.ProtocolTCP, 6443}: "the supervisor's HTTPS port",
		{corev1.ProtocolUDP, 8472}: "",
	}
	for _, tc := range []struct {
		name     string
		services []*corev1.Service
		// pending maps each Service that gets nothing to its clashes as
		// "port=holder" ("port=skiff" for a reserved one).
		pending map[string][]string
	}{
		{
			name:     "distinct ports all admitted",
			services: []*corev1.Service{lb("a", 0, "80/TCP"), lb("b", 1, "81/TCP")},
		},
		{
			name:     "the oldest wins",
			services: []*corev1.Service{lb("new", 5, "80/TCP"), lb("old", 1, "80/TCP")},
			pending:  map[string][]string{"default/new": {"80/TCP=default/old"}},
		},
		{
			name:     "same age: namespace/name decides",
			services: []*corev1.Service{lb("zz/web", 1, "80/TCP"), lb("aa/web", 1, "80/TCP")},
			pending:  map[string][]string{"zz/web": {"80/TCP=aa/web"}},
		},
		{
			name:     "the holder keeps its port against an older Service",
			services: []*corev1.Service{holding(lb("holder", 5, "80/TCP"), "80/TCP"), lb("older", 1, "80/TCP")},
			pending:  map[string][]string{"default/older": {"80/TCP=default/holder"}},
		},
		{
			name: "an older Service that moves to a taken port does not take it",
			services: []*corev1.Service{
				holding(lb("holder", 5, "80/TCP"), "80/TCP"),
				holding(lb("mover", 1, "80/TCP"), "81/TCP"), // had 81, now asks for 80
			},
			pending: map[string][]string{"default/mover": {"80/TCP=default/holder"}},
		},
		{
			name: "a Service that adds a port keeps the one it holds",
			services: []*corev1.Service{
				holding(lb("grower", 5, "80/TCP", "443/TCP"), "80/TCP"),
				lb("waiting", 1, "80/TCP"),
			},
			pending: map[string][]string{"default/waiting": {"80/TCP=default/grower"}},
		},
		{
			name: "two holders of one port (a race): the oldest keeps it",
			services: []*corev1.Service{
				holding(lb("b", 2, "80/TCP"), "80/TCP"),
				holding(lb("a", 1, "80/TCP"), "80/TCP"),
			},
			pending: map[string][]string{"default/b": {"80/TCP=default/a"}},
		},
		{
			name:     "TCP and UDP on one number do not clash",
			services: []*corev1.Service{lb("dns-tcp", 0, "53/TCP"), lb("dns-udp", 1, "53/UDP")},
		},
		{
			name:     "empty protocol is TCP",
			services: []*corev1.Service{lb("a", 0, "80/"), lb("b", 1, "80/TCP")},
			pending:  map[string][]string{"default/b": {"80/TCP=default/a"}},
		},
		{
			name: "all or nothing: a pending Service holds none of its free ports",
			services: []*corev1.Service{
				lb("a", 0, "80/TCP"),
				lb("b", 1, "80/TCP", "443/TCP"),
				lb("c", 2, "443/TCP"),
			},
			pending: map[string][]string{"default/b": {"80/TCP=default/a"}},
		},
		{
			name:     "every clash is named",
			services: []*corev1.Service{lb("a", 0, "80/TCP"), lb("b", 1, "80/TCP", "6443/TCP", "8472/UDP")},
			pending:  map[string][]string{"default/b": {"80/TCP=default/a", "6443/TCP=skiff", "8472/UDP=skiff"}},
		},
		{
			name:     "skiff's ports are refused even to a holder",
			services: []*corev1.Service{holding(lb("a", 0, "6443/TCP"), "6443/TCP")},
			pending:  map[string][]string{"default/a": {"6443/TCP=skiff"}},
		},
		{
			name:     "another class takes no port",
			services: []*corev1.Service{withClass(lb("metallb", 0, "80/TCP"), "metallb.io/x"), lb("ours", 1, "80/TCP")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string][]string{}
			for name, clashes := range allocate(tc.services, reserved) {
				for _, c := range clashes {
					holder := c.Holder
					if holder == "" {
						holder = "skiff"
					}
					got[name] = append(got[name], c.Port.String()+"="+holder)
				}
			}
			want := tc.pending
			if want == nil {
				want = map[string][]string{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("pending = %v, want %v", got, want)
			}
		})
	}
}

func TestClashMessage(t *testing.T) {
	tcp80 := portKey{corev1.ProtocolTCP, 80}
	tcp443 := portKey{corev1.ProtocolTCP, 443}
	tcp6443 := portKey{corev1.ProtocolTCP, 6443}
	for _, tc := range []struct {
		clashes []clash
		want    string
	}{
		{[]clash{{Port: tcp80, Holder: "default/web1"}},
			"port 80/TCP is used by LoadBalancer Service default/web1 on every node; delete it or pick another port"},
		{[]clash{{Port: tcp6443, What: "the supervisor's HTTPS port"}},
			"port 6443/TCP is used by skiff (the supervisor's HTTPS port) on every node; pick another port"},
		{[]clash{{Port: tcp6443}},
			"port 6443/TCP is used by skiff on every node; pick another port"},
		{[]clash{{Port: tcp80, Holder: "default/web1"}, {Port: tcp443, Holder: "x/y"}},
			"port 80/TCP is used by LoadBalancer Service default/web1, port 443/TCP is used by LoadBalancer Service x/y on every node; free those ports or pick others"},
		{[]clash{{Port: tcp6443}, {Port: portKey{corev1.ProtocolTCP, 10250}, What: "the kubelet"}},
			"port 6443/TCP is used by skiff, port 10250/TCP is used by skiff (the kubelet) on every node; pick other ports"},
	} {
		if got := clashMessage(tc.clashes); got != tc.want {
			t.Errorf("clashMessage(%v)\n got %q\nwant %q", tc.clashes, got, tc.want)
		}
	}
}

// TestDecide runs the whole decision on one cluster: who is admitted, who
// waits and why, what each status should be.
func TestDecide(t *testing.T) {
	nodes := []*corev1.Node{
		node("n1", true, nil, "InternalIP=10.0.0.1"),
		node("n2", true, nil, "InternalIP=10.0.0.2"),
		node("n3", false, nil, "InternalIP=10.0.0.3"),
	}
	services := []*corev1.Service{
		lb("web1", 0, "80/TCP"),
		lb("web2", 1, "80/TCP"),
		local(lb("app/local", 2, "8080/TCP")),
		local(lb("app/idle", 3, "8081/TCP")),
		withClass(lb("metallb", 4, "80/TCP"), "metallb.io/x"),
		lb("kubelet", 5, "10250/TCP"),
	}
	endpoints := map[string]map[string]bool{"app/local": {"n2": true, "n3": true}}
	asked := map[string]bool{}
	localNodes := func(svc *corev1.Service) map[string]bool {
		key := svc.Namespace + "/" + svc.Name
		asked[key] = true
		return endpoints[key]
	}
	reserved := map[portKey]string{{corev1.ProtocolTCP, 10250}: "the kubelet"}
	got := decide(services, nodes, localNodes, reserved)

	type outcome struct {
		IPs    []string
		Reason string
		Msg    string
	}
	want := map[string]outcome{
		"app/idle":        {nil, ReasonUnavailable, "no node can serve this LoadBalancer Service: its externalTrafficPolicy is Local and no node that may serve it has a ready endpoint of it"},
		"app/local":       {[]string{"10.0.0.2"}, "", ""},
		"default/kubelet": {nil, ReasonPortInUse, "port 10250/TCP is used by skiff (the kubelet) on every node; pick another port"},
		"default/web1":    {[]string{"10.0.0.1", "10.0.0.2"}, "", ""},
		"default/web2":    {nil, ReasonPortInUse, "port 80/TCP is used by LoadBalancer Service default/web1 on every node; delete it or pick another port"},
	}
	var order []string
	for _, d := range got {
		key := d.Service.Namespace + "/" + d.Service.Name
		order = append(order, key)
		w, ok := want[key]
		if !ok {
			t.Errorf("decided about %s, which is not skiff's", key)
			continue
		}
		if g := (outcome{ips(d.Ingress), d.Reason, d.Message}); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: got %+v, want %+v", key, g, w)
		}
	}
	if wantOrder := []string{"app/idle", "app/local", "default/kubelet", "default/web1", "default/web2"}; !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("decisions in order %v, want %v", order, wantOrder)
	}
	if !reflect.DeepEqual(asked, map[string]bool{"app/local": true, "app/idle": true}) {
		t.Errorf("endpoints were looked up for %v; want only the admitted Local Services", asked)
	}

	// The same input decides the same, whatever the caches' order: two
	// servers must agree.
	reversed := make([]*corev1.Service, len(services))
	for i, s := range services {
		reversed[len(services)-1-i] = s
	}
	again := decide(reversed, []*corev1.Node{nodes[2], nodes[1], nodes[0]}, localNodes, reserved)
	if !reflect.DeepEqual(got, again) {
		t.Errorf("decide depends on the order of its input")
	}
}

// Once web1 is gone, web2 gets its port in the next pass; once web2's
// status records it, an older Service moving onto 80 waits.
func TestDecideHandsOverFreedPort(t *testing.T) {
	nodes := []*corev1.Node{node("n1", true, nil, "InternalIP=10.0.0.1")}
	none := func(*corev1.Service) map[string]bool { return nil }
	web2 := lb("web2", 1, "80/TCP")
	d := decide([]*corev1.Service{web2}, nodes, none, nil)
	if len(d) != 1 || d[0].Reason != "" || !reflect.DeepEqual(ips(d[0].Ingress), []string{"10.0.0.1"}) {
		t.Fatalf("after the holder's deletion: %+v, want web2 admitted at 10.0.0.1", d)
	}
	web2.Status.LoadBalancer.Ingress = d[0].Ingress
	mover := lb("mover", 0, "80/TCP")
	d = decide([]*corev1.Service{web2, mover}, nodes, none, nil)
	if d[0].Service.Name != "mover" || d[0].Reason != ReasonPortInUse || len(d[1].Ingress) != 1 {
		t.Errorf("an older Service moving onto a held port: %+v, want it pending and web2 kept", d)
	}
}
