package images

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/image-spec/identity"

	"github.com/skiff-k8s/skiff/embedded"
	"github.com/skiff-k8s/skiff/internal/bundle"
	"github.com/skiff-k8s/skiff/internal/containerd"
)

// TestIntegrationEmbeddedImages starts the bundle's containerd on a fresh
// root, imports what a node imports at its first start (the pause image,
// the addons' images, then the deferred ones), and checks that each is
// pinned and unpacked, that a second start imports nothing, and that
// CoreDNS's image binds port 53 as its non-root user with only the
// capability its manifest grants.
func TestIntegrationEmbeddedImages(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a real containerd")
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test must run as root")
	}
	// A short path: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("/tmp", "skiff-img-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	binDir, err := bundle.Unpack(filepath.Join(dir, "data"), strings.TrimSpace(embedded.BundleSum),
		func() ([]byte, error) { return embedded.Bundle, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctd := containerd.New(containerd.Config{
		DataDir:        filepath.Join(dir, "data"),
		BinDir:         binDir,
		Socket:         filepath.Join(dir, "run", "containerd.sock"),
		State:          filepath.Join(dir, "run"),
		RegistriesFile: filepath.Join(dir, "registries.yaml"),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := ctd.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctd.Stop(context.Background()) }) //nolint:errcheck
	if err := ctd.Ready(ctx); err != nil {
		t.Fatal(err)
	}

	cfg := Config{
		Socket:         ctd.Config().Socket,
		DataDir:        filepath.Join(dir, "data"),
		StateFile:      filepath.Join(dir, "images.json"),
		PauseImage:     embedded.PauseImage,
		PauseImageName: embedded.PauseImageName,
		AddonImages:    embedded.AddonImages,
		DeferredImages: embedded.AirgapImages,
		Snapshotter:    ctd.Snapshotter(),
	}
	// importOnce returns how long the part took to be ready, and how much
	// longer the deferred images took.
	importOnce := func() (ready, deferred time.Duration) {
		t.Helper()
		start := time.Now()
		imp := New(cfg)
		if err := imp.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := imp.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		ready = time.Since(start)
		if err := imp.Deferred().Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-imp.Done()
		if err := imp.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		return ready, time.Since(start) - ready
	}
	first, firstDeferred := importOnce()
	second, secondDeferred := importOnce()
	t.Logf("import on a fresh containerd (%s): ready after %v, deferred images %v more; again, unchanged: %v and %v",
		ctd.Snapshotter(), first.Round(time.Millisecond), firstDeferred.Round(time.Millisecond),
		second.Round(time.Millisecond), secondDeferred.Round(time.Millisecond))

	cl, err := client.New(cfg.Socket, client.WithDefaultNamespace(DefaultNamespace))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx = namespaces.WithNamespace(ctx, DefaultNamespace)
	names := []string{embedded.PauseImageName, embedded.CoreDNSImageName}
	if embedded.AirgapImages != nil {
		names = append(names, embedded.TraefikImageName)
	}
	for _, name := range names {
		img, err := cl.ImageService().Get(ctx, name)
		if err != nil {
			t.Fatalf("%s was not imported: %v", name, err)
		}
		if img.Labels[labelPinned] != "pinned" || img.Labels[labelManaged] != "managed" {
			t.Errorf("%s: labels %v, want it managed and pinned", name, img.Labels)
		}
	}
	st := loadState(cfg.StateFile)
	if names, ok := st["embedded:images/coredns.tar"]; !ok || len(names.Images) == 0 {
		t.Errorf("the state file does not record the CoreDNS image: %v", st)
	}

	img, err := cl.GetImage(ctx, embedded.CoreDNSImageName)
	if err != nil {
		t.Fatal(err)
	}
	checkCapability(ctx, t, cl, img, cfg.Snapshotter, filepath.Join(dir, "view"))
	runCoreDNS(ctx, t, cl, img, cfg.Snapshotter, filepath.Join(dir, "fifo"))
}

// checkCapability mounts the image's unpacked root and checks that /coredns
// carries cap_net_bind_service, as setcap would have left it.
func checkCapability(ctx context.Context, t *testing.T, cl *client.Client, img client.Image, snapshotter, target string) {
	t.Helper()
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sn := cl.SnapshotService(snapshotter)
	mounts, err := sn.View(ctx, "skiff-images-test-view", identity.ChainID(diffIDs).String())
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Remove(ctx, "skiff-images-test-view") //nolint:errcheck
	if err := os.MkdirAll(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := mount.All(mounts, target); err != nil {
		t.Fatal(err)
	}
	defer mount.UnmountAll(target, 0) //nolint:errcheck
	buf := make([]byte, 64)
	n, err := syscall.Getxattr(filepath.Join(target, "coredns"), "security.capability", buf)
	if err != nil {
		t.Fatalf("/coredns has no file capability (%v): as user 65532 it could not bind port 53", err)
	}
	want := []byte{0x01, 0, 0, 0x02, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(buf[:n], want) {
		t.Errorf("/coredns security.capability %x, want %x (cap_net_bind_service=ep)", buf[:n], want)
	}
}

// runCoreDNS runs the image as its manifest does (its own user, every
// capability dropped but NET_BIND_SERVICE, no new privileges), with
// CoreDNS's built-in default Corefile, which serves port 53, and checks
// that it serves rather than failing to bind.
func runCoreDNS(ctx context.Context, t *testing.T, cl *client.Client, img client.Image, snapshotter, fifoDir string) {
	t.Helper()
	const id = "skiff-images-test-coredns"
	c, err := cl.NewContainer(ctx, id,
		client.WithImage(img),
		client.WithSnapshotter(snapshotter),
		client.WithNewSnapshot(id, img),
		client.WithNewSpec(
			oci.WithImageConfig(img),
			oci.WithProcessArgs("/coredns"),
			oci.WithCapabilities([]string{"CAP_NET_BIND_SERVICE"}),
			oci.WithNoNewPrivileges,
		))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Delete(context.WithoutCancel(ctx), client.WithSnapshotCleanup) //nolint:errcheck
	out := &syncBuffer{}
	task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, out, out), cio.WithFIFODir(fifoDir)))
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(context.WithoutCancel(ctx), client.WithProcessKill) //nolint:errcheck
	exited, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for !strings.Contains(out.String(), "CoreDNS-") {
		select {
		case st := <-exited:
			t.Fatalf("coredns exited with %d: %s", st.ExitCode(), out.String())
		case <-deadline:
			t.Fatalf("coredns did not start within 20 s: %q", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if s := out.String(); !strings.Contains(s, ".:53") || strings.Contains(s, "permission denied") {
		t.Errorf("coredns did not serve port 53: %s", s)
	}
	t.Logf("coredns as user 65532 with NET_BIND_SERVICE only:\n%s", out.String())
}

// syncBuffer is a bytes.Buffer the task's output goroutines can write while
// the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
