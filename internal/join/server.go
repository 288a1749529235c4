package join

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/pki"
	"github.com/skiff-k8s/skiff/internal/token"
)

// maxRequestBytes bounds a join request body: three CSRs and a few
// addresses fit in a few kilobytes.
const maxRequestBytes = 64 << 10

// ServerConfig is what the supervisor's join endpoints need.
type ServerConfig struct {
	// ServerToken joins servers and agents; AgentToken joins agents only
	// (it may equal ServerToken, as when --agent-token is not given).
	ServerToken, AgentToken token.Token
	// Client is the supervisor's own client (bootstrap tokens, node
	// passwords).
	Client kubernetes.Interface
	// ServerCA signs kubelet serving certificates, ClientCA the client
	// certificates of the kubelet and kube-proxy.
	ServerCA, ClientCA *pki.CA
	Cluster            ClusterInfo
	// Tunnel takes over an authenticated connection request of node; nil
	// answers 404.
	Tunnel func(w http.ResponseWriter, r *http.Request, node string)
	// ServerBootstrap returns what a joining server needs (JSON); nil
	// answers 404.
	ServerBootstrap func() ([]byte, error)
}

// Server serves the join endpoints.
type Server struct {
	cfg  ServerConfig
	auth authenticator
}

// NewServer returns the join endpoints for cfg.
func NewServer(cfg ServerConfig) *Server {
	s := &Server{cfg: cfg, auth: authenticator{server: cfg.ServerToken, agent: cfg.AgentToken, now: time.Now}}
	if cfg.Client != nil {
		s.auth.client = func() kubernetes.Interface { return cfg.Client }
	}
	return s
}

// Routes are the supervisor routes to install.
func (s *Server) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		PathConfig:          s.node(roleAgent, s.serveConfig),
		PathNodeCerts:       s.node(roleAgent, s.serveNodeCerts),
		PathConnect:         s.node(roleAgent, s.serveConnect),
		PathServerBootstrap: s.authorized(roleServer, s.serveServerBootstrap),
	}
}

// ServerOnly guards h like the server bootstrap route: only the server
// token gets in. Other parts' routes for joining servers (etcd members)
// use it.
func (s *Server) ServerOnly(h http.HandlerFunc) http.Handler {
	return s.authorized(roleServer, h)
}

// authorized runs h for requests whose token grants at least min.
func (s *Server) authorized(min role, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := s.auth.authenticate(r.Context(), r)
		if errors.Is(err, errUnavailable) {
			klog.ErrorS(err, "Checking a join token", "remote", r.RemoteAddr)
			http.Error(w, "the server cannot check the token yet; try again", http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			klog.InfoS("Join refused: bad token", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err.Error())
			w.Header().Set("WWW-Authenticate", `Basic realm="skiff"`)
			http.Error(w, "the token was refused", http.StatusUnauthorized)
			return
		}
		if got < min {
			klog.InfoS("Join refused: agent token used to join a server", "remote", r.RemoteAddr)
			http.Error(w, "this is an agent token: it can join agents, not servers", http.StatusForbidden)
			return
		}
		h(w, r)
	})
}

// node is authorized plus the node identity check: the name must be valid
// and held by this node's password.
func (s *Server) node(min role, h func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return s.authorized(min, func(w http.ResponseWriter, r *http.Request) {
		name := r.Header.Get(HeaderNodeName)
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			http.Error(w, fmt.Sprintf("node name %q is not valid: %s", name, strings.Join(errs, "; ")), http.StatusBadRequest)
			return
		}
		if s.cfg.Client == nil {
			http.Error(w, "the server cannot check node names yet", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		err := checkNodePassword(ctx, s.cfg.Client, name, r.Header.Get(HeaderNodePassword))
		switch {
		case errors.Is(err, errNameTaken):
			klog.InfoS("Join refused: node name held by another node", "node", name, "remote", r.RemoteAddr)
			http.Error(w, fmt.Sprintf("node name %q is already taken by another node", name), http.StatusConflict)
			return
		case err != nil:
			klog.ErrorS(err, "Checking a node password", "node", name)
			http.Error(w, "checking the node password: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		h(w, r, name)
	})
}

func (s *Server) serveConfig(w http.ResponseWriter, r *http.Request, _ string) {
	writeJSON(w, s.cfg.Cluster)
}

func (s *Server) serveNodeCerts(w http.ResponseWriter, r *http.Request, node string) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a certificate request", http.StatusMethodNotAllowed)
		return
	}
	var req CertRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxRequestBytes)).Decode(&req); err != nil {
		http.Error(w, "reading the certificate request: "+err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := s.issue(node, req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	klog.InfoS("Issued node certificates", "node", node, "ips", req.IPs, "remote", r.RemoteAddr)
	writeJSON(w, resp)
}

// issue signs the node's three certificates: its kubelet's client identity
// (system:node:<name>, which the Node authorizer and NodeRestriction confine
// to this node), its kubelet's serving certificate and kube-proxy's.
func (s *Server) issue(node string, req CertRequest) (CertResponse, error) {
	ips := []net.IP{net.ParseIP("127.0.0.1")}
	for _, a := range req.IPs {
		ip := net.ParseIP(a)
		if ip == nil {
			return CertResponse{}, fmt.Errorf("node address %q is not an IP address", a)
		}
		ips = append(ips, ip)
	}
	dns := []string{node, "localhost"}
	if req.Hostname != "" && len(validation.IsDNS1123Subdomain(req.Hostname)) == 0 {
		dns = append(dns, req.Hostname)
	}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	var resp CertResponse
	var err error
	if resp.KubeletClient, err = s.cfg.ClientCA.SignCSR(req.KubeletClient, "system:node:"+node, []string{"system:nodes"}, client, nil, nil, pki.LeafValidity); err != nil {
		return CertResponse{}, err
	}
	if resp.KubeProxy, err = s.cfg.ClientCA.SignCSR(req.KubeProxy, "system:kube-proxy", nil, client, nil, nil, pki.LeafValidity); err != nil {
		return CertResponse{}, err
	}
	if resp.KubeletServing, err = s.cfg.ServerCA.SignCSR(req.KubeletServing, node, nil,
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, ips, dns, pki.LeafValidity); err != nil {
		return CertResponse{}, err
	}
	resp.ServerCA, resp.ClientCA = s.cfg.ServerCA.CertPEM, s.cfg.ClientCA.CertPEM
	return resp, nil
}

func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request, node string) {
	if s.cfg.Tunnel == nil {
		http.NotFound(w, r)
		return
	}
	s.cfg.Tunnel(w, r, node)
}

func (s *Server) serveServerBootstrap(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ServerBootstrap == nil {
		http.NotFound(w, r)
		return
	}
	data, err := s.cfg.ServerBootstrap()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		klog.ErrorS(err, "Writing a join response")
	}
}
