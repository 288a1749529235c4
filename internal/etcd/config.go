package etcd

import (
	"fmt"
	"net"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"google.golang.org/grpc"
)

// Fixed addresses: clients on loopback only (each server's apiserver talks
// to its own member), peers on the node address. Other servers' tools
// rely on these, as k3s users do on the same numbers.
const (
	ClientURL  = "https://127.0.0.1:2379"
	ClientPort = 2379
	PeerPort   = 2380
)

// Tuning for small boxes. The timeouts are etcd's defaults doubled: a
// 2-core box running three servers' control planes misses 100 ms
// heartbeats under load and then holds needless elections, while a
// 2 s election still hands over well within the 5 s that a lost leader
// may cost. The apiserver compacts every 5 minutes itself; etcd's own
// periodic compaction keeps the bound when it cannot (a store used by
// tools alone). The quota is etcd's default, stated: a box that fills
// 2 GiB has a runaway controller, and the alarm says so.
const (
	heartbeat        = 200 * time.Millisecond
	electionTimeout  = 2 * time.Second
	compactRetention = "5m"
	quotaBytes       = 2 << 30
	snapshotCount    = 10000
	clusterToken     = "skiff"
)

// ports are the member's client and peer ports: ClientPort and PeerPort,
// other ones only in this package's tests, which run several members on
// one host beside a server that may hold the real ones.
type ports struct{ client, peer int }

func (e *Etcd) ports() ports {
	if e.testPorts != (ports{}) {
		return e.testPorts
	}
	return ports{ClientPort, PeerPort}
}

func (e *Etcd) clientURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d", e.ports().client)
}

// PeerURL is where the other members reach this one.
func (e *Etcd) PeerURL() string { return e.peerURL() }

func (e *Etcd) peerURL() string {
	return "https://" + net.JoinHostPort(e.NodeIP.String(), fmt.Sprint(e.ports().peer))
}

// embedConfig is the member's etcd configuration; initial and state are
// the initial cluster ("name=peerURL,...") and "new" or "existing".
func (e *Etcd) embedConfig(initial, state string) (*embed.Config, error) {
	client, err := url.Parse(e.clientURL())
	if err != nil {
		return nil, err
	}
	peer, err := url.Parse(e.peerURL())
	if err != nil {
		return nil, err
	}
	f := e.files()
	c := embed.NewConfig()
	c.Name = e.MemberName
	c.Dir = e.DataDir
	c.ListenClientUrls, c.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	c.ListenPeerUrls, c.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	c.InitialCluster = initial
	c.ClusterState = state
	c.InitialClusterToken = clusterToken
	c.ForceNewCluster = e.ForceNewCluster
	c.ClientTLSInfo.CertFile, c.ClientTLSInfo.KeyFile = f.ServerCert, f.ServerKey
	c.ClientTLSInfo.TrustedCAFile, c.ClientTLSInfo.ClientCertAuth = f.CA, true
	c.PeerTLSInfo.CertFile, c.PeerTLSInfo.KeyFile = f.PeerCert, f.PeerKey
	c.PeerTLSInfo.TrustedCAFile, c.PeerTLSInfo.ClientCertAuth = f.CA, true
	c.TickMs = uint(heartbeat / time.Millisecond)
	c.ElectionMs = uint(electionTimeout / time.Millisecond)
	c.AutoCompactionMode = embed.CompactorModePeriodic
	c.AutoCompactionRetention = compactRetention
	c.QuotaBackendBytes = quotaBytes
	c.SnapshotCount = snapshotCount
	c.Logger = "zap"
	c.LogLevel = "info"
	c.ZapLoggerBuilder = embed.NewZapLoggerBuilder(klogLogger())
	// One write buffer pool for all connections (the apiserver opens one
	// per resource it stores, about 70), as kine's server does, and no
	// JSON gateway, which nothing here uses.
	c.GRPCAdditionalServerOptions = []grpc.ServerOption{grpc.SharedWriteBuffer(true)}
	c.EnableGRPCGateway = false
	// No metrics listener of its own: the members' health is in
	// `skiff`'s log and the apiserver's /readyz (etcd check).
	c.ListenMetricsUrls = nil
	return c, nil
}
