package pki

import (
	"crypto/x509"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEnsureCreatesEverything(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "server", "tls")
	f := mustEnsure(t, testOptions(dir, t0))

	if !filepath.IsAbs(f.Dir) || f.Dir != dir {
		t.Errorf("Dir = %q, want %q", f.Dir, dir)
	}

	cas := []struct {
		cert, key, prefix string
	}{
		{f.ServerCACert, f.ServerCAKey, "skiff-server-ca@"},
		{f.ClientCACert, f.ClientCAKey, "skiff-client-ca@"},
		{f.RequestHeaderCACert, f.RequestHeaderCAKey, "skiff-request-header-ca@"},
	}
	for _, c := range cas {
		ca, err := LoadCA(c.cert, c.key)
		if err != nil {
			t.Fatalf("LoadCA(%s): %v", c.cert, err)
		}
		if want := c.prefix + "1772366400"; ca.Cert.Subject.CommonName != want {
			t.Errorf("%s: CN = %q, want %q", c.cert, ca.Cert.Subject.CommonName, want)
		}
		if !ca.Cert.NotAfter.Equal(t0.Add(CAValidity)) || !ca.Cert.NotBefore.Equal(t0.Add(-time.Hour)) {
			t.Errorf("%s: validity %s..%s", c.cert, ca.Cert.NotBefore, ca.Cert.NotAfter)
		}
	}

	serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	masters := []string{"system:masters"}
	leaves := []struct {
		cert, key, ca string
		cn            string
		orgs          []string
		usage         []x509.ExtKeyUsage
	}{
		{f.ServingKubeAPIServerCert, f.ServingKubeAPIServerKey, f.ServerCACert, "kube-apiserver", nil, serverAuth},
		{f.ClientAdminCert, f.ClientAdminKey, f.ClientCACert, "system:admin", masters, clientAuth},
		{f.ClientControllerCert, f.ClientControllerKey, f.ClientCACert, "system:kube-controller-manager", nil, clientAuth},
		{f.ClientSchedulerCert, f.ClientSchedulerKey, f.ClientCACert, "system:kube-scheduler", nil, clientAuth},
		{f.ClientKubeAPIServerCert, f.ClientKubeAPIServerKey, f.ClientCACert, "system:kube-apiserver", masters, clientAuth},
		{f.ClientKubeProxyCert, f.ClientKubeProxyKey, f.ClientCACert, "system:kube-proxy", nil, clientAuth},
		{f.ClientSupervisorCert, f.ClientSupervisorKey, f.ClientCACert, "system:skiff-supervisor", masters, clientAuth},
		{f.ClientAuthProxyCert, f.ClientAuthProxyKey, f.RequestHeaderCACert, "system:auth-proxy", nil, clientAuth},
	}
	for _, l := range leaves {
		t.Run(filepath.Base(l.cert), func(t *testing.T) {
			cert := mustCert(t, l.cert)
			if cert.Subject.CommonName != l.cn {
				t.Errorf("CN = %q, want %q", cert.Subject.CommonName, l.cn)
			}
			if !slices.Equal(cert.Subject.Organization, l.orgs) {
				t.Errorf("O = %q, want %q", cert.Subject.Organization, l.orgs)
			}
			if !slices.Equal(cert.ExtKeyUsage, l.usage) {
				t.Errorf("ExtKeyUsage = %v, want %v", cert.ExtKeyUsage, l.usage)
			}
			if cert.IsCA {
				t.Error("leaf is a CA")
			}
			if !cert.NotBefore.Equal(t0.Add(-time.Hour)) || !cert.NotAfter.Equal(t0.Add(LeafValidity)) {
				t.Errorf("validity %s..%s", cert.NotBefore, cert.NotAfter)
			}
			roots := x509.NewCertPool()
			roots.AddCert(mustCert(t, l.ca))
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: t0, KeyUsages: l.usage}); err != nil {
				t.Errorf("does not verify against %s: %v", filepath.Base(l.ca), err)
			}
			key, err := readKey(l.key)
			if err != nil {
				t.Fatal(err)
			}
			if !matches(cert, key) {
				t.Error("key does not match certificate")
			}
		})
	}

	// Certificates from one CA must not pass for another's: that separation
	// is the point of having three.
	roots := x509.NewCertPool()
	roots.AddCert(mustCert(t, f.ClientCACert))
	if _, err := mustCert(t, f.ClientAuthProxyCert).Verify(x509.VerifyOptions{Roots: roots, CurrentTime: t0, KeyUsages: clientAuth}); err == nil {
		t.Error("auth-proxy certificate verifies against the client CA")
	}

	if _, err := readKey(f.ServiceKey); err != nil {
		t.Errorf("service key: %v", err)
	}
}

