package checkconfig

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
)

// listener is a TCP port skiff listens on.
type listener struct {
	host string
	port int
	// what listens, what is lost when it cannot, and how to move it.
	what, without, move string
	// required: skiff cannot run without it. The others are health and
	// metrics endpoints, which their components keep retrying.
	required bool
	// atStart: a start checks it. The server checks its own ports itself
	// (internal/server, checkPortsFree) and the agent's load balancer says
	// clearly when it cannot listen; the kubelet's is checked here, since
	// the kubelet exits the whole process when its port is taken.
	atStart bool
}

// listeners are the ports of what runs here, as internal/server,
// internal/kubelet and internal/proxy choose them.
func (h *host) listeners() []listener {
	var out []listener
	if h.HTTPSPort > 0 {
		bind := h.BindAddress
		if bind == "" {
			bind = "0.0.0.0"
		}
		out = append(out,
			listener{host: bind, port: h.HTTPSPort, what: "skiff's https port", without: "users and nodes cannot reach the server",
				move: "--https-listen-port", required: true},
			listener{host: "127.0.0.1", port: h.HTTPSPort + 1, what: "the apiserver", without: "the apiserver cannot start",
				move: "--https-listen-port (the apiserver uses the port after it)", required: true})
		if h.MetricsServer {
			out = append(out, listener{host: bind, port: h.HTTPSPort + 2, what: "the metrics API", without: "the metrics API cannot start",
				move: "--https-listen-port (the metrics API uses the port two after it), or --disable metrics-server", required: true})
		}
	}
	if h.LBPort > 0 {
		out = append(out, listener{host: "127.0.0.1", port: h.LBPort, what: "the agent's load balancer", without: "the node cannot reach its servers",
			move: "--lb-server-port", required: true})
	}
	if !h.Node {
		return out
	}
	out = append(out,
		listener{host: argValue(h.KubeletArgs, "address", "0.0.0.0"), port: argPort(h.KubeletArgs, "port", 10250),
			what: "the kubelet", without: "the kubelet exits when it cannot listen, and skiff with it",
			move: "--kubelet-arg port=<port>", required: true, atStart: true},
		listener{host: argValue(h.KubeletArgs, "healthz-bind-address", "127.0.0.1"), port: argPort(h.KubeletArgs, "healthz-port", 10248),
			what: "the kubelet's healthz", without: "the kubelet's /healthz will not answer", move: "--kubelet-arg healthz-port=<port>"})
	if h.KubeProxy {
		out = append(out,
			proxyListener(h.KubeProxyArgs, "healthz-bind-address", "127.0.0.1:10256", "kube-proxy's healthz", "kube-proxy's /healthz will not answer"),
			proxyListener(h.KubeProxyArgs, "metrics-bind-address", "127.0.0.1:10249", "kube-proxy's metrics", "kube-proxy's metrics will not be served"))
	}
	return out
}

// proxyListener is one of kube-proxy's endpoints, given as host:port.
func proxyListener(args []string, flag, def, what, without string) listener {
	host, port, err := net.SplitHostPort(argValue(args, flag, def))
	if net.ParseIP(host) == nil { // a CIDR, or unparsable: kube-proxy then listens on all addresses
		host = "0.0.0.0"
	}
	n, _ := strconv.Atoi(port)
	if err != nil {
		n = 0
	}
	return listener{host: host, port: n, what: what, without: without, move: "--kube-proxy-arg " + flag + "=<address:port>"}
}

// ports checks that each port is free by listening on it for a moment: the
// same call the component will make, so no guess about addresses, and a
// few microseconds.
func (h *host) ports() []Result {
	var out []Result
	for _, l := range h.listeners() {
		if (h.full || l.atStart) && l.port > 0 && l.port < 65536 {
			out = append(out, l.check())
		}
	}
	return out
}

func (l listener) check() Result {
	addr := net.JoinHostPort(l.host, strconv.Itoa(l.port))
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		return Result{Status: OK, Text: fmt.Sprintf("port %d (%s) is free on %s", l.port, l.what, l.host)}
	}
	st := Warning
	if l.required {
		st = Missing
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return Result{Status: st, Text: fmt.Sprintf("port %d (%s) is in use on %s; %s", l.port, l.what, l.host, l.without),
			Fix: fmt.Sprintf("stop what is using it (ss -ltnp 'sport = :%d'), or move %s with %s", l.port, l.what, l.move)}
	}
	return Result{Status: st, Text: fmt.Sprintf("port %d (%s): cannot listen on %s (%v); %s", l.port, l.what, l.host, err, l.without),
		Fix: "use an address of this host, or move " + l.what + " with " + l.move}
}

// argValue is the value the last name=value item of a --kubelet-arg or
// --kube-proxy-arg list gives name, as the component will see it; def when
// none does.
func argValue(args []string, name, def string) string {
	value := def
	for _, a := range args {
		if k, v, ok := strings.Cut(strings.TrimLeft(a, "-"), "="); ok && k == name {
			value = v
		}
	}
	return value
}

func argPort(args []string, name string, def int) int {
	n, err := strconv.Atoi(argValue(args, name, strconv.Itoa(def)))
	if err != nil {
		return 0 // the component refuses it, with its own message
	}
	return n
}
