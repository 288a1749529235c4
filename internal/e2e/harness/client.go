package harness

import (
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RestConfig loads a kubeconfig file written by skiff.
func RestConfig(kubeconfig string) (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}

// NewClient sets the client-side rate limits of cfg and builds a clientset
// from it.
func NewClient(cfg *rest.Config, qps float32, burst int) kubernetes.Interface {
	cfg.QPS, cfg.Burst = qps, burst
	return kubernetes.NewForConfigOrDie(cfg)
}
