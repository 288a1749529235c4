// Package static serves the server's static folder,
// <data-dir>/server/static, at /static/ on the supervisor's port, as k3s
// does: charts copied into static/charts/ are what HelmCharts name with
// https://%{KUBERNETES_API}%/static/charts/<file>, and the helm CLI or a
// pod can fetch them from there too.
//
// Only authenticated clients are served: a client certificate issued by
// the cluster's client CA (kubectl's, a node's), or a bearer token the API
// accepts (a ServiceAccount's, checked with a TokenReview). Anything else
// gets 401. Directory listings are not served.
package static
