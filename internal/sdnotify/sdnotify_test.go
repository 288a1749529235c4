package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// setSocket stands for systemd's NOTIFY_SOCKET, which the package took
// when the test binary started.
func setSocket(t *testing.T, s string) {
	old := socket
	socket = s
	t.Cleanup(func() { socket = old })
}

func TestTakenAtStart(t *testing.T) {
	if v, ok := os.LookupEnv("NOTIFY_SOCKET"); ok {
		t.Errorf("NOTIFY_SOCKET is still set (%q): the apiserver would notify systemd itself", v)
	}
}

func TestReadyWithoutSystemd(t *testing.T) {
	setSocket(t, "")
	sent, err := Ready("up")
	if sent || err != nil {
		t.Fatalf("Ready without NOTIFY_SOCKET = %v, %v; want false, nil", sent, err)
	}
}

func TestReadySendsToTheSocket(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "notify")
		name, env := path, path
		if abstract {
			name = "\x00skiff-sdnotify-test-" + filepath.Base(filepath.Dir(path))
			env = "@" + name[1:]
		}
		ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		setSocket(t, env)

		sent, err := Ready("API answering")
		if !sent || err != nil {
			t.Fatalf("Ready (abstract %v) = %v, %v", abstract, sent, err)
		}
		buf := make([]byte, 256)
		_ = ln.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := ln.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(buf[:n]), "READY=1\nSTATUS=API answering\n"; got != want {
			t.Errorf("sent %q, want %q", got, want)
		}
	}
}

func TestReadyToAMissingSocket(t *testing.T) {
	setSocket(t, filepath.Join(t.TempDir(), "absent"))
	if sent, err := Ready("up"); sent || err == nil {
		t.Fatalf("Ready to a missing socket = %v, %v; want an error", sent, err)
	}
}