func TestEnsureServingSANs(t *testing.T) {
	opts := testOptions(t.TempDir(), t0)
	// Duplicates and the 16-byte form of an IPv4 address must collapse.
	opts.ServingIPs = append(opts.ServingIPs, net.ParseIP("127.0.0.1").To16(), net.ParseIP("fd00::1"), nil)
	opts.ServingNames = append(opts.ServingNames, "LOCALHOST", "")
	f := mustEnsure(t, opts)

	cert := mustCert(t, f.ServingKubeAPIServerCert)
	wantIPs := []string{"127.0.0.1", "10.43.0.1", "192.168.1.10", "fd00::1"}
	var gotIPs []string
	for _, ip := range cert.IPAddresses {
		gotIPs = append(gotIPs, ip.String())
	}
	if !slices.Equal(gotIPs, wantIPs) {
		t.Errorf("IP SANs = %v, want %v", gotIPs, wantIPs)
	}
	wantNames := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "node1"}
	if !slices.Equal(cert.DNSNames, wantNames) {
		t.Errorf("DNS SANs = %v, want %v", cert.DNSNames, wantNames)
	}
	for _, host := range []string{"kubernetes.default.svc", "node1", "10.43.0.1", "fd00::1"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("VerifyHostname(%s): %v", host, err)
		}
	}
}

func TestEnsureSecondRunChangesNothing(t *testing.T) {
	dir := t.TempDir()
	mustEnsure(t, testOptions(dir, t0))
	before := snapshot(t, dir)

	// A day later nothing is due.
	mustEnsure(t, testOptions(dir, t0.Add(24*time.Hour)))
	if changed := changedFiles(t, before, dir); len(changed) != 0 {
		t.Errorf("second Ensure changed %v", changed)
	}
}

func TestEnsureRenewsLeavesNearExpiry(t *testing.T) {
	dir := t.TempDir()
	f := mustEnsure(t, testOptions(dir, t0))
	before := snapshot(t, dir)

	later := t0.Add(300 * 24 * time.Hour)
	mustEnsure(t, testOptions(dir, later))
	changed := changedFiles(t, before, dir)

	for name := range before {
		renewed := strings.HasSuffix(name, ".crt") && !strings.HasSuffix(name, "-ca.crt")
		if changed[name] != renewed {
			t.Errorf("%s: changed = %v, want %v", name, changed[name], renewed)
		}
	}
	cert := mustCert(t, f.ClientAdminCert)
	if !cert.NotAfter.Equal(later.Add(LeafValidity)) {
		t.Errorf("renewed NotAfter = %s, want %s", cert.NotAfter, later.Add(LeafValidity))
	}
	roots := x509.NewCertPool()
	roots.AddCert(mustCert(t, f.ClientCACert))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: later, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("renewed certificate does not verify: %v", err)
	}
}

func TestEnsureAddedSANReissuesOnlyServingCert(t *testing.T) {
	dir := t.TempDir()
	f := mustEnsure(t, testOptions(dir, t0))
	before := snapshot(t, dir)

	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"ip", func(o *Options) { o.ServingIPs = append(o.ServingIPs, net.ParseIP("203.0.113.7")) }, "203.0.113.7"},
		{"name", func(o *Options) { o.ServingNames = append(o.ServingNames, "api.example.com") }, "api.example.com"},
	}
	opts := testOptions(dir, t0.Add(time.Hour))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.edit(&opts)
			mustEnsure(t, opts)
			changed := changedFiles(t, before, dir)
			want := map[string]bool{"serving-kube-apiserver.crt": true}
			if !maps.Equal(changed, want) {
				t.Errorf("changed %v, want only the serving certificate", changed)
			}
			if err := mustCert(t, f.ServingKubeAPIServerCert).VerifyHostname(tt.want); err != nil {
				t.Errorf("new SAN missing: %v", err)
			}
		})
	}

	// Dropping a SAN again is not worth a new certificate.
	before = snapshot(t, dir)
	mustEnsure(t, testOptions(dir, t0.Add(2*time.Hour)))
	if changed := changedFiles(t, before, dir); len(changed) != 0 {
		t.Errorf("removing a SAN changed %v", changed)
	}
}

