package join

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/internal/token"
)

// role is what a request's credentials allow.
type role int

const (
	roleNone role = iota
	// roleAgent may join a node: certificates, config, tunnel.
	roleAgent
	// roleServer may also fetch what another server needs to join.
	roleServer
)

// bootstrapSecret is a kubeadm-style bootstrap token, "<id>.<secret>".
var bootstrapSecret = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

// authenticator checks a request's basic-auth credentials against the
// server token, the agent token and the cluster's bootstrap tokens.
type authenticator struct {
	server token.Token
	agent  token.Token
	// client reads bootstrap-token Secrets; nil before the apiserver runs.
	client func() kubernetes.Interface
	now    func() time.Time
}

var (
	errNoCredentials = errors.New("no credentials")
	errUnavailable   = errors.New("cannot check the token now")
)

func (a *authenticator) authenticate(ctx context.Context, r *http.Request) (role, error) {
	user, secret, ok := r.BasicAuth()
	if !ok {
		return roleNone, errNoCredentials
	}
	// The user name is checked only where a token names one: a short token
	// ("<secret>") is sent without one, as k3s agents do.
	if matches(a.server, user, secret) {
		return roleServer, nil
	}
	if matches(a.agent, user, secret) {
		return roleAgent, nil
	}
	if m := bootstrapSecret.FindStringSubmatch(secret); m != nil && a.client != nil {
		if c := a.client(); c != nil {
			err := token.Validate(ctx, c, m[1], m[2], a.now())
			if err != nil && !errors.Is(err, token.ErrRefused) {
				// The apiserver did not answer: the agent should try again,
				// not give up on a token that may be good.
				return roleNone, fmt.Errorf("%w: %v", errUnavailable, err)
			}
			if err != nil {
				return roleNone, err
			}
			return roleAgent, nil
		}
	}
	return roleNone, errors.New("unknown token")
}

func matches(t token.Token, user, secret string) bool {
	if t.Password == "" {
		return false
	}
	if user != "" && t.Username != "" && user != t.Username {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(secret), []byte(t.Password)) == 1
}
