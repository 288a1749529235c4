package datastore

import (
	"math"

	"go.etcd.io/etcd/server/v3/embed"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// kineRecvOverhead is what kine allows above etcd's largest request for
// the gRPC framing around it.
const kineRecvOverhead = 512 * 1024

// newGRPCServer is the server kine serves the etcd API on: kine's own
// options (etcd's keepalive and message limits), and one write buffer
// pool for all connections. The apiserver opens a connection for each
// resource it stores, about 70, and without the pool each keeps a 32 KiB
// write buffer for its whole life though it writes only now and then.
func newGRPCServer() *grpc.Server {
	return grpc.NewServer(
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: embed.DefaultGRPCKeepAliveMinTime,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    embed.DefaultGRPCKeepAliveInterval,
			Timeout: embed.DefaultGRPCKeepAliveTimeout,
		}),
		grpc.MaxConcurrentStreams(embed.DefaultMaxConcurrentStreams),
		grpc.MaxRecvMsgSize(int(embed.DefaultMaxRequestBytes)+kineRecvOverhead),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.SharedWriteBuffer(true),
	)
}
