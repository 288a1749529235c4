// Command members prints the etcd membership as this server's member sees
// it, as JSON: hacluster copies it into a server container and runs it
// there, since etcd's client port listens on loopback only. It is an
// etcdctl with skiff's certificate paths and nothing else.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const dir = "/var/lib/skiff/server/tls/etcd/"

// member is one line of the output; hacluster.Member reads it.
type member struct {
	Name    string   `json:"name"`
	ID      string   `json:"id"`
	Learner bool     `json:"learner"`
	Started bool     `json:"started"`
	Leader  bool     `json:"leader"`
	Peers   []string `json:"peers"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "members:", err)
		os.Exit(1)
	}
}

func run() error {
	pair, err := tls.LoadX509KeyPair(dir+"client.crt", dir+"client.key")
	if err != nil {
		return fmt.Errorf("loading the etcd client certificate: %w", err)
	}
	ca, err := os.ReadFile(dir + "server-ca.crt")
	if err != nil {
		return fmt.Errorf("reading the etcd CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return errors.New("no certificate in " + dir + "server-ca.crt")
	}
	const ep = "https://127.0.0.1:2379"
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool},
	})
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", ep, err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Linearizable: only a member of a cluster that has a leader answers,
	// so the list is the cluster's, not a stale view of a cut-off member.
	list, err := cli.MemberList(clientv3.WithRequireLeader(ctx))
	if err != nil {
		return fmt.Errorf("listing the members: %w", err)
	}
	st, err := cli.Status(ctx, ep)
	if err != nil {
		return fmt.Errorf("reading the member's status: %w", err)
	}
	var out []member
	for _, m := range list.Members {
		out = append(out, member{
			Name: m.Name, ID: fmt.Sprintf("%x", m.ID), Learner: m.IsLearner,
			Started: m.Name != "" && len(m.ClientURLs) > 0, Leader: m.ID == st.Leader, Peers: m.PeerURLs,
		})
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
