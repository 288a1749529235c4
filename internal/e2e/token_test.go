package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var joinTokenRE = regexp.MustCompile(`^K10([0-9a-f]{64})::([a-z0-9]{6})\.([a-z0-9]{16})$`)

// TestE2EToken: 'skiff token create' prints one line K10<hash>::<id>.<secret>
// whose hash is the server token's (sha256 of /cacerts); the token is a
// bootstrap-token Secret in kube-system; 'skiff token list' shows it with
// its TTL and description; 'skiff token delete' removes it, and deleting it
// again is refused with one line.
func TestE2EToken(t *testing.T) {
	integration(t)
	t.Parallel()
	s := startServer(t)
	token := func(command string, args ...string) result {
		t.Helper()
		return runSkiff(t, 60*time.Second, nil, append([]string{"token", command, "--kubeconfig", s.cfg.Kubeconfig}, args...)...)
	}

	before := time.Now()
	r := token("create", "--ttl", "2h", "--description", "e2e edge boxes")
	if r.Code != 0 {
		t.Fatalf("skiff token create: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	lines := nonEmptyLines(r.Stdout)
	if len(lines) != 1 {
		t.Fatalf("skiff token create printed %d lines, want exactly one:\n%s", len(lines), r.Stdout)
	}
	m := joinTokenRE.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("skiff token create printed %q, want K10<sha256 hex>::<6 chars>.<16 chars>", lines[0])
	}
	hash, id, secret := m[1], m[2], m[3]

	// The hash is the one the server token carries, i.e. sha256 of /cacerts.
	serverTok, err := os.ReadFile(filepath.Join(s.cfg.DataDir, "server", "token"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(serverTok)), "K10"), "::"); hash != want {
		t.Errorf("bootstrap token CA hash %s, server token's %s", hash, want)
	}
	_, cacerts, err := httpGet(s.anonClient(), s.url("/cacerts"))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(cacerts)); hash != hex.EncodeToString(sum[:]) {
		t.Errorf("bootstrap token CA hash %s != sha256(/cacerts) %s", hash, hex.EncodeToString(sum[:]))
	}

	// The Secret, as kubectl sees it.
	out := s.kubectl("get", "secret", "-n", "kube-system", "bootstrap-token-"+id, "-o",
		`jsonpath={.type}|{.data.token-id}|{.data.token-secret}|{.data.usage-bootstrap-authentication}|{.data.auth-extra-groups}|{.data.description}|{.data.expiration}`)
	f := strings.Split(out, "|")
	if len(f) != 7 {
		t.Fatalf("kubectl get secret: %q", out)
	}
	dec := func(b64 string) string {
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Errorf("Secret data %q is not base64: %v", b64, err)
		}
		return string(b)
	}
	want := []string{"bootstrap.kubernetes.io/token", id, secret, "true", "system:bootstrappers:skiff:agent", "e2e edge boxes"}
	got := []string{f[0], dec(f[1]), dec(f[2]), dec(f[3]), dec(f[4]), dec(f[5])}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Secret bootstrap-token-%s: field %d is %q, want %q", id, i, got[i], want[i])
		}
	}
	exp, err := time.Parse(time.RFC3339, dec(f[6]))
	if err != nil {
		t.Errorf("Secret expiration %q: %v", dec(f[6]), err)
	} else if lo, hi := before.Add(2*time.Hour-time.Second), time.Now().Add(2*time.Hour); exp.Before(lo) || exp.After(hi) {
		t.Errorf("Secret expiration %v, want 2h after the create (%v)", exp, before)
	}

	// A second token that never expires, without a description.
	r = token("create", "--ttl", "0")
	m2 := joinTokenRE.FindStringSubmatch(strings.TrimSpace(r.Stdout))
	if r.Code != 0 || m2 == nil {
		t.Fatalf("skiff token create --ttl 0: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	forever := m2[2]

	// The list.
	r = token("list")
	if r.Code != 0 {
		t.Fatalf("skiff token list: exit %d\n%s", r.Code, r.Stderr)
	}
	rows := map[string][]string{}
	lines = nonEmptyLines(r.Stdout)
	if len(lines) == 0 || !regexp.MustCompile(`^TOKEN ID\s+TTL\s+EXPIRES\s+DESCRIPTION$`).MatchString(lines[0]) {
		t.Fatalf("skiff token list: no TOKEN ID, TTL, EXPIRES, DESCRIPTION header:\n%s", r.Stdout)
	}
	for _, l := range lines[1:] {
		fields := strings.Fields(l)
		rows[fields[0]] = fields
	}
	if row := rows[id]; len(row) < 4 || row[1] != "1h" || row[2] != exp.UTC().Format(time.RFC3339) || strings.Join(row[3:], " ") != "e2e edge boxes" {
		t.Errorf("skiff token list: row of %s is %q; want TTL 1h, EXPIRES %s, DESCRIPTION \"e2e edge boxes\"\n%s",
			id, row, exp.UTC().Format(time.RFC3339), r.Stdout)
	}
	if row := rows[forever]; strings.Join(row, " ") != forever+" <forever> <never> <none>" {
		t.Errorf("skiff token list: row of %s is %q; want <forever> <never> <none>\n%s", forever, row, r.Stdout)
	}
	if len(rows) != 2 {
		t.Errorf("skiff token list: %d tokens, want 2\n%s", len(rows), r.Stdout)
	}

	// Delete, and the Secret is gone.
	r = token("delete", id)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != `bootstrap token "`+id+`" deleted` {
		t.Fatalf("skiff token delete %s: exit %d\nstdout: %s\nstderr: %s", id, r.Code, r.Stdout, r.Stderr)
	}
	if _, errOut, err := s.kubectlErr("get", "secret", "-n", "kube-system", "bootstrap-token-"+id); err == nil || !strings.Contains(errOut, "NotFound") {
		t.Errorf("after delete, kubectl get secret bootstrap-token-%s: %v %s; want NotFound", id, err, errOut)
	}
	if r = token("list"); strings.Contains(r.Stdout, id) || !strings.Contains(r.Stdout, forever) {
		t.Errorf("after delete, skiff token list:\n%s", r.Stdout)
	}

	// Deleting it again is refused with one line naming it.
	r = token("delete", id)
	expectUsageError(t, r, "no bootstrap token", id)
	expectOneLine(t, r)

	// Without --kubeconfig and with no /etc/skiff/skiff.yaml, the admin
	// kubeconfig in --data-dir serves, and pins the same CA.
	if _, err := os.Stat("/etc/skiff/skiff.yaml"); err == nil {
		t.Log("/etc/skiff/skiff.yaml exists on this machine: the --data-dir fallback is not tested")
		return
	}
	r = runSkiff(t, 60*time.Second, nil, "token", "create", "--data-dir", s.cfg.DataDir)
	m = joinTokenRE.FindStringSubmatch(strings.TrimSpace(r.Stdout))
	if r.Code != 0 || m == nil {
		t.Fatalf("skiff token create --data-dir: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	if m[1] != hash {
		t.Errorf("through --data-dir, CA hash %s; through the admin kubeconfig %s", m[1], hash)
	}
	r = runSkiff(t, 60*time.Second, nil, "token", "list", "--data-dir", s.cfg.DataDir)
	if r.Code != 0 || !strings.Contains(r.Stdout, m[2]) || !strings.Contains(r.Stdout, forever) {
		t.Errorf("skiff token list --data-dir: exit %d, want %s and %s listed\nstdout: %s\nstderr: %s", r.Code, m[2], forever, r.Stdout, r.Stderr)
	}
}

// TestE2ETokenBadInput: a bad --ttl, a missing kubeconfig, a delete without
// or with a malformed ID, and a server that is not running each get one
// line and a non-zero exit, promptly, and no token anywhere.
func TestE2ETokenBadInput(t *testing.T) {
	integration(t)
	t.Parallel()
	root := t.TempDir()
	missing := filepath.Join(root, "missing.yaml")
	down := downKubeconfig(t, root)
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"unparseable_ttl", []string{"create", "--ttl", "soon", "--kubeconfig", down}, []string{"ttl", "soon"}},
		{"negative_ttl", []string{"create", "--ttl=-1h", "--kubeconfig", down}, []string{"--ttl", "negative"}},
		{"negative_ttl_before_kubeconfig", []string{"create", "--ttl", "-5m", "--kubeconfig", missing}, []string{"--ttl", "negative"}},
		{"missing_kubeconfig", []string{"create", "--kubeconfig", missing}, []string{missing, "does not exist", "--kubeconfig"}},
		{"missing_kubeconfig_list", []string{"list", "--kubeconfig", missing}, []string{missing, "does not exist"}},
		{"server_down_create", []string{"create", "--kubeconfig", down}, []string{"is the skiff server running"}},
		{"server_down_list", []string{"list", "--kubeconfig", down}, []string{"connection refused"}},
		{"delete_without_id", []string{"delete", "--kubeconfig", down}, []string{"no token ID", "skiff token list"}},
		{"delete_malformed_id", []string{"delete", "--kubeconfig", down, "NOPE"}, []string{"NOPE", "not a bootstrap token ID"}},
		{"delete_flag_after_id", []string{"delete", "abcdef", "--kubeconfig", down}, []string{"--kubeconfig", "before the token IDs"}},
		{"unexpected_argument", []string{"create", "--kubeconfig", down, "extra"}, []string{"unexpected", "extra"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runSkiff(t, 60*time.Second, nil, append([]string{"token"}, tt.args...)...)
			expectUsageError(t, r, tt.want...)
			expectOneLine(t, r)
			if r.Took > 20*time.Second {
				t.Errorf("took %v to refuse; want a prompt answer", r.Took.Round(time.Millisecond))
			}
			if strings.TrimSpace(r.Stdout) != "" {
				t.Errorf("printed %q on stdout; want nothing when refusing", r.Stdout)
			}
		})
	}
}

// downKubeconfig is a kubeconfig with a valid CA for a server on a port
// where nothing listens.
func downKubeconfig(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "e2e-down-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := writeFile(t, filepath.Join(dir, "ca.crt"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	port := freeServerPorts(t) // nothing listens there
	return writeFile(t, filepath.Join(dir, "down.yaml"), fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:%d
    certificate-authority: %s
users:
- name: u
  user:
    token: x
contexts:
- name: c
  context:
    cluster: c
    user: u
current-context: c
`, port, ca))
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// expectOneLine asserts that a refusal said exactly one line on stderr.
func expectOneLine(t *testing.T, r result) {
	t.Helper()
	if lines := nonEmptyLines(r.Stderr); len(lines) != 1 {
		t.Errorf("stderr has %d lines, want exactly one:\n%s", len(lines), r.Stderr)
	}
}
