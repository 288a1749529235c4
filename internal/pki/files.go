package pki

import "path/filepath"

// Files holds the absolute paths of everything Ensure maintains. The names
// inside Dir are fixed: other parts and users' scripts rely on them.
type Files struct {
	Dir string

	ServerCACert        string
	ServerCAKey         string
	ClientCACert        string
	ClientCAKey         string
	RequestHeaderCACert string
	RequestHeaderCAKey  string

	// ServiceKey signs and verifies service-account tokens.
	ServiceKey string

	ServingKubeAPIServerCert string
	ServingKubeAPIServerKey  string

	ClientAdminCert         string
	ClientAdminKey          string
	ClientControllerCert    string
	ClientControllerKey     string
	ClientSchedulerCert     string
	ClientSchedulerKey      string
	ClientKubeAPIServerCert string
	ClientKubeAPIServerKey  string
	ClientKubeProxyCert     string
	ClientKubeProxyKey      string
	ClientSupervisorCert    string
	ClientSupervisorKey     string
	ClientAuthProxyCert     string
	ClientAuthProxyKey      string
}

func newFiles(dir string) *Files {
	p := func(name string) string { return filepath.Join(dir, name) }
	return &Files{
		Dir: dir,

		ServerCACert:        p("server-ca.crt"),
		ServerCAKey:         p("server-ca.key"),
		ClientCACert:        p("client-ca.crt"),
		ClientCAKey:         p("client-ca.key"),
		RequestHeaderCACert: p("request-header-ca.crt"),
		RequestHeaderCAKey:  p("request-header-ca.key"),

		ServiceKey: p("service.key"),

		ServingKubeAPIServerCert: p("serving-kube-apiserver.crt"),
		ServingKubeAPIServerKey:  p("serving-kube-apiserver.key"),

		ClientAdminCert:         p("client-admin.crt"),
		ClientAdminKey:          p("client-admin.key"),
		ClientControllerCert:    p("client-controller.crt"),
		ClientControllerKey:     p("client-controller.key"),
		ClientSchedulerCert:     p("client-scheduler.crt"),
		ClientSchedulerKey:      p("client-scheduler.key"),
		ClientKubeAPIServerCert: p("client-kube-apiserver.crt"),
		ClientKubeAPIServerKey:  p("client-kube-apiserver.key"),
		ClientKubeProxyCert:     p("client-kube-proxy.crt"),
		ClientKubeProxyKey:      p("client-kube-proxy.key"),
		ClientSupervisorCert:    p("client-supervisor.crt"),
		ClientSupervisorKey:     p("client-supervisor.key"),
		ClientAuthProxyCert:     p("client-auth-proxy.crt"),
		ClientAuthProxyKey:      p("client-auth-proxy.key"),
	}
}
