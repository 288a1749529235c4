package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/addons"
	"github.com/skiff-k8s/skiff/internal/checkconfig"
	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/containerd"
	"github.com/skiff-k8s/skiff/internal/control"
	"github.com/skiff-k8s/skiff/internal/datastore"
	"github.com/skiff-k8s/skiff/internal/etcd"
	"github.com/skiff-k8s/skiff/internal/kubelet"
	"github.com/skiff-k8s/skiff/internal/memory"
	"github.com/skiff-k8s/skiff/internal/sdnotify"
	"github.com/skiff-k8s/skiff/internal/static"
	"github.com/skiff-k8s/skiff/internal/supervisor"
	"github.com/skiff-k8s/skiff/internal/token"
	"github.com/skiff-k8s/skiff/internal/tunnel"
)

// Run prepares the server's state on disk and runs its parts until ctx ends
// or a part fails.
func Run(ctx context.Context, cfg Config) error {
	v, err := cfg.Validate()
	if err != nil {
		return err
	}
	p := cfg.paths()
	if cfg.ClusterReset {
		// A restore runs alone, before anything starts, and exits.
		if handled, err := clusterReset(cfg); handled {
			return err
		}
		if usesEtcd(cfg, p) {
			return etcdClusterReset(ctx, cfg, p)
		}
	}
	// Ports are checked before anything is written, so that a server that
	// cannot start leaves no trace.
	if err := checkPortsFree(cfg, v); err != nil {
		return err
	}
	if err := checkEtcd(cfg, p); err != nil {
		return err
	}
	if !cfg.DisableAgent {
		// Checked before anything is written, like every other input.
		if _, err := containerd.LoadRegistries(cfg.PrivateRegistry); err != nil {
			return fmt.Errorf("--private-registry: %w", err)
		}
	}
	if cfg.ResolvConf != "" {
		if err := kubelet.CheckResolvConf(cfg.ResolvConf); err != nil {
			return fmt.Errorf("--resolv-conf: %w", err)
		}
	}
	// The host can run what this server runs: a missing iptables or cgroup
	// controller stops it here, in one line, instead of halfway through.
	if err := checkconfig.Start(checkconfig.Options{
		DataDir: cfg.DataDir, Node: !cfg.DisableAgent, Backend: cfg.FlannelBackend,
		KubeProxy: !cfg.DisableKubeProxy, KubeletArgs: cfg.KubeletArgs, KubeProxyArgs: cfg.KubeProxyArgs,
	}); err != nil {
		return err
	}
	// A datastore that refuses skiff's credentials or does not answer
	// stops the server here, before it writes anything.
	if err := checkDatastore(ctx, cfg); err != nil {
		return err
	}
	// A join is checked in full (the token, the clocks, the cluster's
	// keys against any already here) before the data dir is touched. An
	// etcd member with data rejoins as itself, asking nobody.
	var joining *pendingJoin
	if cfg.ServerURL != "" && !etcd.HasData(etcdDataDir(p)) {
		if joining, err = prepareJoin(ctx, cfg, p); err != nil {
			return err
		}
	}
	if err := ensureWritable(cfg.DataDir, p.server); err != nil {
		return err
	}
	if joining != nil {
		if err := joining.write(p); err != nil {
			return err
		}
		cfg.etcdJoin = joining.joiner
	}
	advertise, err := advertiseIP(cfg)
	if err != nil {
		return err
	}
	certs, err := ensurePKI(cfg, p, v, advertise)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(certs.serverCA)
	if err != nil {
		return fmt.Errorf("reading the server CA: %w", err)
	}
	serverTok, err := token.Ensure(p.token, cfg.Token, caPEM)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	agentTok, err := agentToken(cfg, p, serverTok, caPEM)
	if err != nil {
		return err
	}
	if err := writeComponentKubeconfigs(cfg, p, certs); err != nil {
		return err
	}

	if err := writeAddons(cfg, v, p, caPEM); err != nil {
		return err
	}

	ca, err := loadSigners(certs)
	if err != nil {
		return err
	}
	parts, addonsApplied, err := Parts(cfg, v, p, certs, ca, advertise, caPEM, serverTok, agentTok)
	if err != nil {
		return err
	}
	var helpers func() []int
	if !cfg.DisableAgent {
		var built component.Component
		for _, part := range parts {
			if cm, ok := part.(*control.ControllerManager); ok {
				built = cm.ControllersBuilt()
			}
		}
		node, err := localAgent(cfg, v, certs, ca, advertise, filepath.Join(p.cred, "supervisor.kubeconfig"), built)
		if err != nil {
			return err
		}
		// containerd and the images get ready while the control plane
		// starts, and the node's parts that need them wait for them. They
		// come after the datastore: a server that cannot reach its
		// datastore starts nothing on the host.
		store := slices.IndexFunc(parts, func(p component.Component) bool { _, ok := p.(storePart); return ok })
		parts = slices.Insert(parts, store+1, node.Runtime)
		parts = append(parts, node.Parts...)
		helpers = node.HelperPIDs
	}
	parts = append(parts,
		&defaultServiceAccount{kubeconfig: filepath.Join(p.cred, "supervisor.kubeconfig")},
		// Ready means the built-in addons are deployed too.
		addonsApplied,
	)
	return component.Run(ctx, parts, func() {
		memory.Govern(ctx, memory.Defaults, helpers)
		addr := net.JoinHostPort(bindHost(cfg), strconv.Itoa(cfg.HTTPSPort))
		klog.InfoS("skiff server is ready", "https", addr, "kubeconfig", cfg.WriteKubeconfig)
		sdnotify.Tell("API answering on " + addr)
	})
}

