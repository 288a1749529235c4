package servicelb

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestNewChecksConfig(t *testing.T) {
	client := fake.NewClientset()
	for _, tc := range []struct {
		cfg    Config
		errHas string
	}{
		{Config{}, "no Kubernetes client"},
		{Config{Client: client, ReservedPorts: []Port{{Port: 0}}}, "out of range"},
		{Config{Client: client, ReservedPorts: []Port{{Protocol: "ICMP", Port: 1}}}, "not TCP, UDP or SCTP"},
		{Config{Client: client, ReservedPorts: []Port{{Port: 6443, What: "the supervisor"}, {Protocol: corev1.ProtocolUDP, Port: 8472}}}, ""},
	} {
		c, err := New(tc.cfg)
		if tc.errHas == "" {
			if err != nil {
				t.Errorf("New(%+v): %v", tc.cfg, err)
			} else if c.reserved[portKey{corev1.ProtocolTCP, 6443}] != "the supervisor" {
				t.Errorf("reserved = %v; an empty protocol should mean TCP", c.reserved)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("New(%+v) = %v, want an error that says %q", tc.cfg, err, tc.errHas)
		}
	}
}

// The lifecycle only: Ready once the caches are filled, Stop promptly.
// What the controller does to Services is checked end to end against a
// real server (internal/e2e).
func TestLifecycle(t *testing.T) {
	c, err := New(Config{Client: fake.NewClientset()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	begin := time.Now()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer stopCancel()
	if err := c.Stop(stopCtx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Stop took %v", took)
	}
}

func TestStopBeforeStart(t *testing.T) {
	c, err := New(Config{Client: fake.NewClientset()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
	cl := NewCleanup(fake.NewClientset())
	if err := cl.Stop(context.Background()); err != nil {
		t.Errorf("Cleanup.Stop before Start: %v", err)
	}
}
