package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// secretBytes gives 128 bits of entropy, written as 32 hex characters.
const secretBytes = 16

// Generate makes a token with a random secret for user, pinned to caPEM.
// With an empty caPEM it is a short token.
func Generate(caPEM []byte, user string) (Token, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return Token{}, fmt.Errorf("generating token secret: %w", err)
	}
	t := Token{Username: user, Password: hex.EncodeToString(b)}
	if len(caPEM) > 0 {
		t.CAHash = CAHash(caPEM)
	}
	return t, nil
}

// CAHash is the lower-case hex SHA-256 of the CA certificate file exactly as
// the server serves it; agents hash what they download and compare.
func CAHash(caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:])
}

// VerifyCA checks that caPEM is the CA the token was made for. A short
// token pins nothing, so it accepts any CA.
func (t Token) VerifyCA(caPEM []byte) error {
	if t.CAHash == "" {
		return nil
	}
	if got := CAHash(caPEM); !strings.EqualFold(got, t.CAHash) {
		return fmt.Errorf("the server's CA certificate (sha256 %s) is not the one the token names (sha256 %s): the token belongs to another cluster, or the connection is being intercepted", got, t.CAHash)
	}
	return nil
}
