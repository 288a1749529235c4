// Package supervisor is the one TLS port (6443 by default) that users and
// nodes talk to. It serves /ping and /cacerts without authentication, any
// extra routes the server registers (the /v1-skiff join endpoints), and hands
// every other request to the kube-apiserver's handler chain in the same
// process. Until the server supplies that handler with SetAPIServer, such
// requests get 503 with Retry-After: 1.
//
// Client certificates are requested but not verified during the handshake:
// the apiserver's authenticator verifies them from req.TLS, as it would on
// its own port, and bearer tokens pass through untouched.
package supervisor
