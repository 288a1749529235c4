package clusterdns

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// renderNodeHosts is the hosts file of the nodes: "<InternalIP> <name>"
// for each node's internal addresses (one, or one per IP family on a
// dual-stack node), sorted by node name. A node that has not reported an
// address yet is left out until it does.
func renderNodeHosts(nodes []*corev1.Node) string {
	nodes = slices.Clone(nodes)
	slices.SortFunc(nodes, func(a, b *corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	for _, n := range nodes {
		for _, ip := range internalIPs(n) {
			b.WriteString(ip + " " + n.Name + "\n")
		}
	}
	return b.String()
}

// internalIPs are a node's InternalIP addresses, in the order it reports
// them, without repeats.
func internalIPs(n *corev1.Node) []string {
	var ips []string
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && a.Address != "" && !slices.Contains(ips, a.Address) {
			ips = append(ips, a.Address)
		}
	}
	return ips
}

// configHash identifies what CoreDNS's volumes hold: the data of the
// coredns and coredns-custom ConfigMaps (nil when one does not exist),
// independent of map order. It is what the pods' annotation carries.
func configHash(coredns, custom *corev1.ConfigMap) string {
	h := sha256.New()
	for _, c := range []struct {
		name string
		cm   *corev1.ConfigMap
	}{{ConfigMapName, coredns}, {CustomConfigMapName, custom}} {
		h.Write([]byte(c.name + "\x00"))
		if c.cm == nil {
			h.Write([]byte("absent\x00"))
			continue
		}
		// Text and binary keys are written apart, so that moving a key
		// from one to the other is a change too.
		for _, k := range sortedKeys(c.cm.Data) {
			h.Write([]byte("data\x00" + k + "\x00" + c.cm.Data[k] + "\x00"))
		}
		for _, k := range sortedKeys(c.cm.BinaryData) {
			h.Write([]byte("binary\x00" + k + "\x00"))
			h.Write(c.cm.BinaryData[k])
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// needsNudge says whether pod must have its annotation set to hash, so that
// its kubelet rewrites its volumes: it runs on a node, is not going away,
// and does not carry hash yet. A pod that has just started gets it too,
// once: its volume may have been written a moment before the change, and
// one extra sync of a new pod costs less than telling that case apart.
func needsNudge(pod *corev1.Pod, hash string) bool {
	if pod.DeletionTimestamp != nil || pod.Spec.NodeName == "" {
		return false
	}
	return pod.Annotations[HashAnnotation] != hash
}
