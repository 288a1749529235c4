// Package clusterdns is the server's helper for cluster DNS (the coredns
// addon, internal/addons/manifests/coredns.yaml). It does two jobs that
// CoreDNS cannot do for itself:
//
//   - NodeHosts. The key NodeHosts of the ConfigMap kube-system/coredns
//     holds an "<InternalIP> <node name>" line for every node, sorted by
//     name, so that pods reach nodes by name (CoreDNS's hosts plugin serves
//     the file, as in k3s). It is rewritten when a node comes, goes or
//     changes address, and only when its text changes. The deploy
//     controller server-side-applies that ConfigMap (field manager "skiff")
//     without the key; this part writes the key alone with a merge patch
//     under its own field manager, "skiff-nodehosts". Server-side apply
//     removes only fields the applier itself owned and no longer sends, so
//     neither removes the other's field. It is a patch and not an apply of
//     its own because an apply creates a missing object: with the coredns
//     addon disabled or its file removed, a patch finds nothing and leaves
//     nothing behind.
//
//   - Prompt reloads. CoreDNS reads its Corefile, the files the Corefile
//     imports from the ConfigMap coredns-custom and NodeHosts from volumes;
//     its reload and hosts plugins notice a changed file within seconds.
//     But the kubelet rewrites a ConfigMap volume only when it syncs the
//     pod, which it does about once a minute (syncFrequency) plus jitter,
//     so an edit took up to ~90 s to reach CoreDNS. When either ConfigMap
//     changes, this part sets the annotation skiff.io/dns-config-hash (a
//     hash of both ConfigMaps' data) on each running CoreDNS pod (label
//     k8s-app=kube-dns) after a short settle time; the kubelet syncs a pod
//     whose annotations change, and that sync rewrites its volumes.
//
// What the kubelet does with such a patch, read in k8s.io/kubernetes
// v1.37.2 pkg/kubelet:
//
//   - config/config.go: podsDifferSemantically compares spec, labels,
//     deletion fields and annotations (isAnnotationMapEqual ignores only the
//     kubelet's own kubernetes.io/config.* keys), so a changed annotation is
//     an UPDATE, not a mere status reconcile.
//   - kubelet.go: HandlePodUpdates hands it to podWorkers.UpdatePod as a
//     SyncPodUpdate; the pod's worker runs SyncPod at once, which calls
//     volumeManager.WaitForAttachAndMount.
//   - volumemanager/volume_manager.go: WaitForAttachAndMount first calls
//     desiredStateOfWorldPopulator.ReprocessPod, which marks the pod
//     unprocessed; the populator's next pass (every 100 ms) calls
//     actualStateOfWorld.MarkRemountRequired, which flags every mounted
//     volume whose plugin RequiresRemount, and the configmap plugin does;
//     the reconciler then mounts the volume again, that is, calls the
//     configmap volume's SetUp.
//   - volume/configmap: SetUp reads the ConfigMap through the kubelet's
//     configMapManager, which by default (configMapAndSecretChangeDetection
//     Strategy Watch, util/manager/watch_based_manager.go) serves it from a
//     watch of that one object, so it is as fresh as the kubelet's watch;
//     MakePayload projects the keys and the AtomicWriter swaps the files in
//     (a new ..data link), which the running container sees at once.
//
// The annotation is set only after the change has settled for a second
// (settle): the pod update and the ConfigMap reach the kubelet on separate
// watches, and the volume written is whatever the kubelet's watch holds
// then. Were it still the old content, the next periodic sync would
// correct it. The annotation is a hash, not a time, so that setting it
// twice for one state is a no-op. A new pod is nudged once too, soon after
// it is scheduled: its volume may have been written just before a change
// (NodeHosts is written moments after the ConfigMap first appears, while
// CoreDNS's first pod starts), and one extra sync of a new pod costs less
// than telling that case apart.
//
// With the Corefile's `reload 5s`, an edit of coredns-custom is served
// about 1 s (settle) + under 1 s (the kubelet) + 3.75-6.25 s (reload's
// interval with its jitter) after it is made. An edit that does not parse
// is logged by CoreDNS ("Corefile parse failed" or "reload failed") and
// the running configuration stays; but a pod that starts with it fails,
// so fix or remove it.
package clusterdns
