package cli

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-k8s/skiff/internal/server"
	"github.com/skiff-k8s/skiff/internal/snapshot"
)

// serverFlags are named as in k3s wherever the concept is the same.
func serverFlags() []cli.Flag {
	return withEnv([]cli.Flag{
		configFlag(),
		&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Value: "/var/lib/skiff", Usage: "folder for state: database, certificates, token"},
		&cli.StringFlag{Name: "token", Aliases: []string{"t"}, Usage: "shared secret for joining nodes; generated at first start if empty"},
		&cli.StringFlag{Name: "agent-token", Usage: "a token that joins agents but not servers (default: the token joins both)"},
		&cli.StringFlag{Name: "server", Aliases: []string{"s"}, EnvVars: []string{"SKIFF_URL"}, Usage: "join the cluster of this server, https://<server>:6443 (needs the server token; as an etcd member when it runs embedded etcd, else with its --datastore-endpoint)"},
		&cli.StringFlag{Name: "flannel-backend", Value: "vxlan", Usage: "pod network across nodes: vxlan, host-gw, or none to bring your own CNI"},
		&cli.IntFlag{Name: "https-listen-port", Value: 6443, Usage: "the one port users and nodes talk to (the apiserver itself uses the next one, on loopback)"},
		&cli.StringFlag{Name: "bind-address", Usage: "address the https port listens on (default: all)"},
		&cli.StringFlag{Name: "advertise-address", Usage: "address other nodes and the kubernetes Service use to reach this server (default: the default route's interface)"},
		&cli.StringSliceFlag{Name: "tls-san", Usage: "extra host name or IP for the serving certificate (repeatable)"},
		&cli.StringFlag{Name: "cluster-cidr", Value: "10.42.0.0/16", Usage: "pod network"},
		&cli.StringFlag{Name: "service-cidr", Value: "10.43.0.0/16", Usage: "service network"},
		&cli.StringFlag{Name: "cluster-dns", Value: "10.43.0.10", Usage: "cluster DNS service IP"},
		&cli.StringFlag{Name: "cluster-domain", Value: "cluster.local", Usage: "cluster DNS domain"},
		&cli.StringFlag{Name: "datastore-endpoint", Usage: "etcd, mysql://, postgres:// or nats:// endpoint (default: SQLite in the data dir)"},
		&cli.BoolFlag{Name: "cluster-init", Usage: "start a cluster on embedded etcd, which other servers join with --server and the server token"},
		&cli.DurationFlag{Name: "datastore-timeout", Value: 30 * time.Second, Usage: "how long to wait for the datastore to answer at start"},
		&cli.StringFlag{Name: "datastore-cafile", Usage: "CA certificate that signed the datastore's serving certificate (TLS to PostgreSQL, MySQL or etcd)"},
		&cli.StringFlag{Name: "datastore-certfile", Usage: "client certificate to show the datastore (with --datastore-keyfile)"},
		&cli.StringFlag{Name: "datastore-keyfile", Usage: "key of --datastore-certfile"},
		&cli.StringFlag{Name: "write-kubeconfig", Aliases: []string{"o"}, Value: "/etc/skiff/skiff.yaml", Usage: "where to write the admin kubeconfig"},
		&cli.StringFlag{Name: "write-kubeconfig-mode", Value: "0600", Usage: "file mode of the admin kubeconfig"},
		&cli.BoolFlag{Name: "disable-agent", Usage: "run the control plane only, no node"},
		&cli.BoolFlag{Name: "disable-kube-proxy", Usage: "leave Service routing to something else"},
		&cli.StringSliceFlag{Name: "disable", Usage: "leave out a built-in addon: coredns, local-storage, servicelb, metrics-server, traefik, helm-controller (repeatable, or comma-separated); removes it if an earlier start deployed it"},
		&cli.StringFlag{Name: "default-local-storage-path", Usage: "folder on every node for local-path volumes (default: <data-dir>/storage on each node)"},
		&cli.StringSliceFlag{Name: "kube-apiserver-arg", Usage: "extra kube-apiserver flag as name=value (repeatable)"},
		&cli.StringSliceFlag{Name: "kube-scheduler-arg", Usage: "extra kube-scheduler flag as name=value (repeatable)"},
		&cli.StringSliceFlag{Name: "kube-controller-manager-arg", Usage: "extra kube-controller-manager flag as name=value (repeatable)"},
		&cli.StringFlag{Name: "etcd-snapshot-schedule-cron", Value: snapshot.DefaultSchedule, Usage: "when to take scheduled snapshots of the store (cron: minute hour day month weekday)"},
		&cli.IntFlag{Name: "etcd-snapshot-retention", Value: 5, Usage: "how many scheduled snapshots to keep"},
		&cli.StringFlag{Name: "etcd-snapshot-dir", Usage: "folder of the snapshots (default: <data-dir>/server/db/snapshots)"},
		&cli.BoolFlag{Name: "etcd-disable-snapshots", Usage: "take no scheduled snapshots"},
		&cli.BoolFlag{Name: "cluster-reset", Usage: "with --cluster-reset-restore-path: put a snapshot in place of the store, then exit"},
		&cli.StringFlag{Name: "cluster-reset-restore-path", Usage: "the snapshot --cluster-reset restores (a file, or a name 'skiff etcd-snapshot ls' shows)"},
	}, append(nodeFlags("the advertise address"), logFlags()...)...)
}

