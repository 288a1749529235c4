package metricsserver

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/internal/kubeconfig"
)

// A server whose apiserver never answers stops promptly and frees its
// port (nothing it started may outlive Stop or end the process), and a
// second one on the same port fails to start, saying which port.
func TestStartStopWithoutAPI(t *testing.T) {
	c := validConfig(t)
	c.BindAddress = "127.0.0.1"
	c.Port = freePort(t)
	// Nothing listens on port 1: every API call is refused.
	c.Kubeconfig = filepath.Join(c.CertDir, "nowhere.kubeconfig")
	if err := kubeconfig.Write(c.Kubeconfig, kubeconfig.Spec{
		Server:   "https://127.0.0.1:1",
		CAFile:   filepath.Join(c.CertDir, "server-ca.crt"),
		CertFile: filepath.Join(c.CertDir, "client-supervisor.crt"),
		KeyFile:  filepath.Join(c.CertDir, "client-supervisor.key"),
	}, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	other, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	err = other.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(c.Port)) {
		t.Errorf("a second server on the port: Start = %v, want an error naming port %d", err, c.Port)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	if err := s.Ready(ctx); err == nil {
		t.Error("Ready without an apiserver")
	}
	cancel()

	begin := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Stop took %v", took)
	}
	select {
	case err := <-s.Failed():
		t.Errorf("a stop was reported as a failure: %v", err)
	default:
	}
	ln, err := net.Listen("tcp", c.listenAddress())
	if err != nil {
		t.Fatalf("the port is still taken after Stop: %v", err)
	}
	ln.Close()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln := loopbackListener(t)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
