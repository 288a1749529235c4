package control

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"

	"github.com/skiff-k8s/skiff/internal/component"
)

// ControllerManager is kube-controller-manager.
type ControllerManager struct {
	Args Args
	*goroutine
}

var _ component.Component = (*ControllerManager)(nil)

func (c *ControllerManager) Name() string { return "kube-controller-manager" }

func (c *ControllerManager) Start(ctx context.Context) error {
	s, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return fmt.Errorf("building options: %w", err)
	}
	sets := s.Flags(app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases())
	s.ParsedFlags = &sets
	if err := parse("kube-controller-manager", sets, c.Args); err != nil {
		return err
	}
	if err := s.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("applying feature gates: %w", err)
	}
	config, err := s.Config(ctx, app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases())
	if err != nil {
		return fmt.Errorf("building config: %w", err)
	}
	c.goroutine = newGoroutine()
	c.start(ctx, func(ctx context.Context) error { return app.Run(ctx, config.Complete()) })
	return nil
}

// builtCheck is the health check the controller-manager adds once every
// controller is built (they are all added at once, after the last).
const builtCheck = "[+]serviceaccount-token-controller ok"

// Ready is immediate: the controllers start their informers themselves.
func (c *ControllerManager) Ready(context.Context) error { return nil }

// ControllersBuilt is a part that is ready once the controller-manager has
// built its controllers. A kubelet in the same process must not start
// before that: building the volume controllers initialises the CSI volume
// plugin, whose node info manager is a package variable that the last
// initialisation wins (k8s.io/kubernetes/pkg/volume/csi). Initialised by
// the controllers after the kubelet, it carries an empty node name, the
// kubelet's CSINode initialisation fails, and the kubelet exits the
// process.
func (c *ControllerManager) ControllersBuilt() component.Component {
	return &controllersBuilt{cm: c}
}

type controllersBuilt struct{ cm *ControllerManager }

func (b *controllersBuilt) Name() string                    { return "controllers-built" }
func (b *controllersBuilt) Start(context.Context) error     { return nil }
func (b *controllersBuilt) Stop(context.Context) error      { return nil }
func (b *controllersBuilt) Ready(ctx context.Context) error { return b.cm.waitBuilt(ctx) }

// waitBuilt polls the controller-manager's /healthz, where a check for
// each controller appears once all are built.
func (c *ControllerManager) waitBuilt(ctx context.Context) error {
	port := c.Args["secure-port"]
	if port == "" || port == "0" {
		// No way to tell: the user turned the port off.
		return nil
	}
	addr := c.Args["bind-address"]
	if addr == "" || addr == "0.0.0.0" || addr == "::" {
		addr = "127.0.0.1"
	}
	url := "https://" + net.JoinHostPort(addr, port) + "/healthz?verbose"
	// Its serving certificate is self-signed, made at start; what is read
	// here is only whether a check is listed.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a readiness probe on loopback
	}}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	elected := c.Args["leader-elect"] == "true"
	var lastLeaseCheck time.Time
	for {
		if resp, err := client.Get(url); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if strings.Contains(string(body), builtCheck) {
				return nil
			}
		}
		// With several servers, only the leader builds controllers.
		if elected && time.Since(lastLeaseCheck) > time.Second {
			lastLeaseCheck = time.Now()
			if otherLeads(ctx, c.Args["kubeconfig"]) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (c *ControllerManager) Stop(ctx context.Context) error {
	if c.goroutine == nil {
		return nil
	}
	return c.stop(ctx)
}
