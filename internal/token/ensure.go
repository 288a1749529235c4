package token

import (
	"crypto/subtle"
	"errors"
	"fmt"
)

// defaultUser is the user name of tokens the server makes or completes, as
// in k3s.
const defaultUser = "server"

// Ensure returns the cluster's token, kept at path (the server passes
// <data-dir>/server/token), pinned to caPEM:
//
//   - no file, no given token: a new one is generated and stored.
//   - no file, a given token: it is stored, completed to the full form
//     (user "server" if it names none). A CA hash in it must match caPEM.
//   - a file, no given token: the stored token is returned.
//   - a file and a given token: the given one must carry the same secret
//     (and user, if it names one) as the stored one, which is returned.
//     Otherwise restarting with a different --token would silently lock
//     out every node that joined with the old one.
func Ensure(path string, given string, caPEM []byte) (Token, error) {
	return EnsureFor(path, given, caPEM, defaultUser)
}

// AgentUser is the user name of agent tokens, which join agents only.
const AgentUser = "node"

// EnsureFor is Ensure for a token whose user name, when the given token
// names none, is user: "node" for the agent token.
func EnsureFor(path string, given string, caPEM []byte, user string) (Token, error) {
	if len(caPEM) == 0 {
		return Token{}, errors.New("ensuring token: no CA certificate given")
	}
	stored, found, err := readFile(path)
	if err != nil {
		return Token{}, err
	}

	if !found {
		var t Token
		if given == "" {
			t, err = Generate(caPEM, user)
		} else {
			t, err = complete(given, caPEM, user)
		}
		if err != nil {
			return Token{}, err
		}
		if err := writeFile(path, t); err != nil {
			return Token{}, err
		}
		return t, nil
	}

	if err := stored.VerifyCA(caPEM); err != nil {
		return Token{}, fmt.Errorf("checking the token stored in %s against this server's CA: %w; to keep its secret with the new CA, remove %s and start with --token set to the secret alone", path, err, path)
	}
	if stored.CAHash == "" || stored.Username == "" {
		// Someone put a short token in the file; store the full form that
		// agents and users will be shown.
		stored = completeToken(stored, caPEM, user)
		if err := writeFile(path, stored); err != nil {
			return Token{}, err
		}
	}
	if given == "" {
		return stored, nil
	}

	g, err := Parse(given)
	if err != nil {
		return Token{}, fmt.Errorf("checking the given token: %w", err)
	}
	if err := g.VerifyCA(caPEM); err != nil {
		return Token{}, fmt.Errorf("checking the given token: %w", err)
	}
	sameSecret := subtle.ConstantTimeCompare([]byte(g.Password), []byte(stored.Password)) == 1
	if !sameSecret || (g.Username != "" && g.Username != stored.Username) {
		return Token{}, fmt.Errorf("the given token does not match the one this server was started with (stored in %s); use that token, or remove %s only if you mean to change the cluster's token", path, path)
	}
	return stored, nil
}

// complete parses a token given by the user for a new server and turns it
// into the full form pinned to caPEM.
func complete(given string, caPEM []byte, user string) (Token, error) {
	t, err := Parse(given)
	if err != nil {
		return Token{}, fmt.Errorf("checking the given token: %w", err)
	}
	if err := t.VerifyCA(caPEM); err != nil {
		return Token{}, fmt.Errorf("checking the given token: %w", err)
	}
	return completeToken(t, caPEM, user), nil
}

func completeToken(t Token, caPEM []byte, user string) Token {
	if t.Username == "" {
		t.Username = user
	}
	t.CAHash = CAHash(caPEM)
	return t
}
