package deploy

import (
	"errors"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	evrecord "k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// Event reasons, on the file's inventory ConfigMap (`kubectl describe cm
// -n kube-system skiff-manifest-<file>`, or `kubectl get events -n
// kube-system`).
const (
	ReasonInvalid     = "ManifestInvalid"     // the file cannot be read or does not parse
	ReasonApplyFailed = "ManifestApplyFailed" // the API refused an object
	ReasonPruneFailed = "ManifestPruneFailed" // an object could not be deleted
	ReasonApplied     = "ManifestApplied"     // the file applied in full
)

// eventSource names the controller in the Events it reports.
const eventSource = "skiff-deploy"

// maxEventMessage keeps an Event's message within what the API stores.
const maxEventMessage = 1024

// reporter tells the user what became of a manifest: one log line each,
// and an Event. Identical Events are counted, not repeated (client-go's
// correlator), so a file retried with back-off does not flood the list.
type reporter struct {
	dir         string
	broadcaster evrecord.EventBroadcaster
	recorder    evrecord.EventRecorder
}

func newReporter(dir string, core kubernetes.Interface) *reporter {
	b := evrecord.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: core.CoreV1().Events("")})
	return &reporter{
		dir:         dir,
		broadcaster: b,
		recorder:    b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: eventSource}),
	}
}

// stop ends the delivery of Events; those not yet sent are dropped.
func (r *reporter) stop() { r.broadcaster.Shutdown() }

func (r *reporter) file(path string) string { return filepath.Join(r.dir, filepath.FromSlash(path)) }

func (r *reporter) event(on *corev1.ObjectReference, eventType, reason, msg string) {
	if len(msg) > maxEventMessage {
		msg = msg[:maxEventMessage-3] + "..."
	}
	r.recorder.Event(on, eventType, reason, msg)
}

// invalid reports a file that cannot be read or does not parse.
func (r *reporter) invalid(on *corev1.ObjectReference, path string, err error) {
	file := r.file(path)
	var pe *ParseError
	if errors.As(err, &pe) {
		klog.ErrorS(nil, "Manifest does not parse; nothing of it is applied or removed until it changes",
			"file", file, "line", pe.Line, "error", pe.Msg)
		r.event(on, corev1.EventTypeWarning, ReasonInvalid, fmt.Sprintf("%s, line %d: %s", file, pe.Line, pe.Msg))
		return
	}
	klog.ErrorS(err, "Manifest cannot be read; nothing of it is applied or removed until it can", "file", file)
	r.event(on, corev1.EventTypeWarning, ReasonInvalid, fmt.Sprintf("%s: %v", file, err))
}

// applyFailed reports an object of path that the API refused.
func (r *reporter) applyFailed(on *corev1.ObjectReference, path string, obj ObjectRef, err error) {
	file := r.file(path)
	klog.ErrorS(err, "Manifest object not applied; the file's other objects are, and it is tried again",
		"file", file, "object", obj.String())
	r.event(on, corev1.EventTypeWarning, ReasonApplyFailed, fmt.Sprintf("%s: %s: %v", file, obj, err))
}

// pruneFailed reports an object of path that could not be deleted.
func (r *reporter) pruneFailed(on *corev1.ObjectReference, path string, obj ObjectRef, err error) {
	file := r.file(path)
	klog.ErrorS(err, "Object removed from the manifests not deleted; tried again", "file", file, "object", obj.String())
	r.event(on, corev1.EventTypeWarning, ReasonPruneFailed, fmt.Sprintf("%s: deleting %s: %v", file, obj, err))
}

// applied reports a file applied in full.
func (r *reporter) applied(on *corev1.ObjectReference, path string, objects, deleted int) {
	file := r.file(path)
	klog.InfoS("Manifest applied", "file", file, "objects", objects, "deleted", deleted)
	r.event(on, corev1.EventTypeNormal, ReasonApplied, fmt.Sprintf("%s: %d objects applied, %d removed", file, objects, deleted))
}
