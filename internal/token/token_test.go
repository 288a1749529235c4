package token

import (
	"strings"
	"testing"
)

const testHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseAndString(t *testing.T) {
	tests := []struct {
		in   string
		want Token
		// out is String()'s result when it differs from in.
		out string
	}{
		{in: "K10" + testHash + "::server:s3cret", want: Token{CAHash: testHash, Username: "server", Password: "s3cret"}},
		{in: "K10" + strings.ToUpper(testHash) + "::server:s3cret", want: Token{CAHash: testHash, Username: "server", Password: "s3cret"}, out: "K10" + testHash + "::server:s3cret"},
		{in: "K10" + testHash + "::s3cret", want: Token{CAHash: testHash, Password: "s3cret"}},
		{in: "K10" + testHash + "::node:with:colons", want: Token{CAHash: testHash, Username: "node", Password: "with:colons"}},
		{in: "s3cret", want: Token{Password: "s3cret"}},
		{in: "alice:s3cret", want: Token{Username: "alice", Password: "s3cret"}},
		{in: "  s3cret\n", want: Token{Password: "s3cret"}, out: "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
			out := tt.out
			if out == "" {
				out = tt.in
			}
			if got.String() != out {
				t.Errorf("String = %q, want %q", got.String(), out)
			}
			again, err := Parse(got.String())
			if err != nil || again != got {
				t.Errorf("round trip: %+v, %v", again, err)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	const secret = "hunter2secret"
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "token is empty"},
		{"blank", " \n\t", "token is empty"},
		{"inner space", "alice:" + secret + " x", "malformed"},
		{"no separator", "K10" + testHash + ":server:" + secret, "malformed"},
		{"short hash", "K10abc::server:" + secret, "malformed"},
		{"long hash", "K10" + testHash + "00::server:" + secret, "malformed"},
		{"non-hex hash", "K10" + strings.Repeat("zz", 32) + "::server:" + secret, "malformed"},
		{"empty credentials", "K10" + testHash + "::", "malformed"},
		{"empty user", ":" + secret, "malformed"},
		{"empty secret", "alice:", "malformed"},
		{"full empty user", "K10" + testHash + ":::" + secret, "malformed"},
		{"full empty secret", "K10" + testHash + "::server:", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n")
	a, err := Generate(ca, "server")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(ca, "server")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Password) != 32 || strings.Trim(a.Password, "0123456789abcdef") != "" {
		t.Errorf("secret %q is not 32 hex characters", a.Password)
	}
	if a.Password == b.Password {
		t.Error("two generated secrets are equal")
	}
	if a.CAHash != CAHash(ca) || a.Username != "server" {
		t.Errorf("Generate = %+v", a)
	}
	if !strings.HasPrefix(a.String(), "K10"+CAHash(ca)+"::server:") {
		t.Errorf("String = %q", a.String())
	}
	if err := a.VerifyCA(ca); err != nil {
		t.Errorf("VerifyCA: %v", err)
	}

	short, err := Generate(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if short.CAHash != "" || short.String() != short.Password {
		t.Errorf("Generate without CA = %+v", short)
	}
}

func TestCAHash(t *testing.T) {
	// sha256("abc"), a published test vector.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := CAHash([]byte("abc")); got != want {
		t.Errorf("CAHash = %s, want %s", got, want)
	}
}

func TestVerifyCA(t *testing.T) {
	ca := []byte("the CA")
	other := []byte("another CA")
	tests := []struct {
		name    string
		tok     Token
		wantErr bool
	}{
		{"matching", Token{CAHash: CAHash(ca), Password: "x"}, false},
		{"matching upper case", Token{CAHash: strings.ToUpper(CAHash(ca)), Password: "x"}, false},
		{"short token pins nothing", Token{Password: "x"}, false},
		{"mismatch", Token{CAHash: CAHash(other), Password: "x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.tok.VerifyCA(ca)
			if (err != nil) != tt.wantErr {
				t.Errorf("VerifyCA = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}
