package helmcontroller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	ri "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// Finalizer holds a HelmChart until its release is uninstalled.
const Finalizer = "helm.cattle.io/skiff-release"

// defaultTimeout bounds an operation's hooks, as helm's default does.
const defaultTimeout = 300 * time.Second

// maxHistory bounds the revisions (Secrets) a release keeps.
const maxHistory = 10

// errNoRetry wraps a failure that retrying cannot mend: the object has to
// change first (and its change brings it back into the queue).
var errNoRetry = errors.New("not retried until the HelmChart changes")

// sync brings the release of one HelmChart to what it asks for.
func (c *Controller) sync(ctx context.Context, key string) error {
	u, err := c.chart(ctx, key)
	if err != nil || u == nil {
		return err
	}
	hc, err := fromUnstructured[HelmChart](u)
	if err != nil {
		return err
	}
	if hc.DeletionTimestamp != nil {
		return c.remove(ctx, hc)
	}
	if c.cfg.OnlyRemove {
		return nil
	}
	if !slices.Contains(hc.Finalizers, Finalizer) {
		if err := c.setFinalizers(ctx, u, append(slices.Clone(hc.Finalizers), Finalizer)); err != nil {
			return err
		}
	}
	err = c.deploy(ctx, hc)
	if errors.Is(err, errNoRetry) {
		return nil
	}
	return err
}

// timeout bounds an operation's hooks: spec.timeout, else Helm's default.
func (hc *HelmChart) timeout() time.Duration {
	if hc.Spec.Timeout != nil && hc.Spec.Timeout.Duration > 0 {
		return hc.Spec.Timeout.Duration
	}
	return defaultTimeout
}

// target is the release's namespace: targetNamespace, or the HelmChart's.
func target(hc *HelmChart) string {
	if hc.Spec.TargetNamespace != "" {
		return hc.Spec.TargetNamespace
	}
	return hc.Namespace
}

// deploy installs or upgrades the release when what it would deploy
// differs from what was last deployed.
func (c *Controller) deploy(ctx context.Context, hc *HelmChart) error {
	config, err := c.config(hc.Namespace, hc.Name)
	if err != nil {
		return err
	}
	policy := hc.Spec.FailurePolicy
	if config != nil && config.Spec.FailurePolicy != "" {
		policy = config.Spec.FailurePolicy
	}
	if policy == "" {
		policy = FailureReinstall
	}
	if policy != FailureReinstall && policy != FailureAbort {
		return c.failed(ctx, hc, "", "InvalidSpec", fmt.Errorf("failurePolicy %q is not %s or %s", policy, FailureReinstall, FailureAbort), errNoRetry)
	}
	vals, err := values(hc.Spec, config)
	if err != nil {
		return c.failed(ctx, hc, "", "InvalidValues", err, errNoRetry)
	}
	ch, err := c.loadChart(ctx, hc)
	if err != nil {
		// A repository may come back and a file may be copied in: retried.
		return c.failed(ctx, hc, "", "ChartFailed", err, nil)
	}
	ns := target(hc)
	want, err := digest(ch.sum, vals, ns)
	if err != nil {
		return c.failed(ctx, hc, "", "InvalidValues", err, errNoRetry)
	}
	cfg, err := c.helm.configuration(ns)
	if err != nil {
		return err
	}
	last, err := lastRelease(cfg, hc.Name)
	if err != nil {
		return fmt.Errorf("reading release %s/%s: %w", ns, hc.Name, err)
	}
	st := hc.Status
	if last != nil && last.Info.Status == rcommon.StatusDeployed && st.Release != nil &&
		st.Release.Digest == want && st.Release.Revision == last.Version && st.Release.Namespace == ns {
		return nil // up to date
	}
	if policy == FailureAbort && st.FailedDigest == want {
		return nil // failed with exactly this, and told to leave it
	}

	timeout := hc.timeout()
	op := opUpgrade
	switch {
	case last == nil || last.Info.Status == rcommon.StatusUninstalled:
		op = opInstall
	case !everDeployed(cfg, hc.Name):
		// A first install that failed or was cut short: upgrade refuses
		// it, install again from nothing.
		op = opReinstall
	case last.Info.Status.IsPending():
		// Only this controller runs Helm on the release, one operation
		// at a time: a pending one was cut short (skiff stopped). Helm
		// refuses to upgrade over it until it is marked failed.
		last.SetStatus(rcommon.StatusFailed, "interrupted: skiff stopped during the operation")
		if err := cfg.Releases.Update(last); err != nil {
			return fmt.Errorf("marking the interrupted revision %d of %s/%s failed: %w", last.Version, ns, hc.Name, err)
		}
	}
	rel, err := c.run(ctx, cfg, op, hc, ch, vals, timeout)
	if err != nil && op == opUpgrade && policy == FailureReinstall {
		c.recorder.Eventf(hc.object(), corev1.EventTypeWarning, "UpgradeFailed", "Upgrade failed, reinstalling (failurePolicy reinstall): %v", err)
		op = opReinstall
		rel, err = c.run(ctx, cfg, op, hc, ch, vals, timeout)
	}
	if err != nil {
		if last, lerr := lastRelease(cfg, hc.Name); lerr == nil {
			rel = last
		}
		var retry error
		if policy == FailureAbort {
			retry = errNoRetry
		}
		return c.failed(ctx, hc, want, op.failReason(), fmt.Errorf("%s: %w", op.verb(), err), retry, releaseStatus(rel, ""))
	}
	klog.InfoS("Helm release deployed", "helmchart", klog.KRef(hc.Namespace, hc.Name), "release", klog.KRef(rel.Namespace, rel.Name),
		"revision", rel.Version, "chart", rel.Chart.Metadata.Name, "version", rel.Chart.Metadata.Version)
	c.recorder.Eventf(hc.object(), corev1.EventTypeNormal, op.doneReason(), "%s %s-%s as release %s/%s, revision %d",
		op.doneVerb(), rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Namespace, rel.Name, rel.Version)
	return c.deployed(ctx, hc, releaseStatus(rel, want))
}

