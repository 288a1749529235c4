package harness

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

var (
	portMu    sync.Mutex
	portTaken = map[int]bool{}
)

// ServerPorts is how many consecutive ports a server uses from its
// --https-listen-port: the supervisor's, the apiserver's (loopback) and
// the metrics API's.
const ServerPorts = 3

// FreeServerPorts returns a port P such that P..P+ServerPorts-1 are free
// on host ("" for every address) and were not handed to another test of
// this process. It picks below the usual ephemeral range so that outgoing
// connections are unlikely to grab them between now and the server's
// listen.
func FreeServerPorts(t *testing.T, host string) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
next:
	for range 500 {
		p := 20000 + ServerPorts*rand.IntN(9999/ServerPorts)
		for i := range ServerPorts {
			if portTaken[p+i] || !portFree(host, p+i) {
				continue next
			}
		}
		for i := range ServerPorts {
			portTaken[p+i] = true
		}
		return p
	}
	where := host
	if where == "" {
		where = "every address"
	}
	t.Fatalf("no %d free consecutive ports found on %s", ServerPorts, where)
	return 0
}

func portFree(host string, p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
