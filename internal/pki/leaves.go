package pki

import "crypto/x509"

// leafSpec is one leaf certificate Ensure maintains: where it lives, who
// signs it and what it must say.
type leafSpec struct {
	cert, key string
	ca        *CA
	req       leafRequest
}

// leafSpecs lists the certificates the control plane needs. The subjects
// are what Kubernetes' default RBAC bindings expect for each component.
func leafSpecs(f *Files, opts Options, serverCA, clientCA, requestHeaderCA *CA) []leafSpec {
	serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	masters := []string{"system:masters"}
	client := func(cn string, orgs []string) leafRequest {
		return leafRequest{cn: cn, orgs: orgs, usage: clientAuth, validity: LeafValidity}
	}
	return []leafSpec{
		{f.ServingKubeAPIServerCert, f.ServingKubeAPIServerKey, serverCA, leafRequest{
			cn:       "kube-apiserver",
			usage:    serverAuth,
			ips:      opts.ServingIPs,
			dns:      opts.ServingNames,
			validity: LeafValidity,
		}},
		{f.ClientAdminCert, f.ClientAdminKey, clientCA, client("system:admin", masters)},
		{f.ClientControllerCert, f.ClientControllerKey, clientCA, client("system:kube-controller-manager", nil)},
		{f.ClientSchedulerCert, f.ClientSchedulerKey, clientCA, client("system:kube-scheduler", nil)},
		// The apiserver uses this to reach kubelets, whose authorizer would
		// otherwise need an extra binding before the first node can join.
		{f.ClientKubeAPIServerCert, f.ClientKubeAPIServerKey, clientCA, client("system:kube-apiserver", masters)},
		{f.ClientKubeProxyCert, f.ClientKubeProxyKey, clientCA, client("system:kube-proxy", nil)},
		{f.ClientSupervisorCert, f.ClientSupervisorKey, clientCA, client("system:skiff-supervisor", masters)},
		// Aggregated API servers trust the front proxy only through the
		// request-header CA, kept apart so that no ordinary client
		// certificate can claim to speak for another user.
		{f.ClientAuthProxyCert, f.ClientAuthProxyKey, requestHeaderCA, client("system:auth-proxy", nil)},
	}
}
