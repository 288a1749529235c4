package node

import (
	"fmt"
	"strings"
)

// webDeployment is the "web" Deployment of the test image that the node
// tests run (with its Namespace, unless ns is "default"). ready adds the
// container port and a readiness probe on /healthz, for tests that reach
// the pods through a Service or wait for them to be Ready.
func webDeployment(ns string, replicas int, pullPolicy string, ready bool) string {
	var b strings.Builder
	if ns != "default" {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n---\n", ns)
	}
	fmt.Fprintf(&b, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: %s
spec:
  replicas: %d
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: http
        image: %s
        imagePullPolicy: %s
`, ns, replicas, testImage, pullPolicy)
	if ready {
		b.WriteString(`        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet:
            path: /healthz
            port: 8080
          periodSeconds: 1
`)
	}
	return b.String()
}

// clientDeployment is one pod of the test image named client in ns, ready
// once it serves: the tests ask it to fetch, look up, or call the API from
// inside the cluster.
func clientDeployment(ns string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: client
  namespace: %s
spec:
  replicas: 1
  selector:
    matchLabels:
      app: client
  template:
    metadata:
      labels:
        app: client
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: http
        image: %s
        imagePullPolicy: IfNotPresent
        readinessProbe:
          httpGet:
            path: /healthz
            port: 8080
          periodSeconds: 1
`, ns, testImage)
}
