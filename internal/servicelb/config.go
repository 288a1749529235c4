package servicelb

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	// ClassName is skiff's loadBalancerClass. A Service with this class, or
	// with none, is served by the Controller; any other class is left to
	// the controller that owns it.
	ClassName = "skiff.io/servicelb"

	// EnableLBLabel on a node restricts ServiceLB to the nodes where it is
	// "true", once any node carries it (k3s's
	// svccontroller.k3s.cattle.io/enablelb, in skiff's domain).
	EnableLBLabel = "svccontroller.skiff.io/enablelb"

	// FieldManager names the controller's writes in managedFields. It is
	// not "skiff" (the deploy controller's server-side apply manager), so
	// that applying a manifest never touches what this controller owns.
	FieldManager = "skiff-servicelb"

	// eventSource is the component named as the source of the
	// controller's Events.
	eventSource = "servicelb"
)

// Event reasons, for users who grep for them (kubectl get events).
const (
	ReasonPortInUse   = "PortInUse"
	ReasonUnavailable = "UnavailableLoadBalancer"
	ReasonUpdated     = "UpdatedLoadBalancer"
)

// Config configures the Controller.
type Config struct {
	// Client reads Services, Nodes and EndpointSlices and writes Services'
	// status and Events. On a server it is the supervisor's client (full
	// rights on the loopback apiserver). Required.
	Client kubernetes.Interface
	// ReservedPorts are ports skiff itself serves on the nodes' addresses:
	// a LoadBalancer Service on one of them would DNAT that traffic away
	// and cut the node off (the supervisor's --https-listen-port and the
	// kubelet's 10250 on TCP, the VXLAN overlay's 8472 on UDP). A Service
	// asking for one stays pending with an Event naming What. Nil reserves
	// nothing, which only tests should want.
	ReservedPorts []Port
}

// Port is one port on the nodes' addresses.
type Port struct {
	// Protocol is TCP, UDP or SCTP; empty means TCP, as in a Service.
	Protocol corev1.Protocol
	// Port is the port number, 1-65535.
	Port int32
	// What says which part of skiff uses it, for the Event of a Service
	// that asks for it: "the supervisor's HTTPS port". Empty: the Event
	// says only that skiff uses it.
	What string
}

// validate checks cfg and returns its reserved ports keyed by (protocol,
// port).
func (cfg Config) validate() (map[portKey]string, error) {
	if cfg.Client == nil {
		return nil, errors.New("servicelb: no Kubernetes client; pass the supervisor's client in Config.Client")
	}
	reserved := map[portKey]string{}
	for _, p := range cfg.ReservedPorts {
		k := portKey{Protocol: protocolOf(p.Protocol), Port: p.Port}
		switch k.Protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			return nil, fmt.Errorf("servicelb: reserved port %d: protocol %q is not TCP, UDP or SCTP", p.Port, p.Protocol)
		}
		if p.Port < 1 || p.Port > 65535 {
			return nil, fmt.Errorf("servicelb: reserved port %d/%s (%s) is out of range 1-65535", p.Port, k.Protocol, p.What)
		}
		if _, dup := reserved[k]; dup && reserved[k] != "" {
			continue // the first description wins
		}
		reserved[k] = p.What
	}
	return reserved, nil
}