// Parts is the server role at a glance: each part starts once the one
// before it is ready, and they stop in reverse order. The deploy
// controller works in the background from its place in the list;
// addonsApplied is ready once it has applied every manifest once.
func Parts(cfg Config, v validated, p paths, c certFiles, ca signers, advertise net.IP, caPEM []byte, serverTok, agentTok token.Token) (parts []component.Component, addonsApplied component.Component, err error) {
	var store storePart = &datastore.Datastore{
		Endpoint: cfg.DatastoreEndpoint,
		DBPath:   p.db,
		Socket:   p.socket,
		Timeout:  cfg.DatastoreTimeout,
		TLS:      cfg.DatastoreTLS,
	}
	member, err := embeddedEtcd(cfg, p, advertise)
	if err != nil {
		return nil, nil, err
	}
	if member != nil {
		store = member
	}
	client, err := clientFor(filepath.Join(p.cred, "supervisor.kubeconfig"))
	if err != nil {
		return nil, nil, err
	}
	tunnels := tunnel.NewServer(tunnel.ServerConfig{Client: client, EgressSocket: p.egressSocket})
	joins, err := joinServer(cfg, v, p, ca, serverTok, agentTok, client, tunnels.ServeTunnel)
	if err != nil {
		return nil, nil, err
	}
	routes := joins.Routes()
	if member != nil {
		// Servers join as etcd members through these, with the server token.
		for path, h := range member.Routes() {
			routes[path] = joins.ServerOnly(h)
		}
	}
	if routes[static.Prefix], err = static.New(p.static, c.clientCA, client); err != nil {
		return nil, nil, err
	}
	super := supervisor.New(supervisor.Config{
		BindAddress:  cfg.BindAddress,
		Port:         cfg.HTTPSPort,
		CertFile:     c.servingCert,
		KeyFile:      c.servingKey,
		ClientCAFile: c.clientCA,
		CACertsPEM:   caPEM,
		Routes:       routes,
	})
	readyTLS, err := clientTLS(c.serverCA, c.supervisorCert, c.supervisorKey)
	if err != nil {
		return nil, nil, err
	}

	egressConfig := filepath.Join(p.etc, "egress-selector.yaml")
	if err := tunnel.WriteEgressConfig(egressConfig, p.egressSocket); err != nil {
		return nil, nil, err
	}
	apiArgs, err := apiserverArgs(cfg, v, c, advertise, store.EtcdServers(), egressConfig)
	if err != nil {
		return nil, nil, err
	}
	withEtcdTLS(apiArgs, store.EtcdTLS())
	schedArgs, err := schedulerArgs(cfg, p, store.LeaderElect())
	if err != nil {
		return nil, nil, err
	}
	cmArgs, err := controllerManagerArgs(cfg, p, c, store.LeaderElect())
	if err != nil {
		return nil, nil, err
	}
	cm := &control.ControllerManager{Args: cmArgs}
	api := &control.APIServer{
		Args:      apiArgs,
		ReadyzURL: fmt.Sprintf("https://127.0.0.1:%d/readyz", cfg.apiserverPort()),
		ClientTLS: readyTLS,
		OnHandler: super.SetAPIServer,
		// Pods reach the API through the kubernetes Service, at the
		// supervisor's port on this server's address.
		PublicPort: cfg.HTTPSPort,
	}

	identity, err := nodeName(cfg)
	if err != nil {
		return nil, nil, err
	}
	addonParts, addonsApplied, err := addonParts(cfg, v, p, addonDeps{client: client, certs: c, ca: ca, advertise: advertise,
		tunnels: tunnels, leaderElect: store.LeaderElect(), identity: identity})
	if err != nil {
		return nil, nil, err
	}

	parts = []component.Component{
		store,
		super,
		api,
		// The apiserver reaches kubelets through it (directly, or through
		// the tunnel a node behind NAT opened) from its first egress dial,
		// which comes after it started. Started after the apiserver, it
		// stops first: its Node watch must not hold up the apiserver's
		// shutdown.
		tunnels,
		&control.Scheduler{Args: schedArgs},
		cm,
		// The user's kubeconfig appears as soon as the API serves.
		&adminKubeconfig{cfg: cfg, mode: v.kubeconfigMode, certs: c},
		&nodeRBAC{supervisor: filepath.Join(p.cred, "supervisor.kubeconfig")},
		// Scheduled snapshots, and the ConfigMap listing this node's.
		scheduledSnapshots(cfg, client, identity),
	}
	if member != nil {
		// A deleted server's Node takes its etcd member out of the cluster.
		parts = append(parts, &etcd.Reaper{Client: client, Etcd: member})
	}
	// The addons: the deploy controller applies the manifests folder, and
	// the addons that run in this process follow the API.
	return append(parts, addonParts...), addonsApplied, nil
}

