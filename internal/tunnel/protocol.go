package tunnel

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
	"k8s.io/klog/v2"
)

// UpgradeProtocol is the token of the Upgrade header that asks for a
// tunnel. An incompatible change to the stream protocol below would get a
// new token ("skiff-tunnel/2"), so old and new ends refuse each other at the
// handshake instead of misreading each other's frames.
const UpgradeProtocol = "skiff-tunnel"

// Stream status codes, the first byte of the agent's answer to a stream
// header.
const (
	statusOK byte = iota
	// statusRefused: the agent's Allow rule does not let it dial the target.
	statusRefused
	// statusDialFailed: allowed, but the agent's own dial failed.
	statusDialFailed
)

const (
	// maxFrame bounds a header or status message: a network name and a
	// host:port, or one error line. Anything longer is a broken peer.
	maxFrame = 1024
	// headerTimeout bounds reading a stream header on the agent and the
	// whole open-and-wait-for-status exchange on the server when the
	// caller's context has no deadline. The agent's own dial timeout is
	// shorter, so a slow target is reported by the agent, not timed out here.
	headerTimeout = 30 * time.Second
	// DefaultDialTimeout is how long the agent waits for its local dial.
	DefaultDialTimeout = 10 * time.Second
	// keepAliveInterval: yamux pings this often, so a tunnel whose TCP
	// connection silently died (NAT timeout, agent power loss) is noticed
	// within about this long plus the write timeout, on both ends. The
	// ping also keeps NAT mappings alive.
	keepAliveInterval = 15 * time.Second
)

// DialError is what Server.Dial returns when a node's agent answered a
// stream: it refused the target, or its own dial failed.
type DialError struct {
	Node    string // the node whose tunnel was used
	Addr    string // the target
	Refused bool   // true: the agent's rule refused it; false: its dial failed
	Msg     string // the agent's explanation
}

func (e *DialError) Error() string {
	if e.Refused {
		return fmt.Sprintf("node %s refused to dial %s through its tunnel: %s", e.Node, e.Addr, e.Msg)
	}
	return fmt.Sprintf("node %s could not dial %s through its tunnel: %s", e.Node, e.Addr, e.Msg)
}

// writeFrame writes a 2-byte big-endian length and b, in one Write so a
// frame is one yamux data frame.
func writeFrame(w io.Writer, prefix []byte, b []byte) error {
	if len(b) > maxFrame {
		b = b[:maxFrame]
	}
	buf := make([]byte, 0, len(prefix)+2+len(b))
	buf = append(buf, prefix...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(b)))
	buf = append(buf, b...)
	_, err := w.Write(buf)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	l := binary.BigEndian.Uint16(n[:])
	if l > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes is longer than %d", l, maxFrame)
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// writeRequest sends the target of a stream: "network addr".
func writeRequest(w io.Writer, network, addr string) error {
	return writeFrame(w, nil, []byte(network+" "+addr))
}

func readRequest(r io.Reader) (network, addr string, err error) {
	b, err := readFrame(r)
	if err != nil {
		return "", "", err
	}
	network, addr, ok := strings.Cut(string(b), " ")
	if !ok || network == "" || addr == "" {
		return "", "", fmt.Errorf("malformed stream header %q", b)
	}
	return network, addr, nil
}

// writeStatus answers a stream header: a status byte and a message.
func writeStatus(w io.Writer, status byte, msg string) error {
	return writeFrame(w, []byte{status}, []byte(msg))
}

func readStatus(r io.Reader) (byte, string, error) {
	var s [1]byte
	if _, err := io.ReadFull(r, s[:]); err != nil {
		return 0, "", err
	}
	msg, err := readFrame(r)
	if err != nil {
		return 0, "", err
	}
	return s[0], string(msg), nil
}

// isTCP says whether network is one the tunnel carries.
func isTCP(network string) bool {
	return network == "tcp" || network == "tcp4" || network == "tcp6"
}

// yamuxConfig is the session configuration of both ends.
func yamuxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.KeepAliveInterval = keepAliveInterval
	// The defaults are otherwise right for us: a 256 KiB window per stream
	// is plenty for logs and exec and bounds what a slow reader buffers;
	// StreamOpenTimeout closes a session whose peer stops acknowledging
	// streams, which the reconnect loop then repairs.
	c.LogOutput = nil
	c.Logger = yamuxLogger{}
	return c
}

// yamuxLogger sends yamux's own messages to klog. They repeat what the
// session's end already tells us (keepalive failed, connection reset), so
// they are only shown at higher verbosity.
type yamuxLogger struct{}

func (yamuxLogger) Print(v ...any) {
	klog.V(2).InfoS("yamux", "detail", strings.TrimSpace(fmt.Sprint(v...)))
}
func (yamuxLogger) Printf(format string, v ...any) {
	klog.V(2).InfoS("yamux", "detail", strings.TrimSpace(fmt.Sprintf(format, v...)))
}
func (yamuxLogger) Println(v ...any) {
	klog.V(2).InfoS("yamux", "detail", strings.TrimSpace(fmt.Sprintln(v...)))
}

// bufferedConn is a connection some of whose bytes were already read into
// a bufio.Reader while reading the HTTP upgrade exchange: the peer may start
// its yamux frames right behind it. Those bytes are read first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func newBufferedConn(c net.Conn, r *bufio.Reader) net.Conn {
	if r == nil || r.Buffered() == 0 {
		return c
	}
	return &bufferedConn{Conn: c, r: r}
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r.Buffered() > 0 {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}

// streamConn is a tunnel stream as the dialler sees it: a net.Conn whose
// RemoteAddr is the target, not the agent's end of the session.
type streamConn struct {
	*yamux.Stream
	remote net.Addr
}

func (c *streamConn) RemoteAddr() net.Addr { return c.remote }

// targetAddr is addr as a net.Addr for RemoteAddr; a TCPAddr when it
// parses as one.
func targetAddr(network, addr string) net.Addr {
	if a, err := net.ResolveTCPAddr(network, addr); err == nil && a.IP != nil {
		return a
	}
	return stringAddr{network: network, addr: addr}
}

type stringAddr struct{ network, addr string }

func (a stringAddr) Network() string { return a.network }
func (a stringAddr) String() string  { return a.addr }

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// splice copies bytes both ways between a and b and closes both once
// either direction ends.
//
// The tunnel carries whole connections, not TCP half-closes: a yamux
// stream's Close only sends a FIN, and a peer that never answers it would
// hold the stream (and a blocked writer on the far end) until yamux's
// five-minute close timeout. What runs through the tunnel — TLS, HTTP,
// SPDY and WebSocket to the kubelet and pods — never depends on a
// half-close, so ending both directions at once is safe and frees
// everything promptly.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		buf := copyBuffers.Get().(*[]byte)
		_, err := io.CopyBuffer(dst, src, *buf)
		copyBuffers.Put(buf)
		if err != nil && !isClosedErr(err) {
			klog.V(4).InfoS("Tunnel copy ended", "from", src.RemoteAddr(), "to", dst.RemoteAddr(), "err", err)
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	closeNow(a)
	closeNow(b)
	<-done
}

// closeNow closes c and makes a read blocked on it return at once (a yamux
// stream's Close alone leaves reads waiting for the peer's FIN).
func closeNow(c net.Conn) {
	_ = c.Close()
	_ = c.SetReadDeadline(time.Unix(1, 0))
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, yamux.ErrStreamClosed) ||
		errors.Is(err, yamux.ErrSessionShutdown) || errors.Is(err, yamux.ErrTimeout) ||
		errors.Is(err, io.EOF)
}