func TestEnsureReissuesLeavesOfReplacedCA(t *testing.T) {
	dir := t.TempDir()
	f := mustEnsure(t, testOptions(dir, t0))
	// The user deliberately replaces the request-header CA.
	for _, p := range []string{f.RequestHeaderCACert, f.RequestHeaderCAKey} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, dir)
	mustEnsure(t, testOptions(dir, t0.Add(time.Minute)))
	changed := changedFiles(t, before, dir)
	want := map[string]bool{"request-header-ca.crt": true, "request-header-ca.key": true, "client-auth-proxy.crt": true}
	if !maps.Equal(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
}

func TestEnsureIssuesCertForLeftoverKey(t *testing.T) {
	dir := t.TempDir()
	f := mustEnsure(t, testOptions(dir, t0))
	// What a crash between writing a new key and its certificate leaves.
	if err := os.Remove(f.ClientKubeProxyCert); err != nil {
		t.Fatal(err)
	}
	mustEnsure(t, testOptions(dir, t0))
	key, err := readKey(f.ClientKubeProxyKey)
	if err != nil {
		t.Fatal(err)
	}
	if !matches(mustCert(t, f.ClientKubeProxyCert), key) {
		t.Error("new certificate is not for the existing key")
	}
}

func TestEnsureRefusesBrokenPairs(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, f *Files)
		// wantIn are strings the error must name.
		wantIn []string
	}{
		{"leaf key missing", func(t *testing.T, f *Files) {
			remove(t, f.ClientAdminKey)
		}, []string{"client-admin.key"}},
		{"leaf key of another certificate", func(t *testing.T, f *Files) {
			copyFile(t, f.ClientSchedulerKey, f.ClientAdminKey)
		}, []string{"client-admin.key", "client-admin.crt"}},
		{"leaf key garbage", func(t *testing.T, f *Files) {
			write(t, f.ServingKubeAPIServerKey, "not a key")
		}, []string{"serving-kube-apiserver.key"}},
		{"leaf certificate garbage", func(t *testing.T, f *Files) {
			write(t, f.ServingKubeAPIServerCert, "not a certificate")
		}, []string{"serving-kube-apiserver.crt"}},
		{"CA key missing", func(t *testing.T, f *Files) {
			remove(t, f.ServerCAKey)
		}, []string{"server-ca.key", "server-ca.crt"}},
		{"CA certificate missing", func(t *testing.T, f *Files) {
			remove(t, f.ClientCACert)
		}, []string{"client-ca.crt", "client-ca.key"}},
		{"CA key of another CA", func(t *testing.T, f *Files) {
			copyFile(t, f.ClientCAKey, f.ServerCAKey)
		}, []string{"server-ca.key", "server-ca.crt"}},
		{"service key garbage", func(t *testing.T, f *Files) {
			write(t, f.ServiceKey, "")
		}, []string{"service.key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := mustEnsure(t, testOptions(dir, t0))
			tt.damage(t, f)
			before := snapshot(t, dir)

			_, err := Ensure(testOptions(dir, t0.Add(300*24*time.Hour)))
			if err == nil {
				t.Fatal("Ensure succeeded")
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(err.Error(), filepath.Join(dir, s)) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			// Refusing means not replacing: the broken file stays for the
			// user to look at. Renewals that ran before the failure are fine.
			for name := range changedFiles(t, before, dir) {
				if strings.HasSuffix(name, ".key") || strings.HasSuffix(name, "-ca.crt") {
					t.Errorf("%s was changed", name)
				}
			}
		})
	}
}

func TestEnsureFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	f := mustEnsure(t, testOptions(dir, t0))

	// A key someone loosened is tightened on the next run.
	if err := os.Chmod(f.ClientAdminKey, 0o644); err != nil {
		t.Fatal(err)
	}
	mustEnsure(t, testOptions(dir, t0))

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, want 0700", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 23 {
		t.Errorf("dir holds %d files, want 23 (temporary files left behind?)", len(entries))
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if strings.HasSuffix(e.Name(), ".key") {
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", e.Name(), fi.Mode().Perm(), want)
		}
	}
}

func TestEnsureNeedsDir(t *testing.T) {
	if _, err := Ensure(Options{}); err == nil {
		t.Error("Ensure without Dir succeeded")
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