// ensureWritable creates the data dir and proves it can be written, with a
// clear line when it cannot.
func ensureWritable(dataDir, serverDir string) error {
	if err := os.MkdirAll(serverDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s is not writable: %w; choose another with --data-dir", dataDir, err)
	}
	probe, err := os.CreateTemp(serverDir, ".probe-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w; choose another with --data-dir", dataDir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

func checkPortsFree(cfg Config, v validated) error {
	type check struct {
		host string
		port int
		flag string
	}
	checks := []check{
		{bindHost(cfg), cfg.HTTPSPort, "--https-listen-port"},
		{"127.0.0.1", cfg.apiserverPort(), "--https-listen-port (the apiserver uses the port after it)"},
	}
	if !v.disabled.Has(addons.MetricsServer) {
		checks = append(checks, check{bindHost(cfg), cfg.metricsPort(), "--https-listen-port (the metrics API uses the port two after it), or --disable metrics-server"})
	}
	for _, check := range checks {
		l, err := net.Listen("tcp", net.JoinHostPort(check.host, strconv.Itoa(check.port)))
		if err != nil {
			return fmt.Errorf("port %d on %s is already in use (%v); stop what is using it or choose another with %s",
				check.port, check.host, err, check.flag)
		}
		l.Close()
	}
	return nil
}

func bindHost(cfg Config) string {
	if cfg.BindAddress == "" {
		return "0.0.0.0"
	}
	return cfg.BindAddress
}

func clientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", filepath.Base(certFile), err)
	}
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