type operation int

const (
	opInstall operation = iota
	opUpgrade
	opReinstall
)

func (o operation) verb() string {
	return [...]string{"install", "upgrade", "reinstall"}[o]
}

func (o operation) doneVerb() string {
	return [...]string{"Installed", "Upgraded", "Reinstalled"}[o]
}

func (o operation) doneReason() string {
	return [...]string{"Installed", "Upgraded", "Reinstalled"}[o]
}

func (o operation) failReason() string {
	return [...]string{"InstallFailed", "UpgradeFailed", "ReinstallFailed"}[o]
}

// run performs one Helm operation. Helm waits only for hooks: a release is
// deployed once its objects are created, as with k3s's helm install Job.
func (c *Controller) run(ctx context.Context, cfg *action.Configuration, op operation, hc *HelmChart, ch *loadedChart, vals map[string]any, timeout time.Duration) (*release.Release, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	ns := target(hc)
	var out ri.Releaser
	var err error
	switch op {
	case opReinstall:
		if err := c.uninstall(cfg, hc.Name, timeout); err != nil {
			return nil, err
		}
		fallthrough
	case opInstall:
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace = hc.Name, ns
		in.CreateNamespace = hc.Spec.CreateNamespace
		in.Timeout, in.WaitStrategy = timeout, kube.HookOnlyStrategy
		out, err = in.RunWithContext(ctx, ch.chart, vals)
	case opUpgrade:
		up := action.NewUpgrade(cfg)
		up.Namespace = ns
		up.Timeout, up.WaitStrategy = timeout, kube.HookOnlyStrategy
		up.MaxHistory = maxHistory
		out, err = up.RunWithContext(ctx, hc.Name, ch.chart, vals)
	}
	if err != nil {
		return nil, err
	}
	rel, ok := out.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("helm returned a %T", out)
	}
	return rel, nil
}

func (c *Controller) uninstall(cfg *action.Configuration, name string, timeout time.Duration) error {
	un := action.NewUninstall(cfg)
	un.Timeout, un.WaitStrategy = timeout, kube.HookOnlyStrategy
	un.IgnoreNotFound = true
	if _, err := un.Run(name); err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	return nil
}

// remove uninstalls the release of a HelmChart being deleted, then lets
// the object go.
func (c *Controller) remove(ctx context.Context, hc *HelmChart) error {
	if !slices.Contains(hc.Finalizers, Finalizer) {
		return nil
	}
	ns := target(hc)
	cfg, err := c.helm.configuration(ns)
	if err != nil {
		return err
	}
	last, err := lastRelease(cfg, hc.Name)
	if err != nil {
		return fmt.Errorf("reading release %s/%s: %w", ns, hc.Name, err)
	}
	if last != nil {
		if err := c.uninstall(cfg, hc.Name, hc.timeout()); err != nil {
			c.recorder.Eventf(hc.object(), corev1.EventTypeWarning, "UninstallFailed", "%v", err)
			return err
		}
		klog.InfoS("Helm release uninstalled", "helmchart", klog.KRef(hc.Namespace, hc.Name), "release", klog.KRef(ns, hc.Name))
		c.recorder.Eventf(hc.object(), corev1.EventTypeNormal, "Uninstalled", "Uninstalled release %s/%s", ns, hc.Name)
	}
	u, err := c.dynamic.Resource(helmChartsResource).Namespace(hc.Namespace).Get(ctx, hc.Name, metav1.GetOptions{})
	if err != nil {
		return ignoreNotFound(err)
	}
	return c.setFinalizers(ctx, u, slices.DeleteFunc(slices.Clone(u.GetFinalizers()), func(f string) bool { return f == Finalizer }))
}

// setFinalizers writes the object's finalizers, guarded by its
// resourceVersion: a conflict brings it back through the queue.
func (c *Controller) setFinalizers(ctx context.Context, u *unstructured.Unstructured, finalizers []string) error {
	patch := map[string]any{"metadata": map[string]any{"finalizers": finalizers, "resourceVersion": u.GetResourceVersion()}}
	body, err := jsonMarshal(patch)
	if err != nil {
		return err
	}
	_, err = c.dynamic.Resource(helmChartsResource).Namespace(u.GetNamespace()).Patch(ctx, u.GetName(), types.MergePatchType, body, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("updating the finalizers of HelmChart %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// lastRelease is the release's newest revision, or nil when it has none.
func lastRelease(cfg *action.Configuration, name string) (*release.Release, error) {
	r, err := cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("helm storage returned a %T", r)
	}
	return rel, nil
}

// everDeployed says whether any revision of the release was deployed,
// which upgrade needs.
func everDeployed(cfg *action.Configuration, name string) bool {
	hist, err := cfg.Releases.History(name)
	if err != nil {
		return false
	}
	for _, r := range hist {
		rel, ok := r.(*release.Release)
		if ok && (rel.Info.Status == rcommon.StatusDeployed || rel.Info.Status == rcommon.StatusSuperseded) {
			return true
		}
	}
	return false
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
