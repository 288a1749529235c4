package images

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/platforms"
	"github.com/klauspost/compress/zstd"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// Defaults.
const (
	DefaultSocket         = "/run/skiff/containerd/containerd.sock"
	DefaultNamespace      = "k8s.io" // the kubelet's (CRI's) namespace
	DefaultDataDir        = "/var/lib/skiff"
	DefaultPauseImageName = "registry.k8s.io/pause:3.10"
)

// Labels CRI reads on images.
const (
	labelManaged = "io.cri-containerd.image"  // CRI lists the image
	labelPinned  = "io.cri-containerd.pinned" // image GC keeps it
)

// Config says what to import where.
type Config struct {
	Socket    string // containerd's socket; default /run/skiff/containerd/containerd.sock
	Namespace string // default k8s.io
	DataDir   string // default /var/lib/skiff
	// ImagesDir holds image tarballs (.tar, .tar.gz, .tgz, .tar.zst); default
	// <DataDir>/agent/images.
	ImagesDir string
	// StateFile records what was imported; default
	// <DataDir>/agent/containerd/skiff-images.json, inside containerd's
	// root so that wiping that root re-imports everything.
	StateFile string
	// PauseImage is the embedded pause image, an OCI or docker-save
	// tarball; nil imports none.
	PauseImage []byte
	// PauseImageName names it; default registry.k8s.io/pause:3.10.
	PauseImageName string
	// AddonImages holds the images the built-in addons run
	// (embedded.AddonImages): every <name>.tar in it, at any depth, is an
	// image tarball, imported under the names it holds and pinned, like
	// the pause image, since no registry may give it back. The sha256 in
	// <name>.tar.sha256 beside it, when there is
	// one, is how a later start knows it unchanged without reading it. One
	// that cannot be imported is logged and skipped: its addon's pods
	// cannot start, but the node does. nil imports none.
	AddonImages fs.FS
	// DeferredImages holds addon images laid out as AddonImages, which
	// only pods that come later need (Traefik's, which a HelmChart
	// deploys once the node is up): they are imported, pinned, after
	// everything else and only once the part Deferred returns has
	// started, and the importer is ready without waiting for them. nil
	// imports none.
	DeferredImages fs.FS
	// Snapshotter to unpack for; "" asks containerd (overlayfs if it
	// loaded, native otherwise).
	Snapshotter string
	// Timeout bounds the import the part's readiness waits for, and then
	// the deferred images' import, each; default 5 minutes.
	Timeout time.Duration
}

func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Socket, DefaultSocket)
	def(&c.Namespace, DefaultNamespace)
	def(&c.DataDir, DefaultDataDir)
	def(&c.ImagesDir, filepath.Join(c.DataDir, "agent", "images"))
	def(&c.StateFile, filepath.Join(c.DataDir, "agent", "containerd", "skiff-images.json"))
	def(&c.PauseImageName, DefaultPauseImageName)
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	return c
}

var _ component.Component = (*Importer)(nil)

// Importer is the image import part; it runs once containerd is ready.
type Importer struct {
	cfg     Config
	ready   chan struct{} // closed when what the kubelet needs is imported, or run failed
	release chan struct{} // closed when the deferred images may be imported
	done    chan struct{} // closed when run returned, the deferred images imported too
	err     error         // why run failed before ready; set before ready is closed
	cancel  context.CancelFunc
	once    sync.Once // closes release
}

// New returns the part for cfg; empty fields take their defaults.
func New(cfg Config) *Importer {
	return &Importer{
		cfg: cfg.withDefaults(), cancel: func() {},
		ready: make(chan struct{}), release: make(chan struct{}), done: make(chan struct{}),
	}
}

// Deferred is the part that lets the importer go on to
// Config.DeferredImages, placed in a role where their import no longer
// competes with what must start first; it is ready at once. Without it
// they are never imported.
func (i *Importer) Deferred() component.Component { return deferredPart{i} }

type deferredPart struct{ i *Importer }

func (d deferredPart) Name() string { return "deferred-images" }
func (d deferredPart) Start(context.Context) error {
	d.i.once.Do(func() { close(d.i.release) })
	return nil
}
func (d deferredPart) Ready(context.Context) error { return nil }
func (d deferredPart) Stop(context.Context) error  { return nil }

// Name implements component.Component.
func (i *Importer) Name() string { return "images" }

// Start begins importing in the background.
func (i *Importer) Start(ctx context.Context) error {
	ctx, i.cancel = context.WithCancel(ctx)
	go func() {
		defer close(i.done)
		// Ready reports run's error only if run ends before it calls
		// ready: a deferred image's failure is logged, not the part's.
		var once sync.Once
		ready := func(err error) { once.Do(func() { i.err = err; close(i.ready) }) }
		ready(i.run(ctx, func() { ready(nil) }))
	}()
	return nil
}

