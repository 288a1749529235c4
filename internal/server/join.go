package server

import (
	"fmt"
	"net/http"
	"os"

	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/internal/addons"
	"github.com/skiff-k8s/skiff/internal/join"
	"github.com/skiff-k8s/skiff/internal/pki"
	"github.com/skiff-k8s/skiff/internal/token"
)

// agentToken is the token that joins agents: the one given with
// --agent-token (or stored by an earlier start), else the server token
// itself, as in k3s.
func agentToken(cfg Config, p paths, serverTok token.Token, caPEM []byte) (token.Token, error) {
	if cfg.AgentToken == "" {
		if _, err := os.Stat(p.agentToken); os.IsNotExist(err) {
			return serverTok, nil
		}
	}
	t, err := token.EnsureFor(p.agentToken, cfg.AgentToken, caPEM, token.AgentUser)
	if err != nil {
		return token.Token{}, fmt.Errorf("agent token: %w", err)
	}
	if t.Password == serverTok.Password {
		return token.Token{}, fmt.Errorf("--agent-token has the same secret as the server token; give it a secret of its own, or leave it out to let the server token join agents")
	}
	return t, nil
}

// joinServer is the supervisor's join endpoints for this server.
func joinServer(cfg Config, v validated, p paths, ca signers, serverTok, agentTok token.Token, client kubernetes.Interface,
	tunnel func(http.ResponseWriter, *http.Request, string)) (*join.Server, error) {
	backend := cfg.FlannelBackend
	if backend == "" {
		backend = "vxlan"
	}
	return join.NewServer(join.ServerConfig{
		ServerToken: serverTok,
		AgentToken:  agentTok,
		Client:      client,
		ServerCA:    ca.server,
		ClientCA:    ca.client,
		Cluster: join.ClusterInfo{
			ClusterCIDR:      cfg.ClusterCIDR,
			ServiceCIDR:      cfg.ServiceCIDR,
			ClusterDNS:       v.clusterDNS.String(),
			ClusterDomain:    cfg.ClusterDomain,
			FlannelBackend:   backend,
			LocalStorage:     !v.disabled.Has(addons.LocalStorage),
			LocalStoragePath: cfg.DefaultLocalStoragePath,
		},
		Tunnel:          tunnel,
		ServerBootstrap: readServerBootstrap(p.tls),
	}), nil
}

// signers are the CAs the server signs node certificates with, loaded once
// at start for the join endpoints and the server's own node alike.
type signers struct {
	server, client *pki.CA
}

func loadSigners(c certFiles) (signers, error) {
	server, err := pki.LoadCA(c.serverCA, c.serverCAKey)
	if err != nil {
		return signers{}, fmt.Errorf("loading the server CA: %w", err)
	}
	client, err := pki.LoadCA(c.clientCA, c.clientCAKey)
	if err != nil {
		return signers{}, fmt.Errorf("loading the client CA: %w", err)
	}
	return signers{server: server, client: client}, nil
}
