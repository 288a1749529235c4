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

// FreePortPair returns a port P such that P and P+1 are free on host ("" for
// every address) and were not handed to another test of this process. It
// picks below the usual ephemeral range so that outgoing connections are
// unlikely to grab them between now and the server's listen.
func FreePortPair(t *testing.T, host string) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 500 {
		p := 20000 + 2*rand.IntN(4900) // 20000..29798, even
		if portTaken[p] || portTaken[p+1] || !portFree(host, p) || !portFree(host, p+1) {
			continue
		}
		portTaken[p], portTaken[p+1] = true, true
		return p
	}
	where := host
	if where == "" {
		where = "every address"
	}
	t.Fatalf("no two free consecutive ports found on %s", where)
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
