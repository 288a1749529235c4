package servicelb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// loadBalancerServices selects Services of type LoadBalancer on the
// apiserver's side (spec.type is a selectable field of Services).
const loadBalancerServices = "spec.type=" + string(corev1.ServiceTypeLoadBalancer)

// ClearStatus removes the status.loadBalancer.ingress that the Controller
// set on an earlier start, for a server started with --disable servicelb:
// without it the Services would keep advertising node addresses that
// nothing serves any more (kube-proxy would even go on serving them). Only
// Services that are skiff's (no loadBalancerClass, or ClassName) and whose
// every ingress IP is an address of a node are touched; another
// controller's addresses are left alone. It returns how many Services it
// cleared. Every server of a cluster must agree on --disable servicelb, or
// the ones that run the Controller will set what the others clear.
func ClearStatus(ctx context.Context, client kubernetes.Interface) (int, error) {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("servicelb: listing nodes to clear load balancer statuses: %w", err)
	}
	nodeIPs := allNodeIPs(nodes.Items)
	services, err := client.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: loadBalancerServices})
	if err != nil {
		return 0, fmt.Errorf("servicelb: listing LoadBalancer Services to clear their status: %w", err)
	}
	cleared := 0
	var errs []error
	for i := range services.Items {
		svc := &services.Items[i]
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if !setBySkiff(svc, nodeIPs) {
				return nil
			}
			err := setIngress(ctx, client, svc, nil)
			if err == nil {
				cleared++
				klog.InfoS("Cleared the load balancer status that servicelb had set, as servicelb is disabled", "service", svc.Namespace+"/"+svc.Name)
				return nil
			}
			if apierrors.IsConflict(err) {
				fresh, getErr := client.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
				if apierrors.IsNotFound(getErr) {
					return nil // gone: nothing to clear
				}
				if getErr != nil {
					return errors.Join(err, getErr)
				}
				svc = fresh
			}
			return err
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cleared, fmt.Errorf("servicelb: %w", err)
	}
	return cleared, nil
}

// Cleanup is the part a server runs in the Controller's place when
// servicelb is disabled: once the apiserver answers, it runs ClearStatus,
// retrying with backoff until it succeeds. Ready does not wait for it:
// stale statuses are worth clearing but not worth holding the server's
// start-up for.
type Cleanup struct {
	client kubernetes.Interface

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

var _ component.Component = (*Cleanup)(nil)

// NewCleanup returns the clean-up part; client is the supervisor's.
func NewCleanup(client kubernetes.Interface) *Cleanup { return &Cleanup{client: client} }

// Name implements component.Component.
func (c *Cleanup) Name() string { return "servicelb-cleanup" }

// Start begins clearing in the background.
func (c *Cleanup) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return errors.New("servicelb-cleanup: already started")
	}
	ctx, c.cancel = context.WithCancel(ctx)
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		delay := 500 * time.Millisecond
		for {
			n, err := ClearStatus(ctx, c.client)
			if err == nil {
				if n > 0 {
					klog.InfoS("servicelb is disabled: cleared the load balancer status it had set", "services", n)
				}
				return
			}
			if ctx.Err() != nil {
				return
			}
			klog.V(1).InfoS("servicelb is disabled; clearing the load balancer statuses it had set failed, retrying", "err", err, "in", delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, time.Minute)
		}
	}()
	return nil
}

// Ready returns at once (see Cleanup).
func (c *Cleanup) Ready(context.Context) error { return nil }

// Stop ends the clearing if it still runs.
func (c *Cleanup) Stop(ctx context.Context) error {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
