package helmcontroller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	release "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
)

// maxMessage bounds a condition's message; Helm's errors can list every
// object of a chart.
const maxMessage = 8 << 10

// object is the HelmChart as Events refer to it.
func (hc *HelmChart) object() runtime.Object {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(Group + "/" + Version)
	u.SetKind("HelmChart")
	u.SetNamespace(hc.Namespace)
	u.SetName(hc.Name)
	u.SetUID(hc.UID)
	u.SetResourceVersion(hc.ResourceVersion)
	return u
}

func releaseStatus(rel *release.Release, digest string) *ReleaseStatus {
	if rel == nil {
		return nil
	}
	rs := &ReleaseStatus{Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version, Digest: digest}
	if rel.Info != nil {
		rs.Status = string(rel.Info.Status)
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		rs.Chart, rs.ChartVersion, rs.AppVersion = rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Chart.Metadata.AppVersion
	}
	return rs
}

// deployed records a release that is what the spec asks for.
func (c *Controller) deployed(ctx context.Context, hc *HelmChart, rs *ReleaseStatus) error {
	return c.updateStatus(ctx, hc, func(st *HelmChartStatus, generation int64) {
		st.Release = rs
		st.FailedDigest = ""
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: ConditionDeployed, Status: metav1.ConditionTrue,
			Reason: "Deployed", ObservedGeneration: generation,
			Message: fmt.Sprintf("release %s/%s revision %d, chart %s-%s", rs.Namespace, rs.Name, rs.Revision, rs.Chart, rs.ChartVersion)})
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: ConditionFailed, Status: metav1.ConditionFalse,
			Reason: "Deployed", ObservedGeneration: generation})
	})
}

// failed reports err, Helm's own text, on the HelmChart's status and as a
// Warning Event, and returns what the queue should see: err, to be
// retried with back-off, or, when retry is errNoRetry, an error that says
// so. rs, if given, is the release as Helm left it.
func (c *Controller) failed(ctx context.Context, hc *HelmChart, digest, reason string, err, retry error, rs ...*ReleaseStatus) error {
	msg := err.Error()
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "..."
	}
	c.recorder.Event(hc.object(), corev1.EventTypeWarning, reason, msg)
	if serr := c.updateStatus(ctx, hc, func(st *HelmChartStatus, generation int64) {
		if len(rs) > 0 && rs[0] != nil {
			rs[0].Digest = ""
			if st.Release != nil && st.Release.Revision == rs[0].Revision {
				rs[0].Digest = st.Release.Digest
			}
			st.Release = rs[0]
		}
		if digest != "" {
			st.FailedDigest = digest
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: ConditionFailed, Status: metav1.ConditionTrue,
			Reason: reason, Message: msg, ObservedGeneration: generation})
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: ConditionDeployed, Status: metav1.ConditionFalse,
			Reason: reason, Message: "see the Failed condition", ObservedGeneration: generation})
	}); serr != nil {
		return errors.Join(err, serr)
	}
	if errors.Is(retry, errNoRetry) {
		return fmt.Errorf("%w: %v", errNoRetry, err)
	}
	return err
}

// updateStatus applies change to the HelmChart's current status and
// writes it, retrying on conflicts.
func (c *Controller) updateStatus(ctx context.Context, hc *HelmChart, change func(st *HelmChartStatus, generation int64)) error {
	client := c.dynamic.Resource(helmChartsResource).Namespace(hc.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u, err := client.Get(ctx, hc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur, err := fromUnstructured[HelmChart](u)
		if err != nil {
			return err
		}
		st := cur.Status
		change(&st, cur.Generation)
		st.ObservedGeneration = cur.Generation
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
		if err != nil {
			return err
		}
		u.Object["status"] = m
		_, err = client.UpdateStatus(ctx, u, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("updating the status of HelmChart %s/%s: %w", hc.Namespace, hc.Name, ignoreNotFound(err))
	}
	return nil
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