func serverCommand() *cli.Command {
	return roleCommand("server", "run a control plane (and, unless --disable-agent, a node)", serverFlags(),
		func(c *cli.Context) error {
			cfg := server.Config{
				DataDir:                    c.String("data-dir"),
				Token:                      c.String("token"),
				AgentToken:                 c.String("agent-token"),
				ServerURL:                  c.String("server"),
				FlannelBackend:             c.String("flannel-backend"),
				HTTPSPort:                  c.Int("https-listen-port"),
				BindAddress:                c.String("bind-address"),
				AdvertiseAddress:           c.String("advertise-address"),
				TLSSANs:                    c.StringSlice("tls-san"),
				ClusterCIDR:                c.String("cluster-cidr"),
				ServiceCIDR:                c.String("service-cidr"),
				ClusterDNS:                 c.String("cluster-dns"),
				ClusterDomain:              c.String("cluster-domain"),
				DatastoreEndpoint:          c.String("datastore-endpoint"),
				DatastoreTimeout:           c.Duration("datastore-timeout"),
				ClusterInit:                c.Bool("cluster-init"),
				DatastoreTLS:               datastoreTLS(c),
				WriteKubeconfig:            c.String("write-kubeconfig"),
				WriteKubeconfigMode:        c.String("write-kubeconfig-mode"),
				DisableAgent:               c.Bool("disable-agent"),
				NodeName:                   c.String("node-name"),
				NodeIP:                     c.String("node-ip"),
				NodeLabels:                 c.StringSlice("node-label"),
				NodeTaints:                 c.StringSlice("node-taint"),
				KubeletArgs:                c.StringSlice("kubelet-arg"),
				KubeProxyArgs:              c.StringSlice("kube-proxy-arg"),
				DisableKubeProxy:           c.Bool("disable-kube-proxy"),
				Disable:                    c.StringSlice("disable"),
				DefaultLocalStoragePath:    c.String("default-local-storage-path"),
				ResolvConf:                 c.String("resolv-conf"),
				PrivateRegistry:            c.String("private-registry"),
				ExtraAPIServerArgs:         c.StringSlice("kube-apiserver-arg"),
				ExtraSchedulerArgs:         c.StringSlice("kube-scheduler-arg"),
				ExtraControllerManagerArgs: c.StringSlice("kube-controller-manager-arg"),
				EtcdSnapshotScheduleCron:   c.String("etcd-snapshot-schedule-cron"),
				EtcdSnapshotRetention:      c.Int("etcd-snapshot-retention"),
				EtcdSnapshotDir:            c.String("etcd-snapshot-dir"),
				EtcdDisableSnapshots:       c.Bool("etcd-disable-snapshots"),
				ClusterReset:               c.Bool("cluster-reset"),
				ClusterResetRestorePath:    c.String("cluster-reset-restore-path"),
			}
			ctx, stop := signalContext()
			defer stop()
			return server.Run(ctx, cfg)
		})
}
