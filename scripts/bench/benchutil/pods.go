package benchutil

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PodSpec is a pod of one container of image, never pulled when present,
// deleted at once.
func PodSpec(name, image string, labels map[string]string) *corev1.Pod {
	zero := int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: "c", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
			}},
		},
	}
}

// CreateWhenAccepted creates pod in namespace as soon as the API accepts
// it: on a fresh server the namespace's default ServiceAccount appears
// some seconds after the API serves. A pod already there counts as made.
func CreateWhenAccepted(ctx context.Context, c kubernetes.Interface, namespace string, pod *corev1.Pod) error {
	for {
		_, err := c.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last create error: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitPod polls the pod until done says it is what the caller waits for,
// and returns it.
func WaitPod(ctx context.Context, c kubernetes.Interface, namespace, name string, done func(*corev1.Pod) bool) (*corev1.Pod, error) {
	for {
		p, err := c.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil && done(p) {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Running says whether the pod runs.
func Running(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }

// Ready says whether the pod's Ready condition is true.
func Ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// WaitPodReady polls every 50 ms until a pod in ns matching selector is
// Ready, or ctx ends.
func WaitPodReady(ctx context.Context, c kubernetes.Interface, ns, selector string) error {
	for {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil {
			for i := range list.Items {
				if Ready(&list.Items[i]) {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
