package server

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/skiff-k8s/skiff/internal/addons"
	"github.com/skiff-k8s/skiff/internal/datastore"
	"github.com/skiff-k8s/skiff/internal/overlay"
)

// Config is everything the server role is told by the command line, the
// environment and the config file, already bound by internal/cli.
type Config struct {
	DataDir string
	Token   string
	// AgentToken joins agents but not servers; empty: the server token
	// joins both, as in k3s.
	AgentToken string
	// FlannelBackend is the pod network across nodes: vxlan, host-gw or
	// none (the user brings a CNI).
	FlannelBackend string
	// ServerURL, when set, is a server of the cluster this server joins.
	ServerURL           string
	HTTPSPort           int
	BindAddress         string
	AdvertiseAddress    string
	TLSSANs             []string
	ClusterCIDR         string
	ServiceCIDR         string
	ClusterDNS          string
	ClusterDomain       string
	DatastoreEndpoint   string
	DatastoreTimeout    time.Duration
	WriteKubeconfig     string
	WriteKubeconfigMode string
	DisableAgent        bool

	// The server's own node, unless DisableAgent.
	NodeName         string
	NodeIP           string
	NodeLabels       []string
	NodeTaints       []string
	KubeletArgs      []string
	KubeProxyArgs    []string
	DisableKubeProxy bool
	PrivateRegistry  string
	ResolvConf       string

	// Disable lists the built-in addons to leave out (--disable).
	Disable []string
	// DefaultLocalStoragePath is where every node keeps local-path volumes;
	// empty: each node's <data-dir>/storage.
	DefaultLocalStoragePath string

	ExtraAPIServerArgs         []string
	ExtraSchedulerArgs         []string
	ExtraControllerManagerArgs []string

	// ClusterInit (--cluster-init) starts a cluster on embedded etcd,
	// which other servers join with --server (internal/etcd).
	ClusterInit bool
	// etcdJoin is set by Run, never by the CLI: the server this one
	// joins runs embedded etcd and is asked for membership through it.
	etcdJoin *etcdJoiner

	// DatastoreTLS is --datastore-cafile, --datastore-certfile and
	// --datastore-keyfile: TLS to an external datastore.
	DatastoreTLS datastore.TLSFiles

	// Snapshots of the store (internal/snapshot): the schedule (cron),
	// how many scheduled ones to keep, their folder (empty:
	// <data-dir>/server/db/snapshots), and the switch that turns the
	// schedule off.
	EtcdSnapshotScheduleCron string
	EtcdSnapshotRetention    int
	EtcdSnapshotDir          string
	EtcdDisableSnapshots     bool
	// ClusterReset (--cluster-reset) with ClusterResetRestorePath puts a
	// snapshot in place of the store and exits, as in k3s.
	ClusterReset            bool
	ClusterResetRestorePath string
}

// paths are where the server keeps its state under the data dir.
type paths struct {
	server, tls, cred, etc, db, socket, token, agentToken, egressSocket string
	// manifests is the deploy controller's folder (k3s's name and place).
	manifests string
	// static is served at /static/ (k3s's place); its charts/ holds the
	// charts HelmCharts name by URL there, Traefik's among them.
	static, staticCharts string
	// helmCache keeps the charts the Helm controller downloads.
	helmCache string
}

func (c *Config) paths() paths {
	s := filepath.Join(c.DataDir, "server")
	return paths{
		server: s,
		tls:    filepath.Join(s, "tls"),
		cred:   filepath.Join(s, "cred"),
		etc:    filepath.Join(s, "etc"),
		db:     filepath.Join(s, "db", "state.db"),
		socket: filepath.Join(s, "kine.sock"),
		token:  filepath.Join(s, "token"),
		// Named as in k3s, so that users find it where they expect.
		agentToken:   filepath.Join(s, "agent-token"),
		egressSocket: filepath.Join(s, "egress.sock"),
		manifests:    filepath.Join(s, "manifests"),
		static:       filepath.Join(s, "static"),
		staticCharts: filepath.Join(s, "static", "charts"),
		helmCache:    filepath.Join(s, "helm"),
	}
}

