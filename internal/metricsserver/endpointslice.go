package metricsserver

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// slicePrefix starts the name of every server's EndpointSlice.
const slicePrefix = ServiceName + "-"

// maxNameLength is the longest object name the API takes (a DNS
// subdomain).
const maxNameLength = 253

// sliceName is the name of the EndpointSlice of the server known as
// identity: metrics-server-<identity>, made a valid object name (lower
// case; characters other than letters, digits, '-' and '.' become '-'). A
// name too long keeps a hash of the whole, so that two long identities
// never share a slice.
func sliceName(identity string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		default:
			return '-'
		}
	}, identity)
	clean = strings.Trim(clean, "-.")
	if clean == "" {
		clean = "server"
	}
	name := slicePrefix + clean
	if len(name) <= maxNameLength {
		return name
	}
	sum := sha256.Sum256([]byte(identity))
	hash := hex.EncodeToString(sum[:4])
	return strings.TrimRight(name[:maxNameLength-len(hash)-1], "-.") + "-" + hash
}

// desiredSlice is the EndpointSlice that sends the Service's https port
// to this server: one endpoint, its advertised address, at its port, owned
// by the Service so that the garbage collector removes it with the Service
// (--disable metrics-server removes the Service).
func desiredSlice(name string, svc *corev1.Service, ip net.IP, port int32) *discoveryv1.EndpointSlice {
	addressType := discoveryv1.AddressTypeIPv4
	if ip.To4() == nil {
		addressType = discoveryv1.AddressTypeIPv6
	}
	yes, no := true, false
	portName, protocol, appProtocol := PortName, corev1.ProtocolTCP, "https"
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: svc.Namespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc.Name,
				discoveryv1.LabelManagedBy:   ManagedBy,
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1",
				Kind:       "Service",
				Name:       svc.Name,
				UID:        svc.UID,
			}},
		},
		AddressType: addressType,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: &no},
		}},
		Ports: []discoveryv1.EndpointPort{{
			Name:        &portName,
			Protocol:    &protocol,
			Port:        &port,
			AppProtocol: &appProtocol,
		}},
	}
}

// sliceUpToDate reports whether have already says what want says. Labels
// and owners others added are left alone.
func sliceUpToDate(have, want *discoveryv1.EndpointSlice) bool {
	for k, v := range want.Labels {
		if have.Labels[k] != v {
			return false
		}
	}
	return have.AddressType == want.AddressType &&
		hasOwners(have.OwnerReferences, want.OwnerReferences) &&
		apiequality.Semantic.DeepEqual(have.Endpoints, want.Endpoints) &&
		apiequality.Semantic.DeepEqual(have.Ports, want.Ports)
}

// hasOwners reports whether every owner of want is in have, by UID.
func hasOwners(have, want []metav1.OwnerReference) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h.UID == w.UID && h.Kind == w.Kind && h.Name == w.Name && h.APIVersion == w.APIVersion {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// updatedSlice is have changed to say what want says, keeping what others
// added: their labels, and owners other than a Service of ours (a Service
// of the same name but another UID is one that was deleted, whose garbage
// collection would otherwise take the slice along). The address type
// cannot change in place: see mustReplace.
func updatedSlice(have, want *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	out := have.DeepCopy()
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	for k, v := range want.Labels {
		out.Labels[k] = v
	}
	var owners []metav1.OwnerReference
	for _, o := range out.OwnerReferences {
		if o.APIVersion == "v1" && o.Kind == "Service" && o.Name == ServiceName {
			continue
		}
		owners = append(owners, o)
	}
	out.OwnerReferences = append(owners, want.OwnerReferences...)
	out.Endpoints = want.Endpoints
	out.Ports = want.Ports
	return out
}

// mustReplace reports whether have must be deleted and created anew to
// become want: an EndpointSlice's address type is immutable, and changes
// when the advertised address moves between IPv4 and IPv6.
func mustReplace(have, want *discoveryv1.EndpointSlice) bool {
	return have.AddressType != want.AddressType
}
