// Package servicelb serves Services of type LoadBalancer on the nodes'
// own addresses, in the skiff server's process: no pod, no image.
//
// The Controller sets a Service's status.loadBalancer.ingress to the IPs of
// the nodes that may serve it, and kube-proxy, which runs on every node,
// does the rest. k3s's ServiceLB gets the same result with a DaemonSet of
// klipper-lb pods that DNAT hostPorts; here the status alone is enough.
//
// # What kube-proxy does with the status (verified in k8s.io/kubernetes v1.37.2)
//
//   - pkg/proxy/serviceport.go (newBaseServiceInfo) takes every
//     status.loadBalancer.ingress[].ip whose ipMode is VIP, or unset
//     (pkg/proxy/util IsVIPMode: nil counts as VIP), and of the service
//     port's IP family, as a load balancer VIP. An ingress with ipMode Proxy
//     is skipped: it would publish the IP and serve nothing. The apiserver
//     defaults an unset ipMode to VIP (pkg/apis/core/v1 SetDefaults_Service),
//     so the controller writes VIP explicitly and compares like with like.
//     ingress[].ports is not read by kube-proxy.
//   - pkg/proxy/iptables/proxier.go, "Capture load-balancer ingress": for each
//     VIP, while the Service has endpoints, a rule in the nat chain
//     KUBE-SERVICES matches -p <protocol> -d <VIP> --dport <service port> and
//     jumps to the Service's external chain KUBE-EXT-… (or its firewall chain
//     KUBE-FW-… when loadBalancerSourceRanges is set), which masquerades
//     (externalTrafficPolicy Cluster) and DNATs to an endpoint. These rules
//     come before the "kubernetes service nodeports" jump, which the code
//     keeps last in the chain.
//   - KUBE-SERVICES is jumped to from nat PREROUTING and nat OUTPUT
//     (iptablesJumpChains), so the rule catches traffic that arrives at the
//     node's address from outside and traffic the node sends to itself, for
//     TCP, UDP and SCTP alike (the protocol is the Service port's).
//   - A Service without endpoints gets a REJECT in the filter chain
//     KUBE-EXTERNAL-SERVICES instead (INPUT/FORWARD): clients are refused,
//     not left hanging. With externalTrafficPolicy Local, a node without a
//     local endpoint DROPs external traffic to the VIP (but still serves the
//     node's own and its pods' traffic through the cluster chain), which is
//     why such a Service lists only the nodes that have one.
//   - Every node programs every Service's VIPs, so the rule for node A's IP
//     also exists on node B; it only matters where packets to A's IP arrive,
//     which is A.
//
// The apiserver clears status.loadBalancer itself when a Service's type
// changes away from LoadBalancer (pkg/registry/core/service/strategy.go,
// dropTypeDependentFields), so the controller only has to free its ports.
// It watches Services with the field selector spec.type=LoadBalancer (a
// selectable field of Services), so such a change reaches it as a delete.
//
// # Decisions
//
//   - Which nodes. Every node, or, once any node carries the label
//     svccontroller.skiff.io/enablelb, only the nodes where it is "true"
//     (k3s's rule, with skiff's domain). A node also needs its Ready
//     condition True: k3s lists the nodes where its svclb pod is Ready,
//     which stops being so when the node is lost; a lost node's IP would
//     only black-hole the clients that pick it. Nodes labelled
//     node.kubernetes.io/exclude-from-external-load-balancers are left out,
//     as upstream's service controller does. Taints do not matter: kube-proxy
//     runs on every node whatever its taints.
//   - Which address. Per node and per IP family of the Service, its
//     ExternalIP addresses if it has any, else its InternalIP addresses,
//     sorted. (k3s uses ExternalIPs for all nodes as soon as one node has
//     any.) kube-proxy matches the destination address exactly, so an
//     ExternalIP must be an address the node really has; a 1:1 NAT address
//     that the node never sees would be listed and not served. skiff sets no
//     ExternalIP today (the kubelet reports the --node-ip as InternalIP).
//   - externalTrafficPolicy Local lists only the eligible nodes with a ready
//     endpoint of the Service (EndpointSlices' nodeName; an endpoint whose
//     ready condition is unset counts as ready, as the API says).
//   - loadBalancerClass. A Service with no class or with ClassName is
//     skiff's; any other class belongs to another controller (MetalLB,
//     kube-vip) and is never touched, nor does it take part in the port
//     accounting (it gets its own addresses).
//   - Ports. kube-proxy would happily program two Services on the same
//     node IP and port, and the first rule would win silently; so each
//     (protocol, port) belongs to one LoadBalancer Service on every node at
//     most. A Service gets all its ports or none: one taken port leaves it
//     without ingress (<pending>), with a Warning Event PortInUse that names
//     the holder. Priority: a Service whose status already lists all its
//     ports (ingress[].ports, which the controller writes for this reason),
//     then one that lists some of them, then the rest; within each, the
//     oldest creationTimestamp, then namespace/name. The status record is
//     what lets a Service keep its port when an older Service changes its
//     own port to the same one, and it survives restarts and is seen alike
//     by every server. A Service that is admitted but has no node to serve
//     it (no Ready node, or externalTrafficPolicy Local without a ready
//     endpoint) has no ingress and so no record: if an older Service waits
//     for the same port meanwhile, that one gets it.
//   - Ports that skiff itself serves on the nodes' addresses (Config
//     ReservedPorts: the supervisor's port, the kubelet's, VXLAN) are never
//     given out: a DNAT there would cut the node off.
//   - A Service that is deleted, changes type, or changes its ports frees
//     what it held, and the next Service waiting for it is admitted in the
//     same pass.
//   - One pass decides for all Services at once from the informers' caches
//     (the port accounting needs them all), behind a single work-queue key:
//     bursts of changes collapse into one pass, and a failed pass is retried
//     with the queue's backoff. The decisions are pure functions of the
//     caches (decide.go), so two servers running the controller against
//     one datastore compute the same statuses; status is written with the
//     resourceVersion it was computed from, so a server with a stale cache
//     gets a conflict and retries instead of overwriting, and nothing is
//     written when nothing changes. There is no leader election.
//   - Events (component "servicelb"): Normal UpdatedLoadBalancer when the
//     IPs change (k3s's reason), Warning PortInUse for a clash and Warning
//     UnavailableLoadBalancer when no node can serve the Service; a warning
//     is sent once per Service and message, not at every pass.
//   - Memory: the informers keep trimmed copies, only the fields decided on
//     (transform.go); EndpointSlices shrink to the names of the nodes with a
//     ready endpoint.
//
// # Limits
//
//   - A port is checked against other LoadBalancer Services and
//     ReservedPorts only: a host program listening on the nodes' addresses
//     (sshd on 22) is not seen, and a Service on its port takes that
//     traffic, as with k3s's hostPorts. Neither are other Services'
//     NodePorts: a LoadBalancer port equal to one shadows that NodePort on
//     the node IPs (the LoadBalancer rule comes first in KUBE-SERVICES).
//   - k3s's per-Service node pools (svccontroller.k3s.cattle.io/lbpool) are
//     not offered: with pools one port could belong to several Services on
//     disjoint nodes, and the accounting would follow node sets that change.
//   - loadBalancerSourceRanges works, done by kube-proxy (KUBE-FW chains).
//
// With --disable servicelb the controller does not run; ClearStatus (or the
// Cleanup part) removes the ingress an earlier start had set, so that the
// Services do not keep advertising addresses nobody serves.
package servicelb
