package helmcontroller

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Group and Version are k3s's, so that a k3s user's objects apply
// unchanged.
const (
	Group   = "helm.cattle.io"
	Version = "v1"
)

var (
	helmChartsResource       = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "helmcharts"}
	helmChartConfigsResource = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "helmchartconfigs"}
)

// HelmChart is a Helm release the cluster asks for. The fields are k3s's
// helm-controller's; those that only make sense for its install Job
// (jobImage, backOffLimit, podSecurityContext, securityContext) are
// accepted and ignored, and so is helmVersion: there is one Helm here.
type HelmChart struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   HelmChartSpec   `json:"spec,omitempty"`
	Status HelmChartStatus `json:"status,omitempty"`
}

// HelmChartSpec says which chart, from where, with which values.
type HelmChartSpec struct {
	TargetNamespace string                        `json:"targetNamespace,omitempty"`
	CreateNamespace bool                          `json:"createNamespace,omitempty"`
	Chart           string                        `json:"chart,omitempty"`
	Version         string                        `json:"version,omitempty"`
	Repo            string                        `json:"repo,omitempty"`
	RepoCA          string                        `json:"repoCA,omitempty"`
	RepoCAConfigMap *corev1.LocalObjectReference  `json:"repoCAConfigMap,omitempty"`
	Set             map[string]intstr.IntOrString `json:"set,omitempty"`
	ValuesContent   string                        `json:"valuesContent,omitempty"`
	HelmVersion     string                        `json:"helmVersion,omitempty"`
	// Bootstrap charts run before the cluster's network in k3s, from a
	// host-network Job; in-process every chart can, so it changes nothing.
	Bootstrap             bool                         `json:"bootstrap,omitempty"`
	ChartContent          string                       `json:"chartContent,omitempty"`
	Timeout               *metav1.Duration             `json:"timeout,omitempty"`
	FailurePolicy         string                       `json:"failurePolicy,omitempty"`
	AuthSecret            *corev1.LocalObjectReference `json:"authSecret,omitempty"`
	AuthPassCredentials   bool                         `json:"authPassCredentials,omitempty"`
	InsecureSkipTLSVerify bool                         `json:"insecureSkipTLSVerify,omitempty"`
	PlainHTTP             bool                         `json:"plainHTTP,omitempty"`
	DockerRegistrySecret  *corev1.LocalObjectReference `json:"dockerRegistrySecret,omitempty"`
}

// HelmChartStatus is what the controller last did. jobName is k3s's and
// stays empty: no Job runs here.
type HelmChartStatus struct {
	JobName            string             `json:"jobName,omitempty"`
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	Release            *ReleaseStatus     `json:"release,omitempty"`
	// FailedDigest is the digest of the last operation that failed: with
	// failurePolicy abort, it is not tried again until something changes.
	FailedDigest string `json:"failedDigest,omitempty"`
}

// ReleaseStatus describes the Helm release as the controller last left it.
type ReleaseStatus struct {
	Name         string `json:"name,omitempty"`
	Namespace    string `json:"namespace,omitempty"`
	Revision     int    `json:"revision,omitempty"`
	Chart        string `json:"chart,omitempty"`
	ChartVersion string `json:"chartVersion,omitempty"`
	AppVersion   string `json:"appVersion,omitempty"`
	// Status is Helm's: deployed, failed, pending-install ...
	Status string `json:"status,omitempty"`
	// Digest identifies the chart, values and options of the last
	// operation that succeeded: the controller runs Helm again only when
	// what it would deploy differs.
	Digest string `json:"digest,omitempty"`
}

// HelmChartConfig overrides the values (and failure policy) of the
// HelmChart of the same name and namespace, typically one skiff ships,
// without editing it.
type HelmChartConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec HelmChartConfigSpec `json:"spec,omitempty"`
}

// HelmChartConfigSpec is merged over the HelmChart's own.
type HelmChartConfigSpec struct {
	ValuesContent string `json:"valuesContent,omitempty"`
	FailurePolicy string `json:"failurePolicy,omitempty"`
}

// The failure policies k3s defines: what to do when an upgrade fails.
const (
	FailureReinstall = "reinstall" // uninstall and install again (default)
	FailureAbort     = "abort"     // leave the release as Helm left it
)

// Condition types on a HelmChart.
const (
	// ConditionDeployed is true when the release Helm last deployed is the
	// one the spec asks for.
	ConditionDeployed = "Deployed"
	// ConditionFailed is true, with Helm's error, while the last attempt
	// failed.
	ConditionFailed = "Failed"
)

func fromUnstructured[T any](u *unstructured.Unstructured) (*T, error) {
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return nil, fmt.Errorf("reading %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return out, nil
}
