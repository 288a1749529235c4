package token

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// prefix marks the full form; "10" is the format version k3s uses.
const prefix = "K10"

// Token is a parsed join token. CAHash is empty for a short token.
type Token struct {
	CAHash   string
	Username string
	Password string
}

// Parse reads a full or short token. Surrounding whitespace, as from a file
// or an environment variable, is ignored.
func Parse(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Token{}, errors.New("token is empty")
	}
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return Token{}, malformed("it contains whitespace")
	}
	// Like k3s, anything starting with the prefix is meant as a full token;
	// guessing otherwise would turn a mistyped one into a wrong secret.
	if !strings.HasPrefix(s, prefix) {
		return parseCredentials(s)
	}
	hash, creds, ok := strings.Cut(s[len(prefix):], "::")
	if !ok {
		return Token{}, malformed(`a token starting with "K10" needs "::" after the CA hash (K10<CA hash>::<user>:<secret>)`)
	}
	if len(hash) != 64 {
		return Token{}, malformed(fmt.Sprintf("the CA hash has %d characters, want 64", len(hash)))
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return Token{}, malformed("the CA hash is not hexadecimal")
	}
	t, err := parseCredentials(creds)
	if err != nil {
		return Token{}, err
	}
	t.CAHash = strings.ToLower(hash)
	return t, nil
}

// parseCredentials reads "<user>:<secret>" or "<secret>". The secret may
// itself contain colons: only the first one separates the user.
func parseCredentials(s string) (Token, error) {
	user, secret, hasUser := strings.Cut(s, ":")
	if !hasUser {
		user, secret = "", s
	}
	if hasUser && user == "" {
		return Token{}, malformed(`the user name before ":" is empty`)
	}
	if secret == "" {
		return Token{}, malformed("the secret is empty")
	}
	return Token{Username: user, Password: secret}, nil
}

// malformed builds a parse error. Reasons must never quote the input.
func malformed(reason string) error {
	return fmt.Errorf("token is malformed: %s", reason)
}

// String returns the token as users pass it: the full form when it carries
// a CA hash, otherwise "<user>:<secret>" or just "<secret>". It contains the
// secret, so do not log it.
func (t Token) String() string {
	creds := t.Password
	if t.Username != "" {
		creds = t.Username + ":" + creds
	}
	if t.CAHash == "" {
		return creds
	}
	return prefix + t.CAHash + "::" + creds
}
