package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	apiserverv1beta1 "k8s.io/apiserver/pkg/apis/apiserver/v1beta1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// EgressSelection is the egress the config sends through the tunnel
// server: "cluster" is what the apiserver uses for kubelets, pods and
// services (logs, exec, port-forward, proxy, webhooks and aggregated APIs
// reached in the cluster). "controlplane" and "etcd" stay direct.
const EgressSelection = "cluster"

// egressReadHeaderTimeout bounds reading a CONNECT request.
const egressReadHeaderTimeout = 10 * time.Second

// WriteEgressConfig writes the kube-apiserver's
// --egress-selector-config-file: the "cluster" egress goes through an HTTP
// CONNECT proxy on the unix socket socket, which the Server serves. It is
// built from the apiserver's own v1beta1 types, so a field the apiserver
// does not know cannot slip in (its loader is strict).
func WriteEgressConfig(path, socket string) error {
	if socket == "" {
		return errors.New("writing the egress selector configuration: no socket path")
	}
	cfg := apiserverv1beta1.EgressSelectorConfiguration{
		EgressSelections: []apiserverv1beta1.EgressSelection{{
			Name: EgressSelection,
			Connection: apiserverv1beta1.Connection{
				ProxyProtocol: apiserverv1beta1.ProtocolHTTPConnect,
				Transport: &apiserverv1beta1.Transport{
					UDS: &apiserverv1beta1.UDSTransport{UDSName: socket},
				},
			},
		}},
	}
	cfg.APIVersion = apiserverv1beta1.SchemeGroupVersion.String()
	cfg.Kind = "EgressSelectorConfiguration"
	data, err := yaml.Marshal(&cfg)
	if err != nil {
		return fmt.Errorf("encoding the egress selector configuration: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing the egress selector configuration: %w", err)
	}
	return fsutil.WriteFile(path, data, 0o644)
}

// socketFile is the egress socket's path and the file we created there,
// so Stop removes only our own socket.
type socketFile struct {
	path string
	info os.FileInfo
}

func (f *socketFile) remove() {
	if f == nil {
		return
	}
	if cur, err := os.Lstat(f.path); err == nil && os.SameFile(cur, f.info) {
		_ = os.Remove(f.path)
	}
}

// listenSocket listens on path with mode 0600 from the first moment: it
// binds a temporary name, sets the mode and renames it into place, so no
// other user can connect in between (a plain Listen then Chmod leaves a
// window at the umask's mode). A socket left at path by a crashed run is
// replaced; one that still answers is another skiff, and an error.
func listenSocket(path string) (net.Listener, *socketFile, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, nil, fmt.Errorf("%s exists and is not a socket; remove it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, nil, fmt.Errorf("%s is in use by another process (another skiff server on this data directory?)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, nil, fmt.Errorf("removing the stale socket %s: %w", path, err)
		}
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.tmp", filepath.Base(path), os.Getpid()))
	_ = os.Remove(tmp)
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s: %w", tmp, err)
	}
	// The listener would unlink tmp on Close, a name gone after the
	// rename; socketFile.remove unlinks the real one instead.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, *socketFile, error) {
		_ = ln.Close()
		_ = os.Remove(tmp)
		return nil, nil, err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(fmt.Errorf("setting the mode of %s: %w", tmp, err))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(fmt.Errorf("moving the socket to %s: %w", path, err))
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(fmt.Errorf("checking %s: %w", path, err))
	}
	return ln, &socketFile{path: path, info: fi}, nil
}

// startEgress serves CONNECT on the egress socket. s.mu is held.
func (s *Server) startEgress() error {
	ln, sock, err := listenSocket(s.cfg.EgressSocket)
	if err != nil {
		return fmt.Errorf("serving the egress socket: %w", err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.serveConnect),
		ReadHeaderTimeout: egressReadHeaderTimeout,
		ErrorLog:          log.New(egressErrorWriter{}, "", 0),
	}
	s.egress, s.socket = srv, sock
	klog.InfoS("Tunnel egress socket listening", "path", s.cfg.EgressSocket)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			return
		}
		if err == nil {
			err = errors.New("stopped serving")
		}
		select {
		case s.failed <- fmt.Errorf("serving the egress socket %s: %w", s.cfg.EgressSocket, err):
		default:
		}
	}()
	return nil
}

// serveConnect is the apiserver's egress proxy: CONNECT host:port is
// dialled with Dial and, once connected, the bytes are spliced both ways.
//
// Answers are written by hand after hijacking so that the reason phrase
// can carry the dial error: the apiserver's CONNECT client reports the
// status line ("proxy error ... code 502: 502 <reason>") and drops the body,
// and "node x refused to dial ..." is what a user of kubectl logs needs to
// see.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		w.Header().Set("Allow", http.MethodConnect)
		http.Error(w, "only CONNECT is served here", http.StatusMethodNotAllowed)
		return
	}
	addr := r.Host
	ctx, cancel := context.WithTimeout(r.Context(), directDialTimeout)
	target, dialErr := s.Dial(ctx, "tcp", addr)
	cancel()

	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		if target != nil {
			_ = target.Close()
		}
		klog.ErrorS(err, "Taking over an egress connection", "addr", addr)
		http.Error(w, "cannot take over the connection", http.StatusInternalServerError)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	if dialErr != nil {
		code := http.StatusBadGateway
		var de *DialError
		if errors.As(dialErr, &de) && de.Refused {
			code = http.StatusForbidden
		} else if errors.Is(dialErr, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
		klog.V(2).InfoS("Egress dial failed", "addr", addr, "err", dialErr)
		_ = conn.SetWriteDeadline(time.Now().Add(upgradeWriteTimeout))
		_, _ = fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code, reason(dialErr))
		_ = conn.Close()
		return
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = conn.Close()
		_ = target.Close()
		return
	}

	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = conn.Close()
		_ = target.Close()
		return
	}
	s.conns[conn] = struct{}{}
	s.mu.Unlock()

	splice(newBufferedConn(conn, brw.Reader), target)

	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
}

// reason makes err fit in a status line: one line, no control characters,
// bounded.
func reason(err error) string {
	msg := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, err.Error())
	if len(msg) > 400 {
		msg = msg[:400]
	}
	return msg
}

// egressErrorWriter sends the egress server's own error log to klog.
type egressErrorWriter struct{}

func (egressErrorWriter) Write(p []byte) (int, error) {
	klog.V(2).InfoS("Egress socket HTTP error", "detail", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
