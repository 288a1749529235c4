package checkconfig

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

func listenTaken(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func TestServerPorts(t *testing.T) {
	taken := listenTaken(t)
	o := Options{HTTPSPort: taken, BindAddress: "127.0.0.1", MetricsServer: true}
	results := fakeHost(t, nil, o, true).run()
	expect(t, find(t, results, "port "+strconv.Itoa(taken)+" "), Missing,
		"port "+strconv.Itoa(taken)+" (skiff's https port) is in use on 127.0.0.1", "ss -ltnp 'sport = :"+strconv.Itoa(taken)+"'", "--https-listen-port")
	for _, p := range []int{taken + 1, taken + 2} {
		find(t, results, "port "+strconv.Itoa(p)+" ")
	}
	// Without the metrics API its port is not needed.
	o.MetricsServer = false
	none(t, fakeHost(t, nil, o, true).run(), "port "+strconv.Itoa(taken+2)+" ")
	// The server checks its own ports at start.
	if _, err := start(fakeHost(t, nil, o, false)); err != nil {
		t.Errorf("a start checked the server's ports: %v", err)
	}
}

// The kubelet exits the whole process when its port is taken, so a start
// checks it; the health and metrics endpoints only warn.
func TestNodePorts(t *testing.T) {
	taken := listenTaken(t)
	o := nodeOptions(t)
	o.KubeletArgs = append(o.KubeletArgs, "--port="+strconv.Itoa(taken))
	_, err := start(fakeHost(t, goodHost(), o, false))
	if err == nil || !strings.Contains(err.Error(), "the kubelet exits when it cannot listen") || !strings.Contains(err.Error(), "--kubelet-arg port=<port>") {
		t.Errorf("start error = %v", err)
	}

	o = nodeOptions(t)
	o.KubeProxyArgs = append(o.KubeProxyArgs, "healthz-bind-address=127.0.0.1:"+strconv.Itoa(taken))
	expect(t, find(t, fakeHost(t, goodHost(), o, true).run(), "port "+strconv.Itoa(taken)+" "), Warning,
		"(kube-proxy's healthz) is in use", "--kube-proxy-arg healthz-bind-address=<address:port>")

	o = nodeOptions(t)
	o.LBPort = taken
	expect(t, find(t, fakeHost(t, goodHost(), o, true).run(), "port "+strconv.Itoa(taken)+" "), Missing, "the agent's load balancer", "--lb-server-port")
}

func TestArgValue(t *testing.T) {
	args := []string{"port=1", "v=2", "--port=3", "healthz-port"}
	if got := argValue(args, "port", "10250"); got != "3" {
		t.Errorf("port = %q, want the last one", got)
	}
	if got := argPort(args, "healthz-port", 10248); got != 10248 {
		t.Errorf("healthz-port = %d, want the default for an item without a value", got)
	}
	if got := argPort([]string{"port=x"}, "port", 10250); got != 0 {
		t.Errorf("a port that is not a number = %d, want 0 (not checked)", got)
	}
}