// Ready waits until every image but the deferred ones is imported or
// skipped. Only failing to reach containerd (or to import the pause
// image) is an error: a bad tarball is logged and skipped.
func (i *Importer) Ready(ctx context.Context) error {
	select {
	case <-i.ready:
		return i.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed once the deferred images were imported too (or the
// import ended early).
func (i *Importer) Done() <-chan struct{} { return i.done }

// Stop cancels an import still running.
func (i *Importer) Stop(ctx context.Context) error {
	i.cancel()
	select {
	case <-i.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run imports everything, calling ready once all but the deferred
// images are in.
func (i *Importer) run(base context.Context, ready func()) error {
	start := time.Now()
	cl, err := client.New(i.cfg.Socket, client.WithDefaultNamespace(i.cfg.Namespace), client.WithTimeout(10*time.Second))
	if err != nil {
		return fmt.Errorf("connecting to containerd at %s: %w", i.cfg.Socket, err)
	}
	defer cl.Close()
	base = namespaces.WithNamespace(base, i.cfg.Namespace)
	ctx, cancel := context.WithTimeout(base, i.cfg.Timeout)
	defer cancel()
	snapshotter := i.cfg.Snapshotter
	if snapshotter == "" {
		snapshotter = detectSnapshotter(ctx, cl)
	}

	st := loadState(i.cfg.StateFile)
	imported, skipped, failed := 0, 0, 0
	var firstErr error

	pinned := map[string]string{labelManaged: "managed", labelPinned: "pinned"}
	if len(i.cfg.PauseImage) > 0 {
		src := source{Key: "embedded:" + i.cfg.PauseImageName, Size: int64(len(i.cfg.PauseImage)), MTime: hash64(i.cfg.PauseImage)}
		// Whatever the tarball calls it, this is its name.
		did, err := i.importOne(ctx, cl, st, src, snapshotter, pinned, i.cfg.PauseImageName, func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(i.cfg.PauseImage)), nil
		})
		switch {
		case err != nil:
			// Without it no pod starts: fail the part, saying so.
			return fmt.Errorf("importing the embedded pause image %s: %w", i.cfg.PauseImageName, err)
		case did:
			imported++
		default:
			skipped++
		}
	}

	// The addons' images before the airgap folder's, so that a user's
	// tarball of the same name replaces the built-in one.
	n, err := i.importAddons(ctx, cl, st, snapshotter, i.cfg.AddonImages)
	if err != nil {
		return err
	}
	imported, skipped, failed = imported+n.imported, skipped+n.skipped, failed+n.failed

	files, err := tarballs(i.cfg.ImagesDir)
	if err != nil {
		klog.ErrorS(err, "Listing image tarballs; importing none", "dir", i.cfg.ImagesDir)
	}
	for _, src := range files {
		did, err := i.importOne(ctx, cl, st, src, snapshotter, map[string]string{labelManaged: "managed"}, "", func() (io.ReadCloser, error) {
			return openTarball(src.Key)
		})
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("importing images: %w", ctx.Err())
		case err != nil:
			klog.ErrorS(err, "Skipping an image tarball that could not be imported", "file", src.Key)
			failed++
			if firstErr == nil {
				firstErr = err
			}
		case did:
			imported++
		default:
			skipped++
		}
	}
	// Forget files that are gone, so that their return is imported.
	for key := range st {
		if !strings.HasPrefix(key, "embedded:") {
			if _, err := os.Stat(key); err != nil {
				delete(st, key)
			}
		}
	}
	i.saveState(st)
	klog.InfoS("Images loaded", "imported", imported, "unchanged", skipped, "failed", failed, "snapshotter", snapshotter, "took", time.Since(start).Round(time.Millisecond))
	ready()

	// The kubelet needs none of the deferred images to start, and the
	// pods that run them come later: should one be scheduled before its
	// image is in, its pull fails and is retried.
	if i.cfg.DeferredImages == nil {
		return nil
	}
	select {
	case <-i.release:
	case <-base.Done():
		return nil
	}
	start = time.Now()
	ctx, cancelDeferred := context.WithTimeout(base, i.cfg.Timeout)
	defer cancelDeferred()
	n, err = i.importAddons(ctx, cl, st, snapshotter, i.cfg.DeferredImages)
	if err != nil {
		return err
	}
	i.saveState(st)
	klog.InfoS("Deferred images loaded", "imported", n.imported, "unchanged", n.skipped, "failed", n.failed, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (i *Importer) saveState(st state) {
	if err := st.save(i.cfg.StateFile); err != nil {
		klog.ErrorS(err, "Saving the image import state; the next start imports again", "file", i.cfg.StateFile)
	}
}

// counts are what an import pass did.
type counts struct{ imported, skipped, failed int }

// importAddons imports, pinned, every addon image in fsys (laid out as
// Config.AddonImages); one that cannot be imported is logged and skipped.
// Only the import's end (ctx) is an error.
func (i *Importer) importAddons(ctx context.Context, cl *client.Client, st state, snapshotter string, fsys fs.FS) (counts, error) {
	var n counts
	addons, err := addonImages(fsys)
	if err != nil {
		klog.ErrorS(err, "Listing the embedded addon images; importing none, so the addons cannot start")
	}
	pinned := map[string]string{labelManaged: "managed", labelPinned: "pinned"}
	for _, a := range addons {
		did, err := i.importOne(ctx, cl, st, a.source, snapshotter, pinned, "", func() (io.ReadCloser, error) {
			return openAddonImage(fsys, a.path)
		})
		switch {
		case ctx.Err() != nil:
			return n, fmt.Errorf("importing images: %w", ctx.Err())
		case err != nil:
			klog.ErrorS(err, "Skipping an embedded addon image that could not be imported; the addon that runs it cannot start", "image", a.path)
			n.failed++
		case did:
			n.imported++
		default:
			n.skipped++
		}
	}
	return n, nil
}

// importOne imports src unless the state says it is unchanged and its
// images are still there; it reports whether it imported. indexName, if
// set, names the tarball's image whatever the tarball calls it.
func (i *Importer) importOne(ctx context.Context, cl *client.Client, st state, src source, snapshotter string, labels map[string]string, indexName string, open func() (io.ReadCloser, error)) (bool, error) {
	if names, ok := st.unchanged(src); ok && allExist(ctx, cl, names) {
		return false, nil
	}
	r, err := open()
	if err != nil {
		return false, err
	}
	defer r.Close()
	opts := []client.ImportOpt{
		client.WithImageLabels(labels),
		client.WithImportPlatform(platforms.Default()),
		client.WithSkipMissing(),
	}
	if indexName != "" {
		opts = append(opts, client.WithIndexName(indexName))
	}
	t0 := time.Now()
	// One lease over import and unpack: without it containerd's garbage
	// collector may take blobs that no image record holds yet.
	ctx, done, err := cl.WithLease(ctx)
	if err != nil {
		return false, fmt.Errorf("taking a lease: %w", err)
	}
	defer done(context.WithoutCancel(ctx)) //nolint:errcheck // the lease expires by itself
	imgs, err := cl.Import(ctx, r, opts...)
	if err != nil {
		return false, err
	}
	if len(imgs) == 0 {
		return false, errors.New("holds no named image")
	}
	var names []string
	for _, img := range imgs {
		if slices.Contains(names, img.Name) {
			continue // named both by the index and by its manifest
		}
		if err := client.NewImageWithPlatform(cl, img, platforms.Default()).Unpack(ctx, snapshotter); err != nil {
			return false, fmt.Errorf("unpacking %s for %s: %w", img.Name, snapshotter, err)
		}
		names = append(names, img.Name)
	}
	st[src.Key] = record{Size: src.Size, MTime: src.MTime, Images: names}
	klog.V(1).InfoS("Imported images", "source", src.Key, "images", names, "took", time.Since(t0).Round(time.Millisecond))
	return true, nil
}

func allExist(ctx context.Context, cl *client.Client, names []string) bool {
	if len(names) == 0 {
		return false
	}
	for _, n := range names {
		if _, err := cl.ImageService().Get(ctx, n); err != nil {
			return false
		}
	}
	return true
}

// detectSnapshotter is what CRI uses in skiff's config: overlayfs when its
// plugin loaded, native otherwise.
func detectSnapshotter(ctx context.Context, cl *client.Client) string {
	resp, err := cl.IntrospectionService().Plugins(ctx, "type==io.containerd.snapshotter.v1,id==overlayfs")
	if err == nil {
		for _, p := range resp.Plugins {
			if p.InitErr == nil {
				return "overlayfs"
			}
		}
	}
	return "native"
}

// openTarball opens a tarball, decompressing by its suffix or, failing
// that, by its magic number.
func openTarball(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 64<<10)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("reading gzip: %w", err)
		}
		return readCloser{zr, func() error { zr.Close(); return f.Close() }}, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("reading zstd: %w", err)
		}
		return readCloser{zr, func() error { zr.Close(); return f.Close() }}, nil
	}
	return readCloser{br, f.Close}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

func hash64(b []byte) int64 {
	sum := sha256.Sum256(b)
	return int64(binary.BigEndian.Uint64(sum[:8]))
}
