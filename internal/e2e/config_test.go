package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
`

// TestE2EConfigFile: every setting from the --config file, lists as YAML
// lists: the server comes up where the file says, each tls-san is in the
// serving certificate of port P (verified against the server CA), and each
// kube-apiserver-arg reaches the apiserver.
func TestE2EConfigFile(t *testing.T) {
	integration(t)
	t.Parallel()
	var auditLog string
	s := startServer(t, func(c *serverConfig) {
		auditLog = filepath.Join(c.Root, "audit.log")
		policy := writeFile(t, filepath.Join(c.Root, "audit-policy.yaml"), auditPolicy)
		f := writeFile(t, filepath.Join(c.Root, "config.yaml"), fmt.Sprintf(`# settings of TestE2EConfigFile
https-listen-port: %d
data-dir: %s
write-kubeconfig: %s
bind-address: 127.0.0.1
disable-agent: true
tls-san:
  - a.example.com
  - b.example.com
kube-apiserver-arg:
  - service-node-port-range=30100-30200
  - audit-policy-file=%s
  - audit-log-path=%s
`, c.Port, c.DataDir, c.Kubeconfig, policy, auditLog))
		c.Args = []string{"server", "--config", f}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	checkSANs(t, s, "a.example.com", "b.example.com")
	checkNodePortRange(ctx, t, s)
	// Both audit args together: the apiserver writes the log they name.
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	defer pcancel()
	ok, err := poll(pctx, 500*time.Millisecond, func() (bool, error) {
		b, err := os.ReadFile(auditLog)
		return err == nil && strings.Contains(string(b), `"kind":"Event"`), err
	})
	if !ok {
		t.Errorf("no audit events in %s (from kube-apiserver-arg audit-log-path): %v", auditLog, err)
	}
	if mode := fileMode(t, s.cfg.Kubeconfig); mode != 0o600 {
		t.Errorf("kubeconfig mode %#o, want the default 0600", mode)
	}
	s.Stop()
}

// TestE2EEnvBinding: settings from SKIFF_* variables, a list among them; an
// env value beats the config file's, and a file value that no variable
// overrides still applies.
func TestE2EEnvBinding(t *testing.T) {
	integration(t)
	t.Parallel()
	s := startServer(t, func(c *serverConfig) {
		f := writeFile(t, filepath.Join(c.Root, "config.yaml"),
			"write-kubeconfig-mode: \"0644\"\ntls-san:\n  - file.example.com\n")
		c.Args = []string{"server", "--config", f}
		c.Env = append(c.Env,
			"SKIFF_HTTPS_LISTEN_PORT="+strconv.Itoa(c.Port),
			"SKIFF_DATA_DIR="+c.DataDir,
			"SKIFF_WRITE_KUBECONFIG="+c.Kubeconfig,
			"SKIFF_WRITE_KUBECONFIG_MODE=0640",
			"SKIFF_BIND_ADDRESS=127.0.0.1",
			"SKIFF_DISABLE_AGENT=true",
			"SKIFF_KUBE_APISERVER_ARG=service-node-port-range=30100-30200",
		)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if mode := fileMode(t, s.cfg.Kubeconfig); mode != 0o640 {
		t.Errorf("kubeconfig mode %#o; want 0640 from SKIFF_WRITE_KUBECONFIG_MODE over the file's 0644", mode)
	}
	checkSANs(t, s, "file.example.com")
	checkNodePortRange(ctx, t, s)
	s.Stop()
}

// TestE2ECLIOverridesConfig: the command line beats both the environment and
// the config file (write-kubeconfig-mode 0600 over env 0640 over file 0644),
// a --tls-san from the command line is in the serving certificate, and a
// --kube-apiserver-arg keeps its commas (a list of admission plugins).
func TestE2ECLIOverridesConfig(t *testing.T) {
	integration(t)
	t.Parallel()
	s := startServer(t, func(c *serverConfig) {
		f := writeFile(t, filepath.Join(c.Root, "config.yaml"), fmt.Sprintf(
			"https-listen-port: %d\ndata-dir: %s\nwrite-kubeconfig: %s\nbind-address: 127.0.0.1\ndisable-agent: true\nwrite-kubeconfig-mode: \"0644\"\ntls-san: [file.example.com]\n",
			c.Port, c.DataDir, c.Kubeconfig))
		c.Args = []string{"server", "--config", f, "--write-kubeconfig-mode", "0600", "--tls-san", "cli.example.com",
			"--kube-apiserver-arg=enable-admission-plugins=NodeRestriction,AlwaysPullImages"}
		c.Env = append(c.Env, "SKIFF_WRITE_KUBECONFIG_MODE=0640")
	})
	if mode := fileMode(t, s.cfg.Kubeconfig); mode != 0o600 {
		t.Errorf("kubeconfig mode %#o; want 0600 from the command line over env 0640 and file 0644", mode)
	}
	names := checkSANs(t, s, "cli.example.com")
	t.Logf("serving cert DNS names with file tls-san [file.example.com] and --tls-san cli.example.com: %q", names)

	// AlwaysPullImages, the second plugin of the list, rewrites the policy.
	// /readyz answers before the controller-manager has made the default
	// ServiceAccount, without which the pod is refused: wait for it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ok, err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		_, err := s.client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); !ok {
		t.Fatalf("no default ServiceAccount: %v", err)
	}
	pod, err := s.client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "always-pull"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "registry.invalid/pause:1", ImagePullPolicy: corev1.PullIfNotPresent,
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating a pod: %v", err)
	}
	if got := pod.Spec.Containers[0].ImagePullPolicy; got != corev1.PullAlways {
		t.Errorf("pull policy %s, want Always from --kube-apiserver-arg=enable-admission-plugins=NodeRestriction,AlwaysPullImages", got)
	}
}

// checkSANs dials port P as each of names, verifying the serving certificate
// against <data-dir>/server/tls/server-ca.crt, and returns its DNS names.
func checkSANs(t *testing.T, s *server, names ...string) []string {
	t.Helper()
	pem, err := os.ReadFile(s.serverCA())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	var dns []string
	for _, name := range names {
		d := &tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: name}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", s.cfg.Port))
		cancel()
		if err != nil {
			t.Errorf("TLS to port %d as %s (trusting server-ca.crt): %v", s.cfg.Port, name, err)
			continue
		}
		certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
		conn.Close()
		dns = certs[0].DNSNames
		if !slices.Contains(dns, name) {
			t.Errorf("serving cert of port %d has DNS names %q, want %s among them", s.cfg.Port, dns, name)
		}
	}
	return dns
}

// checkNodePortRange shows that service-node-port-range=30100-30200 reached
// the apiserver: 30150 is accepted, 30050 (valid by default) refused.
func checkNodePortRange(ctx context.Context, t *testing.T, s *server) {
	t.Helper()
	svc := func(name string, port int32) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeNodePort,
				Selector: map[string]string{"app": name},
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80), NodePort: port}},
			},
		}
	}
	svcs := s.client.CoreV1().Services("default")
	if _, err := svcs.Create(ctx, svc("inside", 30150), metav1.CreateOptions{}); err != nil {
		t.Errorf("NodePort 30150 refused with service-node-port-range=30100-30200: %v", err)
	}
	if _, err := svcs.Create(ctx, svc("outside", 30050), metav1.CreateOptions{}); err == nil {
		t.Errorf("NodePort 30050 accepted: kube-apiserver-arg service-node-port-range=30100-30200 did not reach the apiserver")
	} else if !strings.Contains(err.Error(), "range") {
		t.Errorf("NodePort 30050 refused, but not for its range: %v", err)
	}
}
