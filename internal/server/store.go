package server

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/skiff-k8s/skiff/internal/component"
	"github.com/skiff-k8s/skiff/internal/datastore"
	"github.com/skiff-k8s/skiff/internal/etcd"
)

// storePart is the cluster's store, the first part of the server: kine
// (SQLite or an external database) or this server's embedded etcd member.
type storePart interface {
	component.Component
	EtcdServers() string
	EtcdTLS() datastore.TLSFiles
	LeaderElect() bool
}

func etcdDataDir(p paths) string { return filepath.Join(p.server, "db", "etcd") }
func etcdTLSDir(p paths) string  { return filepath.Join(p.tls, "etcd") }

// usesEtcd tells whether this server runs embedded etcd: asked with
// --cluster-init, joining a cluster that runs it, or holding a member's
// data already (a restart needs neither flag, as in k3s).
func usesEtcd(cfg Config, p paths) bool {
	return cfg.DatastoreEndpoint == "" && (cfg.ClusterInit || cfg.etcdJoin != nil || etcd.HasData(etcdDataDir(p)))
}

// embeddedEtcd is this server's etcd member, or nil when it uses kine.
func embeddedEtcd(cfg Config, p paths, advertise net.IP) (*etcd.Etcd, error) {
	if !usesEtcd(cfg, p) {
		return nil, nil
	}
	name, err := nodeName(cfg)
	if err != nil {
		return nil, err
	}
	e := &etcd.Etcd{
		DataDir:    etcdDataDir(p),
		TLSDir:     etcdTLSDir(p),
		MemberName: name,
		NodeIP:     peerIP(cfg, advertise),
	}
	if cfg.etcdJoin != nil {
		e.Join, e.JoinURL = cfg.etcdJoin, cfg.ServerURL
	}
	if _, err := os.Stat(p.db); err == nil && cfg.ClusterInit && !etcd.HasData(e.DataDir) {
		// A SQLite server turned into the first etcd member keeps its state.
		e.MigrateFrom = p.db
	}
	return e, nil
}

// peerIP is where the other members reach this one: the node address.
func peerIP(cfg Config, advertise net.IP) net.IP {
	if ip := net.ParseIP(cfg.NodeIP); ip != nil {
		return ip
	}
	return advertise
}

// checkEtcd refuses, before anything is written, what cannot work with
// embedded etcd: its ports in use, and --cluster-init on a member that
// joined another server's cluster.
func checkEtcd(cfg Config, p paths) error {
	if usesEtcd(cfg, p) {
		if err := checkEtcdPorts(); err != nil {
			return err
		}
	}
	if !cfg.ClusterInit {
		return nil
	}
	if from := etcd.JoinedFrom(etcdDataDir(p)); from != "" {
		return fmt.Errorf("--cluster-init: %s is already a member of the cluster joined at %s; start it with --server %s (or with neither flag) to rejoin as the same member", cfg.DataDir, from, from)
	}
	return nil
}

// checkEtcdPorts checks etcd's ports before anything is written, like
// checkPortsFree: the client port on loopback, the peer port on every
// address (the node address is not known yet when it runs).
func checkEtcdPorts() error {
	for _, c := range []struct {
		host string
		port int
	}{{"127.0.0.1", etcd.ClientPort}, {"0.0.0.0", etcd.PeerPort}} {
		l, err := net.Listen("tcp", net.JoinHostPort(c.host, fmt.Sprint(c.port)))
		if err != nil {
			return fmt.Errorf("port %d on %s, which embedded etcd needs, is already in use (%v); stop what is using it (another etcd?)", c.port, c.host, err)
		}
		l.Close()
	}
	return nil
}
