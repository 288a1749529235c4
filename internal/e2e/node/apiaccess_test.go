package node

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// apiAccessManifest lets the client pod's service account list the pods of
// its namespace, so that an answer proves the API knew who asked.
const apiAccessManifest = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: pod-reader
  namespace: e2e-api
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: client-reads-pods
  namespace: e2e-api
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: pod-reader
subjects:
- kind: ServiceAccount
  name: default
  namespace: e2e-api
`

// TestE2ENodeAPIFromPod: a pod reaches the API through the kubernetes
// Service as every in-cluster client does (client-go's in-cluster config:
// $KUBERNETES_SERVICE_HOST, the service-account token, ca.crt), and the
// Service's endpoints name the supervisor's port on the node's address,
// not the apiserver's loopback-only port.
func TestE2ENodeAPIFromPod(t *testing.T) {
	integration(t)
	n := newNode(t)
	n.Start()
	n.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: e2e-api\n---\n" + clientDeployment("e2e-api") + "---\n" + apiAccessManifest)
	client := n.waitAvailable("e2e-api", "client", podTimeout)[0]

	t.Run("endpoints_name_the_supervisor_port", func(t *testing.T) {
		ctx := within(t, 30*time.Second)
		slices, err := n.client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"})
		if err != nil {
			t.Fatal(err)
		}
		var ports []string
		for _, s := range slices.Items {
			for _, p := range s.Ports {
				ports = append(ports, strconv.Itoa(int(*p.Port)))
			}
		}
		if len(ports) != 1 || ports[0] != strconv.Itoa(n.Port) {
			t.Errorf("the kubernetes Service's endpoints name ports %v, want only the supervisor's %d", ports, n.Port)
		}
		svc, err := n.client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := svc.Spec.Ports[0].TargetPort.IntValue(); got != n.Port {
			t.Errorf("the kubernetes Service's targetPort is %d, want the supervisor's %d", got, n.Port)
		}
	})

	t.Run("in_cluster_client", func(t *testing.T) {
		u := fmt.Sprintf("http://%s:8080/api?path=%s", client.Status.PodIP, url.QueryEscape("/api/v1/namespaces/e2e-api/pods"))
		expectHTTP(t, "the API through the kubernetes Service from a pod", u, 60*time.Second, func(body string) bool {
			status, rest, _ := strings.Cut(body, "\n")
			return status == "200" && strings.Contains(rest, `"kind":"PodList"`) && strings.Contains(rest, client.Name)
		})
	})
}
