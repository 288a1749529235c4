// Package localstorage is local storage for PersistentVolumeClaims, the
// job local-path-provisioner does for k3s, done inside skiff: no
// provisioner pod, no helper pods, no image. It serves StorageClasses
// whose provisioner is rancher.io/local-path (the local-storage addon's
// default class local-path, internal/addons/manifests/local-storage.yaml),
// so manifests written for k3s work unchanged.
//
// # Where it runs
//
// A Provisioner runs on every node, in the skiff process that runs the
// node's kubelet (an agent, or a server with its node), with the node's
// own credentials, and provisions only the claims the scheduler placed on
// that node: each node makes and removes its own directories, with no
// remote helper. It follows every claim, this node's volumes (label
// skiff.io/local-storage-node=<node>, selected on the server so each node
// caches only its own) and the StorageClasses; one worker handles what
// changed, with growing delays between retries.
//
// # Provisioning
//
// The class must use volumeBindingMode WaitForFirstConsumer: the scheduler
// chooses the pod's node and records it in the claim's annotation
// volume.kubernetes.io/selected-node; the PV controller then hands the
// claim to the class's provisioner (annotation
// volume.kubernetes.io/storage-provisioner, or its beta key) — which it
// does only when no existing volume fits. When both name this node and
// rancher.io/local-path, the node
//
//  1. makes <Path>/pvc-<claim uid>_<namespace>_<claim name> with mode 0777
//     whatever the umask (a pod may run as any user, and the kubelet
//     applies no fsGroup to hostPath volumes), then
//  2. creates the PersistentVolume pvc-<claim uid>: hostPath (type
//     DirectoryOrCreate) at that directory, required node affinity
//     kubernetes.io/hostname In [<node>] (the kubelet sets that label to its
//     --hostname-override lower-cased, which skiff sets to the node name),
//     the claim's size and access modes, the class's name and reclaim
//     policy, a claimRef to the claim (namespace, name, uid) and the
//     annotation pv.kubernetes.io/provisioned-by: rancher.io/local-path,
//     which tells the PV controller that deleting it is ours to do.
//
// The PV controller binds the two. Each step tolerates having been done:
// an existing directory is kept, an existing volume means done. A claim
// local-path cannot serve stays Pending with a Warning Event
// ProvisioningFailed that says why and what to use instead: access modes
// other than ReadWriteOnce and ReadWriteOncePod (a directory lives on one
// node), a selector, a data source, volumeMode Block. Such a claim is
// reported once, not at each of its updates. A class with Immediate
// binding gets no volume: no node is chosen, so no node acts.
//
// # Removal
//
// When one of this node's volumes is Released (its claim deleted) and its
// reclaim policy is Delete, the node removes the directory and everything
// in it, then the PersistentVolume. The path comes from an object that
// anyone allowed to edit volumes could change, so it is checked first: it
// must be a direct child of Path, named for the volume (pvc-<uid>_...),
// and not Path itself; otherwise both stay and a Warning Event
// VolumeFailedDelete says why. os.RemoveAll follows no symlink. With
// Retain both stay. A volume deleted by hand before it was released loses
// its directory too when its policy is Delete (unless it was still bound);
// a claim deleted before its volume could be created leaves at most an
// empty directory, which is removed.
//
// # Rights: the Node authorizer and NodeRestriction
//
// The node's credentials (system:node:<name>, group system:nodes) go
// through the apiserver's Node,RBAC authorizers and the NodeRestriction
// admission plugin. Read in Kubernetes v1.37.2:
//
//   - The Node authorizer (plugin/pkg/auth/authorizer/node) subdivides
//     persistentvolumeclaims and persistentvolumes: it allows only "get" of
//     a claim or volume of a pod bound to the node, and answers NoOpinion —
//     not Deny — to everything else (list, watch, create, delete). Its
//     static node rules allow events create/update/patch and nothing on
//     storageclasses. So RBAC decides the rest: the local-storage addon
//     binds the ClusterRole skiff:local-storage to the group system:nodes
//     (claims get/list/watch; volumes get/list/watch/create/delete;
//     storageclasses get/list/watch; events create/patch).
//   - NodeRestriction (plugin/pkg/admission/noderestriction) forbids a
//     node every write to persistentvolumeclaims except an update of their
//     status; it does not look at persistentvolumes, storageclasses or
//     events. The provisioner never writes a claim (so, unlike
//     local-path-provisioner, it cannot ask the scheduler for another node
//     by removing selected-node: a claim it refuses stays Pending), and
//     creating and deleting volumes passes.
//
// The price: any node may create or delete any PersistentVolume, not only
// its own (local-path-provisioner's service account has the same rights,
// in one pod). A ValidatingAdmissionPolicy matching group system:nodes
// could confine each node to volumes labelled with its name.
//
// Until the addon's RBAC is applied (a moment after a fresh server
// starts), or for good with --disable local-storage, every list is
// forbidden: the provisioner says so once in the log, becomes Ready so as
// not to hold up the node, and its informers keep trying.
package localstorage
