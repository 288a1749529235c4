package server

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/skiff-k8s/skiff/internal/control"
	"github.com/skiff-k8s/skiff/internal/datastore"
)

// apiserverArgs are kube-apiserver's flags: secure by default (no anonymous
// access, Node+RBAC authorization, NodeRestriction), bootstrap tokens for
// joining nodes, and the service-account issuer a client of the API expects.
func apiserverArgs(cfg Config, v validated, c certFiles, advertise net.IP, etcdServers, egressConfig string) (control.Args, error) {
	issuer := "https://kubernetes.default.svc." + cfg.ClusterDomain
	a := control.Args{
		"advertise-address":                  advertise.String(),
		"bind-address":                       "127.0.0.1",
		"secure-port":                        strconv.Itoa(cfg.apiserverPort()),
		"etcd-servers":                       etcdServers,
		"storage-backend":                    "etcd3",
		"allow-privileged":                   "true",
		"anonymous-auth":                     "false",
		"authorization-mode":                 "Node,RBAC",
		"enable-admission-plugins":           "NodeRestriction",
		"enable-bootstrap-token-auth":        "true",
		"client-ca-file":                     c.clientCA,
		"tls-cert-file":                      c.servingCert,
		"tls-private-key-file":               c.servingKey,
		"service-account-key-file":           c.serviceKey,
		"service-account-signing-key-file":   c.serviceKey,
		"service-account-issuer":             issuer,
		"api-audiences":                      issuer + ",skiff",
		"service-cluster-ip-range":           v.serviceCIDR.String(),
		"service-node-port-range":            "30000-32767",
		"kubelet-client-certificate":         c.kubeletClientCert,
		"kubelet-client-key":                 c.kubeletClientKey,
		"kubelet-certificate-authority":      c.serverCA,
		"kubelet-preferred-address-types":    "InternalIP,ExternalIP,Hostname",
		"proxy-client-cert-file":             c.authProxyCert,
		"proxy-client-key-file":              c.authProxyKey,
		"requestheader-client-ca-file":       c.requestHeaderCA,
		"requestheader-allowed-names":        "system:auth-proxy",
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-username-headers":     "X-Remote-User",
		"profiling":                          "false",
		"endpoint-reconciler-type":           "lease",
		"egress-selector-config-file":        egressConfig,
		// Aggregated APIs (metrics.k8s.io) are reached at their endpoints,
		// not their ClusterIP: a server without a node (--disable-agent)
		// has no kube-proxy to route a ClusterIP.
		"enable-aggregator-routing": "true",
	}
	if err := a.Merge(cfg.ExtraAPIServerArgs); err != nil {
		return nil, fmt.Errorf("--kube-apiserver-arg: %w", err)
	}
	// The list cost estimate keeps a goroutine and a map of every key per
	// resource (61 of them) and counts each resource's keys in the
	// datastore every minute, for priority and fairness to weigh large
	// lists, which a small cluster does not have. Without it the
	// apiserver estimates from object counts, as before 1.34.
	a.DefaultFeatureGate("SizeBasedListCostEstimate", false)
	return a, nil
}

// schedulerArgs: the scheduler's own HTTPS port is off by default, so that
// several servers can share a host; --kube-scheduler-arg=secure-port=10259
// brings it back for those who scrape its metrics.
func schedulerArgs(cfg Config, p paths, leaderElect bool) (control.Args, error) {
	kubeconfig := filepath.Join(p.cred, "scheduler.kubeconfig")
	a := control.Args{
		"kubeconfig":                kubeconfig,
		"authentication-kubeconfig": kubeconfig,
		"authorization-kubeconfig":  kubeconfig,
		"leader-elect":              strconv.FormatBool(leaderElect),
		"secure-port":               "0",
		"profiling":                 "false",
	}
	if err := a.Merge(cfg.ExtraSchedulerArgs); err != nil {
		return nil, fmt.Errorf("--kube-scheduler-arg: %w", err)
	}
	return a, nil
}

// controllerManagerArgs: node CIDRs are allocated from the cluster CIDR, and
// each certificate signer signs with the CA its peers trust (client certs
// with the client CA, kubelet serving certs with the server CA).
//
// Its HTTPS port listens on a free loopback port: its /healthz is the only
// sign that its controllers are built, which the server's own kubelet must
// wait for (see control.ControllerManager).
//
// Its client may send more than upstream's 20 requests a second: building
// the controllers with their own service accounts costs three requests each
// on a fresh cluster, about 130 in all, which at upstream's rate held every
// fresh start (and the node's kubelet) for 4-5 seconds. The apiserver is in
// this process.
func controllerManagerArgs(cfg Config, p paths, c certFiles, leaderElect bool) (control.Args, error) {
	kubeconfig := filepath.Join(p.cred, "controller.kubeconfig")
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, fmt.Errorf("choosing the controller-manager's loopback port: %w", err)
	}
	a := control.Args{
		"kubeconfig":                       kubeconfig,
		"authentication-kubeconfig":        kubeconfig,
		"authorization-kubeconfig":         kubeconfig,
		"leader-elect":                     strconv.FormatBool(leaderElect),
		"bind-address":                     "127.0.0.1",
		"secure-port":                      strconv.Itoa(port),
		"profiling":                        "false",
		"allocate-node-cidrs":              "true",
		"cluster-cidr":                     cfg.ClusterCIDR,
		"service-cluster-ip-range":         cfg.ServiceCIDR,
		"configure-cloud-routes":           "false",
		"use-service-account-credentials":  "true",
		"kube-api-qps":                     "200",
		"kube-api-burst":                   "300",
		"service-account-private-key-file": c.serviceKey,
		"root-ca-file":                     c.serverCA,
		"controllers":                      "*,tokencleaner",
		"cluster-signing-kube-apiserver-client-cert-file": c.clientCA,
		"cluster-signing-kube-apiserver-client-key-file":  c.clientCAKey,
		"cluster-signing-kubelet-client-cert-file":        c.clientCA,
		"cluster-signing-kubelet-client-key-file":         c.clientCAKey,
		"cluster-signing-kubelet-serving-cert-file":       c.serverCA,
		"cluster-signing-kubelet-serving-key-file":        c.serverCAKey,
		"cluster-signing-legacy-unknown-cert-file":        c.serverCA,
		"cluster-signing-legacy-unknown-key-file":         c.serverCAKey,
	}
	if err := a.Merge(cfg.ExtraControllerManagerArgs); err != nil {
		return nil, fmt.Errorf("--kube-controller-manager-arg: %w", err)
	}
	if leaderElect {
		// Upstream's controller-manager exits the process with status 1
		// when its context ends while it leads; with this gate it hands
		// the Lease back instead, so a server stopped with SIGTERM exits
		// 0 and another server's controller-manager takes over at once.
		a.DefaultFeatureGate("ControllerManagerReleaseLeaderElectionLockOnExit", true)
	}
	return a, nil
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// withEtcdTLS gives the apiserver the files of a TLS connection to the
// etcd it talks to (see datastore.Datastore.EtcdTLS), unless the user set
// them with --kube-apiserver-arg.
func withEtcdTLS(a control.Args, f datastore.TLSFiles) {
	for flag, file := range map[string]string{"etcd-cafile": f.CAFile, "etcd-certfile": f.CertFile, "etcd-keyfile": f.KeyFile} {
		if _, set := a[flag]; !set && file != "" {
			a[flag] = file
		}
	}
}
