package benchutil

import (
	"errors"
	"net"
	"strconv"
)

// FreeServerPorts finds P such that P, P+1 and P+2 are free on 127.0.0.1:
// a server uses its --https-listen-port and the two after it.
func FreeServerPorts() (int, error) {
next:
	for range 100 {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := a.Addr().(*net.TCPAddr).Port
		a.Close()
		if p >= 65533 {
			continue
		}
		for i := 1; i <= 2; i++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+i)))
			if err != nil {
				continue next
			}
			l.Close()
		}
		return p, nil
	}
	return 0, errors.New("no three consecutive free ports on 127.0.0.1")
}
