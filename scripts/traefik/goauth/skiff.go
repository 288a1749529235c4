package auth

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Traefik v3 is built against a fork of this package that the module
// proxy does not serve; these are the two functions it uses that v0.4.0
// lacks, written for skiff on top of v0.4.0's own password checks.

// CheckSecret reports whether password matches secret, an htpasswd hash:
// bcrypt ($2a$, $2b$, $2x$, $2y$), SHA-1 ({SHA}) or MD5-crypt ($1$,
// $apr1$), chosen by its prefix as BasicAuth.CheckAuth chooses it.
func CheckSecret(password, secret string) bool {
	compare := compareFuncs[0].compare
	for _, c := range compareFuncs[1:] {
		if strings.HasPrefix(secret, c.prefix) {
			compare = c.compare
			break
		}
	}
	return compare([]byte(secret), []byte(password)) == nil
}

// RequireAuthStale is RequireAuth telling the client that its nonce was
// stale (RFC 7616, section 3.3), so that it retries with the new one
// without asking its user again.
func (a *DigestAuth) RequireAuthStale(w http.ResponseWriter, r *http.Request) {
	a.mutex.Lock()
	if len(a.clients) > a.ClientCacheSize+a.ClientCacheTolerance {
		a.Purge(a.ClientCacheTolerance * 2)
	}
	nonce := RandomKey()
	a.clients[nonce] = &digest_client{nc: 0, last_seen: time.Now().UnixNano()}
	a.mutex.Unlock()
	w.Header().Set(contentType, a.Headers.V().UnauthContentType)
	w.Header().Set(a.Headers.V().Authenticate,
		fmt.Sprintf(`Digest realm="%s", nonce="%s", opaque="%s", algorithm="MD5", qop="auth", stale=true`,
			a.Realm, nonce, a.Opaque))
	w.WriteHeader(a.Headers.V().UnauthCode)
	w.Write([]byte(a.Headers.V().UnauthResponse))
}
