package metricsserver

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/skiff-k8s/skiff/internal/pki"
)

// testPKI is a server's certificates in a scratch folder, made by the
// code that makes the server's own, and its server CA.
func testPKI(t *testing.T) (*pki.Files, *pki.CA) {
	t.Helper()
	files, err := pki.Ensure(pki.Options{Dir: filepath.Join(t.TempDir(), "tls")})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(files.ServerCACert, files.ServerCAKey)
	if err != nil {
		t.Fatal(err)
	}
	return files, ca
}

// validConfig is a Config that passes withDefaults, with the server's
// certificates in a scratch folder (the kubeconfig is not read).
func validConfig(t *testing.T) Config {
	t.Helper()
	files, ca := testPKI(t)
	return Config{
		Kubeconfig:        filepath.Join(files.Dir, "supervisor.kubeconfig"),
		ServerCA:          ca,
		CertDir:           files.Dir,
		KubeletClientCert: files.ClientKubeAPIServerCert,
		KubeletClientKey:  files.ClientKubeAPIServerKey,
		Port:              6445,
		AdvertiseIP:       net.ParseIP("192.0.2.10"),
		ClusterDomain:     "cluster.local",
		Identity:          "node-a",
	}
}

// loopbackListener listens on a free loopback port until the test ends.
func loopbackListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
