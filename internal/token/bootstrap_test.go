package token

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func getSecret(t *testing.T, client *fake.Clientset, id string) *corev1.Secret {
	t.Helper()
	s, err := client.CoreV1().Secrets("kube-system").Get(context.Background(), "bootstrap-token-"+id, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting the Secret of bootstrap token %s: %v", id, err)
	}
	return s
}

func TestCreateBootstrap(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	before := time.Now()
	id, secret, err := Create(ctx, client, 2*time.Hour, "for the edge boxes")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[a-z0-9]{6}$`).MatchString(id) || !regexp.MustCompile(`^[a-z0-9]{16}$`).MatchString(secret) {
		t.Fatalf("Create = %q, %q; want a 6- and a 16-character [a-z0-9] string", id, secret)
	}
	s := getSecret(t, client, id)
	if s.Type != "bootstrap.kubernetes.io/token" {
		t.Errorf("Secret type %q", s.Type)
	}
	want := map[string]string{
		"token-id":                       id,
		"token-secret":                   secret,
		"usage-bootstrap-authentication": "true",
		"auth-extra-groups":              "system:bootstrappers:skiff:agent",
		"description":                    "for the edge boxes",
	}
	for k, v := range want {
		if got := string(s.Data[k]); got != v {
			t.Errorf("data %s = %q, want %q", k, got, v)
		}
	}
	exp, err := time.Parse(time.RFC3339, string(s.Data["expiration"]))
	if err != nil {
		t.Fatalf("expiration %q: %v", s.Data["expiration"], err)
	}
	if lo, hi := before.Add(2*time.Hour).Add(-time.Second), time.Now().Add(2*time.Hour); exp.Before(lo) || exp.After(hi) {
		t.Errorf("expiration %v, want 2h from now", exp)
	}
	if len(s.Data) != len(want)+1 {
		t.Errorf("Secret has keys %v, want only %v and expiration", keys(s.Data), keys(want))
	}

	// ttl 0: never expires; no description: no key.
	id, _, err = Create(ctx, client, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	s = getSecret(t, client, id)
	for _, k := range []string{"expiration", "description"} {
		if _, ok := s.Data[k]; ok {
			t.Errorf("a token with ttl 0 and no description has %s %q", k, s.Data[k])
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestCreateBootstrapRefusesBadInput(t *testing.T) {
	client := fake.NewClientset()
	for _, tt := range []struct {
		ttl  time.Duration
		desc string
		want string
	}{
		{-time.Hour, "", "negative"},
		{time.Millisecond, "", "under a second"},
		{time.Hour, "two\nlines", "one line"},
	} {
		_, _, err := Create(context.Background(), client, tt.ttl, tt.desc)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Create(%v, %q) = %v, want an error saying %q", tt.ttl, tt.desc, err, tt.want)
		}
	}
	if l, _ := client.CoreV1().Secrets("kube-system").List(context.Background(), metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("refused input left %d Secrets", len(l.Items))
	}
}

func TestListBootstrap(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	client := fake.NewClientset(
		// Made by hand: a kubeadm token, an unparseable expiration.
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-aaaaaa", Namespace: "kube-system"},
			Type:       "bootstrap.kubernetes.io/token",
			Data: map[string][]byte{
				"token-id": []byte("aaaaaa"), "token-secret": []byte("0123456789abcdef"),
				"usage-bootstrap-signing": []byte("true"), "expiration": []byte("tomorrow"),
			},
		},
		// Not bootstrap tokens.
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-bbbbbb", Namespace: "kube-system"}, Type: corev1.SecretTypeOpaque},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-cccccc", Namespace: "default"},
			Type:       "bootstrap.kubernetes.io/token",
			Data:       map[string][]byte{"token-id": []byte("cccccc"), "token-secret": []byte("0123456789abcdef")},
		},
	)
	id, _, err := Create(ctx, client, time.Hour, "one hour")
	if err != nil {
		t.Fatal(err)
	}
	list, err := List(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range list {
		ids = append(ids, b.ID)
	}
	wantIDs := []string{"aaaaaa", id}
	slices.Sort(wantIDs)
	if !slices.Equal(ids, wantIDs) {
		t.Fatalf("List IDs = %q, want %q", ids, wantIDs)
	}
	for _, b := range list {
		switch b.ID {
		case "aaaaaa":
			if !b.Expired(now) || !slices.Equal(b.Usages, []string{"signing"}) || len(b.Groups) != 0 {
				t.Errorf("hand-made token listed as %+v; want expired, usage signing, no groups", b)
			}
		case id:
			if b.Description != "one hour" || b.Expired(now) || b.Expired(now.Add(59*time.Minute)) || !b.Expired(now.Add(61*time.Minute)) ||
				!slices.Equal(b.Usages, []string{"authentication"}) || !slices.Equal(b.Groups, []string{AgentGroup}) {
				t.Errorf("created token listed as %+v", b)
			}
		}
	}
	if (BootstrapToken{}).Expired(now.Add(100 * 365 * 24 * time.Hour)) {
		t.Error("a token without expiration expired")
	}
}

func TestDeleteBootstrap(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	a, _, _ := Create(ctx, client, time.Hour, "")
	b, _, _ := Create(ctx, client, time.Hour, "")
	c, _, _ := Create(ctx, client, time.Hour, "")

	if err := Delete(ctx, client, a); err != nil {
		t.Fatal(err)
	}
	// An unknown ID among known ones: the known ones go, the error names the
	// unknown one.
	err := Delete(ctx, client, "zzzzzz", b, a)
	if !errors.Is(err, ErrNoSuchToken) || !strings.Contains(err.Error(), "zzzzzz, "+a) {
		t.Errorf("Delete of unknown IDs: %v; want ErrNoSuchToken naming zzzzzz and %s", err, a)
	}
	list, _ := List(ctx, client)
	if len(list) != 1 || list[0].ID != c {
		t.Errorf("after Delete: %+v, want only %s", list, c)
	}
	// A malformed ID deletes nothing.
	if err := Delete(ctx, client, c, "NOT-AN-ID"); err == nil || !strings.Contains(err.Error(), "not a bootstrap token ID") {
		t.Errorf("Delete of a malformed ID: %v", err)
	}
	if list, _ := List(ctx, client); len(list) != 1 {
		t.Errorf("a Delete refused for a malformed ID deleted something")
	}
}

func TestValidateBootstrap(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	client := fake.NewClientset()
	id, secret, err := Create(ctx, client, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(ctx, client, id, secret, now); err != nil {
		t.Fatalf("Validate of a fresh token: %v", err)
	}
	forever, foreverSecret, _ := Create(ctx, client, 0, "")
	if err := Validate(ctx, client, forever, foreverSecret, now.Add(10*365*24*time.Hour)); err != nil {
		t.Errorf("Validate of a token without expiration: %v", err)
	}

	edit := func(name string, f func(s *corev1.Secret)) string {
		id, secret, err := Create(ctx, client, time.Hour, name)
		if err != nil {
			t.Fatal(err)
		}
		s := getSecret(t, client, id)
		f(s)
		if _, err := client.CoreV1().Secrets("kube-system").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return id + "." + secret
	}
	notAuth := edit("signing only", func(s *corev1.Secret) {
		delete(s.Data, "usage-bootstrap-authentication")
		s.Data["usage-bootstrap-signing"] = []byte("true")
	})
	kubeadm := edit("kubeadm's", func(s *corev1.Secret) {
		s.Data["auth-extra-groups"] = []byte("system:bootstrappers:kubeadm:default-node-token")
	})
	opaque := edit("opaque", func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque })
	badExp := edit("bad expiration", func(s *corev1.Secret) { s.Data["expiration"] = []byte("soon") })

	for _, tt := range []struct {
		name, token string
		at          time.Time
		want        string
	}{
		{"wrong secret", id + ".0123456789abcdef", now, "wrong secret"},
		{"unknown id", "zzzzzz." + secret, now, "no bootstrap token"},
		{"malformed", id + "." + secret + "x", now, "not a bootstrap token"},
		{"expired", id + "." + secret, now.Add(61 * time.Minute), "expired"},
		{"unparseable expiration", badExp, now, "expired"},
		{"not for authentication", notAuth, now, "not for authentication"},
		{"not for agents", kubeadm, now, "not for joining agents"},
		{"not a bootstrap Secret", opaque, now, "not a bootstrap token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tid, tsecret, _ := strings.Cut(tt.token, ".")
			err := Validate(ctx, client, tid, tsecret, tt.at)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v; want ErrRefused saying %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), tsecret) && tsecret != "" {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestSplitBootstrap(t *testing.T) {
	tok := Token{CAHash: CAHash(testCA), Password: "abcdef.0123456789abcdef"}
	parsed, err := Parse(tok.String())
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Username != "" {
		t.Errorf("K10<hash>::<id>.<secret> parsed with user %q", parsed.Username)
	}
	id, secret, ok := SplitBootstrap(parsed.Password)
	if !ok || id != "abcdef" || secret != "0123456789abcdef" {
		t.Errorf("SplitBootstrap(%q) = %q, %q, %v", parsed.Password, id, secret, ok)
	}
	for _, s := range []string{"server-secret", "abcdef.0123", "ABCDEF.0123456789abcdef", "abcdef:0123456789abcdef"} {
		if _, _, ok := SplitBootstrap(s); ok {
			t.Errorf("SplitBootstrap(%q) accepted it", s)
		}
	}
}

// writeKubeconfig writes a kubeconfig for server that trusts caPEM.
func writeKubeconfig(t *testing.T, server string, caPEM []byte) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "x"}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAdminCAPEM(t *testing.T) {
	served := ""
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cacerts" && served != "" {
			w.Write([]byte(served))
			return
		}
		http.NotFound(w, r)
	}))
	defer ts.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	a, err := OpenAdmin(writeKubeconfig(t, ts.URL, caPEM))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// No /cacerts (the apiserver's own port): the kubeconfig's CA.
	got, err := a.CAPEM(ctx)
	if err != nil || string(got) != string(caPEM) {
		t.Errorf("CAPEM without /cacerts = %q, %v; want the kubeconfig's CA", got, err)
	}
	// A supervisor: what it serves, which agents hash.
	served = "# the bundle\n" + string(caPEM)
	if got, err := a.CAPEM(ctx); err != nil || string(got) != served {
		t.Errorf("CAPEM = %q, %v; want what /cacerts serves", got, err)
	}
	// A server that is gone.
	ts.Close()
	if _, err := a.CAPEM(ctx); err == nil || !strings.Contains(err.Error(), "is the skiff server running") {
		t.Errorf("CAPEM with the server gone: %v", err)
	}
}

func TestOpenAdminRefuses(t *testing.T) {
	dir := t.TempDir()
	noCA := writeKubeconfig(t, "https://127.0.0.1:1", nil)
	badCA := writeKubeconfig(t, "https://127.0.0.1:1", []byte("not a certificate"))
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("{{{"), 0o600)
	for path, want := range map[string]string{
		filepath.Join(dir, "missing"): "does not exist",
		"":                            "no kubeconfig given",
		noCA:                          "names no certificate authority",
		badCA:                         "certificate authority",
		garbage:                       "reading kubeconfig",
	} {
		if _, err := OpenAdmin(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("OpenAdmin(%q) = %v, want an error saying %q", path, err, want)
		}
	}
}
