package token

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	testCA  = []byte("-----BEGIN CERTIFICATE-----\nthis cluster\n-----END CERTIFICATE-----\n")
	otherCA = []byte("-----BEGIN CERTIFICATE-----\nanother cluster\n-----END CERTIFICATE-----\n")
)

func tokenPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "server", "token")
}

func stored(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode = %v, want 0600", fi.Mode().Perm())
	}
	return string(data)
}

func TestEnsureGeneratesWhenNothingGiven(t *testing.T) {
	path := tokenPath(t)
	tok, err := Ensure(path, "", testCA)
	if err != nil {
		t.Fatal(err)
	}
	if tok.CAHash != CAHash(testCA) || tok.Username != "server" || len(tok.Password) != 32 {
		t.Errorf("Ensure = %+v", tok)
	}
	if got := stored(t, path); got != tok.String()+"\n" {
		t.Errorf("stored %q, want %q", got, tok.String()+"\n")
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the token", len(entries))
	}

	// Started again without a token, the server keeps its own.
	again, err := Ensure(path, "", testCA)
	if err != nil {
		t.Fatal(err)
	}
	if again != tok {
		t.Errorf("second Ensure = %+v, want %+v", again, tok)
	}
}

func TestEnsureStoresGivenToken(t *testing.T) {
	full := Token{CAHash: CAHash(testCA), Username: "server", Password: "mysecret"}
	tests := []struct {
		name  string
		given string
		want  Token
	}{
		{"secret only", "mysecret", full},
		{"user and secret", "admin:mysecret", Token{CAHash: full.CAHash, Username: "admin", Password: "mysecret"}},
		{"full", full.String(), full},
		{"full without user", "K10" + full.CAHash + "::mysecret", full},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tokenPath(t)
			tok, err := Ensure(path, tt.given, testCA)
			if err != nil {
				t.Fatal(err)
			}
			if tok != tt.want {
				t.Errorf("Ensure = %+v, want %+v", tok, tt.want)
			}
			if got := stored(t, path); got != tt.want.String()+"\n" {
				t.Errorf("stored %q, want %q", got, tt.want.String()+"\n")
			}
		})
	}
}

func TestEnsureRejectsGivenTokenForAnotherCA(t *testing.T) {
	path := tokenPath(t)
	given := Token{CAHash: CAHash(otherCA), Username: "server", Password: "mysecret"}.String()
	if _, err := Ensure(path, given, testCA); err == nil {
		t.Fatal("Ensure accepted a token for another CA")
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a rejected token was stored")
	}
}

func TestEnsureChecksGivenAgainstStored(t *testing.T) {
	const secret = "mysecret"
	hash := CAHash(testCA)
	tests := []struct {
		name    string
		given   string
		wantErr string
	}{
		{"same full token", "K10" + hash + "::server:" + secret, ""},
		{"same secret", secret, ""},
		{"same user and secret", "server:" + secret, ""},
		{"full without user", "K10" + hash + "::" + secret, ""},
		{"other secret", "othersecret", "does not match"},
		{"other user", "admin:" + secret, "does not match"},
		{"other CA", "K10" + CAHash(otherCA) + "::server:" + secret, "CA"},
		{"malformed", "K10abc::server:" + secret, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tokenPath(t)
			first, err := Ensure(path, secret, testCA)
			if err != nil {
				t.Fatal(err)
			}
			before := stored(t, path)

			tok, err := Ensure(path, tt.given, testCA)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Ensure: %v", err)
				}
				if tok != first {
					t.Errorf("Ensure = %+v, want the stored %+v", tok, first)
				}
			} else {
				if err == nil {
					t.Fatal("Ensure succeeded")
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not say %q", err, tt.wantErr)
				}
				if tt.wantErr == "does not match" && !strings.Contains(err.Error(), "(stored in "+path+")") {
					t.Errorf("error %q does not name %s", err, path)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q echoes a secret", err)
				}
			}
			if after := stored(t, path); after != before {
				t.Errorf("stored token changed from %q to %q", before, after)
			}
		})
	}
}

func TestEnsureStoredFileProblems(t *testing.T) {
	tests := []struct {
		name, content, wantErr string
	}{
		{"empty file", "", "token is empty"},
		{"garbage", "K10nothex::x:storedsecret", "malformed"},
		{"made for another CA", Token{CAHash: CAHash(otherCA), Username: "server", Password: "storedsecret"}.String(), "remove"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tokenPath(t)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Ensure(path, "", testCA)
			if err == nil {
				t.Fatal("Ensure succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not say %q and name %s", err, tt.wantErr, path)
			}
			if strings.Contains(err.Error(), "storedsecret") {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}

func TestEnsureCompletesShortStoredToken(t *testing.T) {
	path := tokenPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	// Written by hand, and too openly.
	if err := os.WriteFile(path, []byte("handmade\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := Ensure(path, "", testCA)
	if err != nil {
		t.Fatal(err)
	}
	want := Token{CAHash: CAHash(testCA), Username: "server", Password: "handmade"}
	if tok != want {
		t.Errorf("Ensure = %+v, want %+v", tok, want)
	}
	if got := stored(t, path); got != want.String()+"\n" {
		t.Errorf("stored %q, want %q", got, want.String()+"\n")
	}
}

func TestEnsureNeedsCA(t *testing.T) {
	if _, err := Ensure(tokenPath(t), "", nil); err == nil {
		t.Error("Ensure without a CA succeeded")
	}
}
