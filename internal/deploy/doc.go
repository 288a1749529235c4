// Package deploy is skiff's deploy controller: it keeps the cluster in step
// with the manifests folder, <data-dir>/server/manifests, as k3s's does.
//
// Every *.yaml, *.yml and *.json file under the folder, at any depth, is
// applied when the controller starts and again whenever its content
// changes, with server-side apply (field manager "skiff", forced). Names
// starting with a dot — files and folders — are ignored, so editors' and
// fsutil.WriteFile's temporary files never count. The tree's stat is read
// every Interval (2 s) and only files whose stat changed are read and
// hashed; an idle controller costs a few stat calls.
//
// A file holds YAML documents separated by "---", or JSON values; a
// "kind: List" is expanded into its items. The objects of one pass, over
// every file it applies, go in dependency order: Namespaces, then
// CustomResourceDefinitions (waited for until Established and served),
// then cluster-wide settings and RBAC, then ServiceAccounts, ConfigMaps
// and Secrets, then Services, then workloads and everything else, and
// webhooks and APIServices last. A namespaced object without a namespace
// goes to "default", as with kubectl.
//
// Each applied object carries the label skiff.io/manifest (LabelValue of
// the file's path relative to the folder) and the annotation
// skiff.io/manifest-path (that path). What a file applied is recorded in
// an inventory: a ConfigMap per file in kube-system, labelled
// skiff.io/manifest-inventory, written before the objects are applied so
// that nothing applied is ever missing from it. From it the controller
// prunes: an object removed from a file is deleted once the rest of the
// file applied, and a removed file's objects are deleted, also when the
// file went away while skiff was stopped. Deletion propagates in the
// background, and leaves alone an object that another file now declares
// or whose skiff.io/manifest label no longer names the file.
//
// A file <name>.skip beside the manifest <name> (coredns.yaml.skip beside
// coredns.yaml, k3s's convention) hands that manifest to the user: it is
// neither applied nor pruned, and what it deployed stays as it is in the
// cluster — also when the manifest itself is then deleted. Removing the
// .skip file hands it back: the manifest is applied again, or, if it is
// gone, what it deployed is removed.
//
// Bad input never costs what already runs. A file that does not parse is
// logged with its line (counted in the file, not in the document) and
// reported as a Warning Event on its inventory ConfigMap; nothing of it is
// applied or pruned until it changes, and the other files apply. An
// object the API refuses is logged and reported the same way, with its
// kind and name and the API's message; the rest of the file still
// applies, nothing of that file is pruned, and the file is tried again
// with back-off (5 s, doubling to 5 min) until it applies or changes.
//
// The controller exposes nothing for --disable: internal/addons deletes a
// disabled addon's file before the controller starts, and the first pass
// prunes what the file had deployed, from its inventory.
package deploy
