package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// TestE2EServerBasics: a fresh server answers on port P: /readyz with the
// admin cert, the system namespaces through kubectl, /ping and /cacerts
// without credentials, the API refuses anonymous requests, the token file
// commits to the CA, the kubeconfig is 0600, and SIGTERM exits 0.
func TestE2EServerBasics(t *testing.T) {
	integration(t)
	t.Parallel()
	s := startServer(t)

	// /readyz through port P with the admin client certificate.
	hc, err := rest.HTTPClientFor(s.rest)
	if err != nil {
		t.Fatal(err)
	}
	code, body, err := httpGet(hc, s.url("/readyz?verbose"))
	if err != nil || code != http.StatusOK {
		t.Errorf("GET /readyz?verbose with the admin cert: %d %v\n%s", code, err, body)
	}

	// The system namespaces, as kubectl sees them. kube-node-lease and
	// kube-public are made by the apiserver shortly after start: poll.
	want := []string{"default", "kube-node-lease", "kube-public", "kube-system"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	ok, _ := poll(ctx, 500*time.Millisecond, func() (bool, error) {
		out := s.kubectl("get", "ns", "-o", "jsonpath={.items[*].metadata.name}")
		got = strings.Fields(out)
		for _, ns := range want {
			if !slices.Contains(got, ns) {
				return false, nil
			}
		}
		return true, nil
	})
	if !ok {
		t.Errorf("kubectl get ns: got %q, want all of %q", got, want)
	}

	// Unauthenticated endpoints of the supervisor.
	anon := s.anonClient()
	code, body, err = httpGet(anon, s.url("/ping"))
	if err != nil || code != http.StatusOK || strings.TrimSpace(body) != "pong" {
		t.Errorf("GET /ping without credentials: %d %q %v; want 200 \"pong\"", code, body, err)
	}
	code, cacerts, err := httpGet(anon, s.url("/cacerts"))
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /cacerts without credentials: %d %v", code, err)
	}
	caFile, err := os.ReadFile(s.serverCA())
	if err != nil {
		t.Fatal(err)
	}
	if cacerts != string(caFile) {
		t.Errorf("/cacerts (%d bytes) differs from %s (%d bytes)", len(cacerts), s.serverCA(), len(caFile))
	}

	// Everything else is the apiserver, which must not serve anonymous users.
	code, body, err = httpGet(anon, s.url("/api/v1/namespaces"))
	if err != nil {
		t.Errorf("GET /api/v1/namespaces without credentials: %v", err)
	} else if code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Errorf("GET /api/v1/namespaces without credentials: HTTP %d, want 401 or 403\n%.300s", code, body)
	}

	// The token commits to the CA that /cacerts serves.
	tok, err := os.ReadFile(s.cfg.DataDir + "/server/token")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^K10([0-9a-f]{64})::server:(\S+)$`).FindStringSubmatch(strings.TrimSpace(string(tok)))
	if m == nil {
		t.Errorf("token file %q does not look like K10<sha256 hex>::server:<secret>", strings.TrimSpace(string(tok)))
	} else {
		sum := sha256.Sum256([]byte(cacerts))
		if m[1] != hex.EncodeToString(sum[:]) {
			t.Errorf("token hash %s != sha256(/cacerts) %s", m[1], hex.EncodeToString(sum[:]))
		}
	}

	if mode := fileMode(t, s.cfg.Kubeconfig); mode != 0o600 {
		t.Errorf("kubeconfig mode %#o, want 0600 by default", mode)
	}
	if got := s.rest.Host; got != s.url("") {
		t.Errorf("kubeconfig server %q, want %q", got, s.url(""))
	}

	s.Stop()
}

// TestE2EWriteKubeconfigMode: --write-kubeconfig-mode 0644 gives a 0644
// kubeconfig that works.
func TestE2EWriteKubeconfigMode(t *testing.T) {
	integration(t)
	t.Parallel()
	s := startServer(t, withArgs("--write-kubeconfig-mode", "0644"))
	if mode := fileMode(t, s.cfg.Kubeconfig); mode != 0o644 {
		t.Errorf("kubeconfig mode %#o, want 0644", mode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("get namespace default: %v", err)
	}
}

// TestE2EStopDuringStartup: SIGTERM while the first start is still under way
// (port P answers /ping, the apiserver may not be up yet) still exits 0
// within the stop bound, and the data dir it leaves starts normally.
func TestE2EStopDuringStartup(t *testing.T) {
	integration(t)
	t.Parallel()
	s := launchServer(t)
	// The CA may not be on disk yet when port P first answers: skip
	// verification, we only want to know that the supervisor is up.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	ok, err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
		if !s.Running() {
			t.Fatalf("skiff server exited during start-up: %v", s.Err())
		}
		code, body, err := httpGet(hc, s.url("/ping"))
		return err == nil && code == http.StatusOK && strings.TrimSpace(body) == "pong", err
	})
	if !ok {
		t.Fatalf("port %d never answered /ping: %v", s.cfg.Port, err)
	}
	s.Stop()
	s.Restart()
	if _, err := s.client.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{}); err != nil {
		t.Errorf("after a start interrupted by SIGTERM: get namespace kube-system: %v", err)
	}
	s.Stop()
}
