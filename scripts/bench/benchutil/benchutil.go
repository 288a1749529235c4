package benchutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Main runs bench until it returns or SIGINT/SIGTERM cancels its context,
// and exits 1 with its error on one line. interrupted says what was left
// behind when the run was interrupted ("node stopped").
func Main(bench func(ctx context.Context) error, interrupted string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted; %s: %w", interrupted, err)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

// Binary is the skiff binary under test at path: its absolute path and
// size, or why it cannot be used.
func Binary(path string) (string, int64, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", 0, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", 0, fmt.Errorf("skiff binary: %w (build it first with scripts/build, or pass -bin)", err)
	}
	return abs, st.Size(), nil
}

// FmtDur prints a duration as seconds with two decimals.
func FmtDur(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// Tail is the last n lines of the file at path, headed by its name, for an
// error message ("" when unreadable).
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "last lines of " + path + ":\n  " + strings.Join(lines, "\n  ")
}

// NodeInputs checks what a bench that runs a node needs: root, the skiff
// binary at binPath (its absolute path and size), the test image tarball
// (its bytes), and no skiff already running on the host.
func NodeInputs(binPath, imageTar string) (bin string, size int64, image []byte, err error) {
	if os.Geteuid() != 0 {
		return "", 0, nil, errors.New("a node needs root: run the bench as root")
	}
	if bin, size, err = Binary(binPath); err != nil {
		return "", 0, nil, err
	}
	if image, err = os.ReadFile(imageTar); err != nil {
		return "", 0, nil, fmt.Errorf("test image: %w (scripts/build makes it, or pass -image)", err)
	}
	return bin, size, image, RefuseIfRunning()
}