// apiserverPort is the loopback port of kube-apiserver: the one after the
// public port, as in k3s, so that several servers on one host never collide.
func (c *Config) apiserverPort() int { return c.HTTPSPort + 1 }

// metricsPort is where the server serves the metrics API (metrics.k8s.io)
// to the aggregator: two after the public port, after the apiserver's.
func (c *Config) metricsPort() int { return c.HTTPSPort + 2 }

// validated holds what Validate parsed, so nothing is parsed twice.
type validated struct {
	clusterCIDR, serviceCIDR *net.IPNet
	clusterDNS               net.IP
	kubeconfigMode           os.FileMode
	disabled                 addons.Disabled
}

// Validate checks every value before anything touches the disk, and says
// what to change when a value is wrong.
func (c *Config) Validate() (validated, error) {
	var v validated
	var err error
	if c.HTTPSPort < 1 || c.HTTPSPort > 65533 {
		return v, fmt.Errorf("--https-listen-port %d is out of range; use 1-65533 (skiff also uses the two ports after it)", c.HTTPSPort)
	}
	if _, v.clusterCIDR, err = net.ParseCIDR(c.ClusterCIDR); err != nil {
		return v, fmt.Errorf("--cluster-cidr %q is not a CIDR such as 10.42.0.0/16", c.ClusterCIDR)
	}
	if _, v.serviceCIDR, err = net.ParseCIDR(c.ServiceCIDR); err != nil {
		return v, fmt.Errorf("--service-cidr %q is not a CIDR such as 10.43.0.0/16", c.ServiceCIDR)
	}
	if v.clusterDNS = net.ParseIP(c.ClusterDNS); v.clusterDNS == nil {
		return v, fmt.Errorf("--cluster-dns %q is not an IP address", c.ClusterDNS)
	}
	if !v.serviceCIDR.Contains(v.clusterDNS) {
		return v, fmt.Errorf("--cluster-dns %s is outside --service-cidr %s; pick an address inside it", c.ClusterDNS, c.ServiceCIDR)
	}
	if c.BindAddress != "" && net.ParseIP(c.BindAddress) == nil {
		return v, fmt.Errorf("--bind-address %q is not an IP address", c.BindAddress)
	}
	if c.NodeIP != "" && net.ParseIP(c.NodeIP) == nil {
		return v, fmt.Errorf("--node-ip %q is not an IP address", c.NodeIP)
	}
	if c.AdvertiseAddress != "" && net.ParseIP(c.AdvertiseAddress) == nil {
		return v, fmt.Errorf("--advertise-address %q is not an IP address", c.AdvertiseAddress)
	}
	mode, err := strconv.ParseUint(c.WriteKubeconfigMode, 8, 32)
	if err != nil || mode > 0o777 {
		return v, fmt.Errorf("--write-kubeconfig-mode %q is not a file mode such as 0600 or 0644", c.WriteKubeconfigMode)
	}
	v.kubeconfigMode = os.FileMode(mode)
	if c.FlannelBackend != "" {
		if err := overlay.ValidateBackend(c.FlannelBackend); err != nil {
			return v, fmt.Errorf("--flannel-backend: %w", err)
		}
	}
	if v.disabled, err = addons.ParseDisabled(c.Disable); err != nil {
		return v, err
	}
	if err := c.validateSnapshots(); err != nil {
		return v, err
	}
	if c.ClusterInit && c.DatastoreEndpoint != "" {
		return v, fmt.Errorf("--cluster-init starts embedded etcd, --datastore-endpoint uses an external store: give one of them")
	}
	if c.ClusterInit && c.ServerURL != "" {
		return v, fmt.Errorf("--cluster-init starts a new cluster, --server joins an existing one: give one of them")
	}
	if c.DefaultLocalStoragePath != "" && !filepath.IsAbs(c.DefaultLocalStoragePath) {
		return v, fmt.Errorf("--default-local-storage-path %q is not an absolute path", c.DefaultLocalStoragePath)
	}
	if c.DataDir == "" {
		return v, fmt.Errorf("--data-dir is empty; give a folder such as /var/lib/skiff")
	}
	return v, nil
}
