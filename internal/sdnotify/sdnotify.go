package sdnotify

import (
	"fmt"
	"net"
	"os"

	"k8s.io/klog/v2"
)

// socket is NOTIFY_SOCKET as systemd set it, taken when the process
// starts: the kube-apiserver in this process sends READY=1 itself as soon
// as it listens (and unsets the variable), seconds before the cluster
// serves, and containerd, a child, would do the same for its own start.
var socket = take()

func take() string {
	s := os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	return s
}

// Ready sends READY=1 to the socket systemd named in NOTIFY_SOCKET, with
// status as the unit's STATUS= line (what `systemctl status` shows). It
// returns false, doing nothing, when skiff was not started by systemd.
func Ready(status string) (bool, error) {
	addr := socket
	if addr == "" {
		return false, nil
	}
	// A leading @ names a socket in the abstract namespace.
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("telling systemd skiff is ready: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("READY=1\nSTATUS=" + status + "\n")); err != nil {
		return false, fmt.Errorf("telling systemd skiff is ready: %w", err)
	}
	return true, nil
}

// Tell is Ready for a role's start-up: not being able to tell systemd is
// logged, not fatal (the unit's start then times out, or it was not
// Type=notify).
func Tell(status string) {
	if sent, err := Ready(status); err != nil {
		klog.ErrorS(err, "The service manager was not told")
	} else if sent {
		klog.InfoS("Told systemd skiff is ready")
	}
}
