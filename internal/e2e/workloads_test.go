package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const workloadsManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: e2e-work
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: e2e-work
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: pause
        image: registry.invalid/pause:1
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: e2e-work
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: e2e-work
data:
  greeting: hello
  multi: |
    line one
    line two
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: e2e-work
type: Opaque
stringData:
  password: s3cr3t-Ü
`

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.e2e.skiff.test
spec:
  group: e2e.skiff.test
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                type: integer
              color:
                type: string
`

const widgetCR = `apiVersion: e2e.skiff.test/v1
kind: Widget
metadata:
  name: w1
  namespace: e2e-work
spec:
  size: 3
  color: blue
`

const badWidgetCR = `apiVersion: e2e.skiff.test/v1
kind: Widget
metadata:
  name: w2
  namespace: e2e-work
spec:
  size: not-a-number
`

// TestE2EWorkloads: what users apply round-trips. A 3-replica Deployment
// gets a ReplicaSet and 3 Pending pods (there are no nodes), a Service gets a
// ClusterIP in 10.43.0.0/16, a ConfigMap and a Secret read back equal, and a
// CRD becomes Established and serves (and validates) its custom resources.
func TestE2EWorkloads(t *testing.T) {
	integration(t)
	t.Parallel()
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const ns = "e2e-work"

	s.kubectl("apply", "-f", writeFile(t, filepath.Join(s.cfg.Root, "workloads.yaml"), workloadsManifest))

	// Service: ClusterIP from the default service CIDR; the kubernetes
	// service takes its first address.
	cidr := netip.MustParsePrefix("10.43.0.0/16")
	svc, err := s.client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get service web: %v", err)
	}
	if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err != nil || !cidr.Contains(ip) {
		t.Errorf("service web ClusterIP %q, want an address in %s", svc.Spec.ClusterIP, cidr)
	}
	if kube, err := s.client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err != nil {
		t.Errorf("get service default/kubernetes: %v", err)
	} else if kube.Spec.ClusterIP != "10.43.0.1" {
		t.Errorf("service default/kubernetes ClusterIP %q, want 10.43.0.1", kube.Spec.ClusterIP)
	}

	// ConfigMap and Secret, through client-go and through kubectl.
	cm, err := s.client.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get configmap settings: %v", err)
	}
	if cm.Data["greeting"] != "hello" || cm.Data["multi"] != "line one\nline two\n" {
		t.Errorf("configmap settings data %q", cm.Data)
	}
	sec, err := s.client.CoreV1().Secrets(ns).Get(ctx, "creds", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get secret creds: %v", err)
	}
	if got := string(sec.Data["password"]); got != "s3cr3t-Ü" {
		t.Errorf("secret creds password %q, want %q", got, "s3cr3t-Ü")
	}
	b64 := s.kubectl("get", "secret", "creds", "-n", ns, "-o", "jsonpath={.data.password}")
	if dec, err := base64.StdEncoding.DecodeString(b64); err != nil || string(dec) != "s3cr3t-Ü" {
		t.Errorf("kubectl get secret: data.password %q (%v)", b64, err)
	}

	// CRD: apply, wait for Established, create a custom resource, read it.
	s.kubectl("apply", "-f", writeFile(t, filepath.Join(s.cfg.Root, "crd.yaml"), widgetCRD))
	// Polled rather than kubectl wait, which fails at once ("accessor
	// error") when it reads the CRD before its first status.
	ectx, ecancel := context.WithTimeout(ctx, 60*time.Second)
	established, _ := poll(ectx, 500*time.Millisecond, func() (bool, error) {
		out, _, err := s.kubectlErr("get", "crd", "widgets.e2e.skiff.test", "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		return err == nil && out == "True", nil
	})
	ecancel()
	if !established {
		t.Fatal("crd/widgets.e2e.skiff.test not Established within 60s")
	}
	crFile := writeFile(t, filepath.Join(s.cfg.Root, "widget.yaml"), widgetCR)
	// kubectl's discovery may lag the CRD by a moment ("no matches for
	// kind"): retry that error only.
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	ok, err := poll(pctx, time.Second, func() (bool, error) {
		_, errOut, err := s.kubectlErr("apply", "-f", crFile)
		if err == nil {
			return true, nil
		}
		if strings.Contains(errOut, "no matches for kind") || strings.Contains(errOut, "the server could not find the requested resource") {
			return false, fmt.Errorf("%v: %s", err, errOut)
		}
		t.Fatalf("kubectl apply -f widget.yaml: %v\n%s", err, errOut)
		return false, nil
	})
	pcancel()
	if !ok {
		t.Fatalf("kubectl apply of a Widget never worked: %v", err)
	}
	if got := s.kubectl("get", "widgets.e2e.skiff.test", "w1", "-n", ns, "-o", "jsonpath={.spec.size}"); got != "3" {
		t.Errorf("kubectl get widget w1: spec.size %q, want 3", got)
	}
	gvr := schema.GroupVersionResource{Group: "e2e.skiff.test", Version: "v1", Resource: "widgets"}
	w, err := s.dynamic.Resource(gvr).Namespace(ns).Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Errorf("dynamic get widget w1: %v", err)
	} else if spec, _ := w.Object["spec"].(map[string]any); spec["color"] != "blue" {
		t.Errorf("widget w1 spec %v, want color blue", w.Object["spec"])
	}
	if _, errOut, err := s.kubectlErr("apply", "-f", writeFile(t, filepath.Join(s.cfg.Root, "bad-widget.yaml"), badWidgetCR)); err == nil {
		t.Errorf("a Widget with spec.size a string was accepted; want the CRD schema to refuse it")
	} else if !strings.Contains(errOut, "spec.size") {
		t.Errorf("refusal of a bad Widget does not name spec.size: %s", errOut)
	}

	// Deployment -> ReplicaSet -> 3 Pending pods. The pods wait for the
	// controller-manager (and the default ServiceAccount of the namespace).
	var why string
	pctx, pcancel = context.WithTimeout(ctx, 90*time.Second)
	defer pcancel()
	ok, _ = poll(pctx, time.Second, func() (bool, error) {
		rss, err := s.client.AppsV1().ReplicaSets(ns).List(pctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			why = "list replicasets: " + err.Error()
			return false, nil
		}
		if len(rss.Items) != 1 || !ownedBy(rss.Items[0].OwnerReferences, "Deployment", "web") {
			why = fmt.Sprintf("%d replicasets with app=web, want 1 owned by deployment web", len(rss.Items))
			return false, nil
		}
		rs := rss.Items[0].Name
		pods, err := s.client.CoreV1().Pods(ns).List(pctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			why = "list pods: " + err.Error()
			return false, nil
		}
		var states []string
		good := 0
		for _, p := range pods.Items {
			states = append(states, fmt.Sprintf("%s=%s", p.Name, p.Status.Phase))
			if p.Status.Phase == corev1.PodPending && ownedBy(p.OwnerReferences, "ReplicaSet", rs) {
				good++
			}
		}
		why = fmt.Sprintf("replicaset %s; pods %v", rs, states)
		return len(pods.Items) == 3 && good == 3, nil
	})
	if !ok {
		t.Errorf("deployment web: want 1 ReplicaSet and 3 Pending pods it owns; last seen: %s", why)
	}
}

func ownedBy(refs []metav1.OwnerReference, kind, name string) bool {
	for _, r := range refs {
		if r.Kind == kind && r.Name == name && r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}
