// Package helmcontroller is skiff's Helm controller: it reconciles k3s's
// helm.cattle.io/v1 HelmChart objects with the Helm SDK, in the server's
// own process. k3s runs helm in a Job per change, from a helper image that
// an offline cluster cannot pull; here no pod runs and nothing is pulled.
//
// A HelmChart names its chart by chartContent (a base64 .tgz), by a URL
// https://%{KUBERNETES_API}%/static/charts/<file> (read from the server's
// static charts folder, where skiff writes the charts it ships and users
// copy theirs), or as helm install would take it: a name in spec.repo
// (with spec.version, spec.repoCA or repoCAConfigMap, spec.authSecret),
// a chart URL, or an oci:// reference (spec.dockerRegistrySecret). Its
// values are spec.valuesContent, the valuesContent of the HelmChartConfig
// of the same name and namespace merged over them, then spec.set (numbers
// and true/false as with --set, anything else as with --set-string). The
// release takes the HelmChart's name, in spec.targetNamespace or the
// HelmChart's namespace (created first if spec.createNamespace), and is
// stored as Secrets there, as the helm CLI stores it: `helm list -A` shows
// it and helm can manage it.
//
// Each HelmChart goes through a work queue, so one release never has two
// Helm operations at once. An operation runs when what it would deploy —
// the chart's bytes, the values, the namespace — differs from what the
// status says was last deployed, or the release is missing or not
// deployed: install when there is no release, upgrade otherwise, and a
// fresh install when no revision was ever deployed. A revision left
// pending by a stopped server is marked failed first. Helm waits only for
// hooks, bounded by spec.timeout (300 s by default), as k3s's Job does; the
// release is deployed once its objects are created.
//
// When an upgrade fails, failurePolicy reinstall (the default) uninstalls
// and installs again; abort leaves the release as Helm left it and tries
// nothing more until the HelmChart or its HelmChartConfig changes. Any
// failure is written to the status — condition Failed with Helm's own
// text, Deployed false — and sent as a Warning Event; with reinstall it is
// retried with back-off (5 s doubling to 5 minutes). Other HelmCharts are
// not held up. Every HelmChart is looked at again every 5 minutes, which
// notices a chart file replaced in the static folder.
//
// Status: conditions Deployed and Failed, and release (name, namespace,
// revision, chart, chartVersion, appVersion, Helm's status, and the digest
// of what was deployed). jobName, k3s's, stays empty.
//
// A finalizer, helm.cattle.io/skiff-release, holds a HelmChart until its
// release is uninstalled. With --disable helm-controller the controller
// runs for removals only: it installs and upgrades nothing, but still
// uninstalls what it deployed when the HelmChart goes (Traefik's, which
// that flag disables too), so no object hangs on the finalizer.
//
// The CRDs (crds.yaml) are served by the CRDs part whether the controller
// runs or not.
package helmcontroller
