package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/klauspost/compress/zstd"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/plugins/content/local"
)

const (
	testName  = "docker.io/skiff/ociimage-test:v1"
	testAlias = "docker.io/skiff/ociimage-test:v1.0.0"
)

func testOptions(t *testing.T) Options {
	return Options{
		Names: []string{testName}, Arch: runtime.GOARCH, OS: "linux",
		Entrypoint: []string{"/bin/hello"}, Cmd: []string{"world"}, User: "65535:65535",
		Expose: []string{"8080/tcp"},
		Files: []File{
			{Path: "/bin/hello", Data: []byte("#!/bin/sh\necho hello\n")},
			{Path: "/pause", Data: []byte("not really pause")},
		},
	}
}

func writeImage(t *testing.T, o Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readTar returns the regular files of a tarball by name.
func readTar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || !hdr.ModTime.Equal(epoch) {
			t.Errorf("%s: owner %d:%d time %v, want 0:0 at %v", hdr.Name, hdr.Uid, hdr.Gid, hdr.ModTime, epoch)
		}
		if hdr.Typeflag == tar.TypeReg {
			data, _ := io.ReadAll(tr)
			files[hdr.Name] = data
		}
	}
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// blobAt returns the blob that descriptor d names and checks its size and digest.
func blobAt(t *testing.T, files map[string][]byte, d descriptor) []byte {
	t.Helper()
	data, ok := files["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
	if !ok {
		t.Fatalf("blob %s is missing", d.Digest)
	}
	if int64(len(data)) != d.Size || digestOf(data) != d.Digest {
		t.Fatalf("blob %s: size %d digest %s, want %d", d.Digest, len(data), digestOf(data), d.Size)
	}
	return data
}

func TestLayout(t *testing.T) {
	files := readTar(t, bytes.NewReader(writeImage(t, testOptions(t))))

	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout %q", got)
	}
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 {
		t.Fatalf("index has %d manifests", len(idx.Manifests))
	}
	md := idx.Manifests[0]
	for _, a := range []string{annotationImageName, annotationRefName} {
		if md.Annotations[a] != testName {
			t.Errorf("annotation %s = %q, want %q", a, md.Annotations[a], testName)
		}
	}
	if md.Platform == nil || md.Platform.Architecture != runtime.GOARCH || md.Platform.OS != "linux" {
		t.Errorf("platform %+v", md.Platform)
	}

	var m manifest
	if err := json.Unmarshal(blobAt(t, files, md), &m); err != nil {
		t.Fatal(err)
	}
	var cfg config
	if err := json.Unmarshal(blobAt(t, files, m.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != runtime.GOARCH || cfg.OS != "linux" {
		t.Errorf("config platform %s/%s", cfg.OS, cfg.Architecture)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/bin/hello" || strings.Join(cfg.Config.Cmd, " ") != "world" ||
		cfg.Config.User != "65535:65535" {
		t.Errorf("config %+v", cfg.Config)
	}
	if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v", cfg.Config.ExposedPorts)
	}

	if len(m.Layers) != 1 || m.Layers[0].MediaType != mediaTypeLayer {
		t.Fatalf("layers %+v", m.Layers)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blobAt(t, files, m.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	layerTar, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != digestOf(layerTar) {
		t.Errorf("diff_ids %v, want [%s]", cfg.RootFS.DiffIDs, digestOf(layerTar))
	}
	tr := tar.NewReader(bytes.NewReader(layerTar))
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		if hdr.Typeflag == tar.TypeReg && hdr.Mode != 0o755 {
			t.Errorf("%s: mode %o, want 0755", hdr.Name, hdr.Mode)
		}
	}
	if got := strings.Join(names, " "); got != "bin/ bin/hello pause" {
		t.Errorf("layer holds %q", got)
	}

	var dm []dockerManifest
	if err := json.Unmarshal(files["manifest.json"], &dm); err != nil {
		t.Fatal(err)
	}
	if len(dm) != 1 || len(dm[0].RepoTags) != 1 || dm[0].RepoTags[0] != testName ||
		dm[0].Config != "blobs/sha256/"+strings.TrimPrefix(m.Config.Digest, "sha256:") ||
		len(dm[0].Layers) != 1 || dm[0].Layers[0] != "blobs/sha256/"+strings.TrimPrefix(m.Layers[0].Digest, "sha256:") {
		t.Errorf("manifest.json %+v", dm)
	}
}

func TestReproducible(t *testing.T) {
	a := writeImage(t, testOptions(t))
	o := testOptions(t)
	o.Files[0], o.Files[1] = o.Files[1], o.Files[0] // order of -file flags does not matter
	if b := writeImage(t, o); !bytes.Equal(a, b) {
		t.Error("the same files gave different tarballs")
	}
}

func TestRefusesBadInput(t *testing.T) {
	for name, change := range map[string]func(*Options){
		"short name":    func(o *Options) { o.Names = []string{"pause:3.10"} },
		"no name":       func(o *Options) { o.Names = nil },
		"name twice":    func(o *Options) { o.Names = []string{testName, testName} },
		"no tag":        func(o *Options) { o.Names = []string{"registry.k8s.io/pause"} },
		"relative path": func(o *Options) { o.Files[0].Path = "pause" },
		"twice":         func(o *Options) { o.Files[1].Path = o.Files[0].Path },
		"no files":      func(o *Options) { o.Files = nil },
	} {
		o := testOptions(t)
		change(&o)
		if err := Write(io.Discard, o); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

// An uncompressed layer is the plain tar its diff_id names, and a file
// given capabilities carries them as the xattr setcap would write.
func TestUncompressedLayerWithCapability(t *testing.T) {
	o := testOptions(t)
	o.LayerCompression = "none"
	o.Files[1].Caps = []string{"net_bind_service"}
	files := readTar(t, bytes.NewReader(writeImage(t, o)))
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(blobAt(t, files, idx.Manifests[0]), &m); err != nil {
		t.Fatal(err)
	}
	var cfg config
	if err := json.Unmarshal(blobAt(t, files, m.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != mediaTypeLayerTar || cfg.RootFS.DiffIDs[0] != m.Layers[0].Digest {
		t.Fatalf("layers %+v, diff_ids %v: want one plain tar whose digest is its diff_id", m.Layers, cfg.RootFS.DiffIDs)
	}
	tr := tar.NewReader(bytes.NewReader(blobAt(t, files, m.Layers[0])))
	// What `setcap cap_net_bind_service=+ep` writes (getfattr -e hex shows
	// 0x0100000200040000000000000000000000000000): little-endian words,
	// magic 0x02000001, permitted 1<<10, the rest zero.
	want := []byte{0x01, 0, 0, 0x02, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			t.Fatal("the layer has no pause file")
		}
		if err != nil {
			t.Fatal(err)
		}
		got, has := hdr.PAXRecords["SCHILY.xattr.security.capability"]
		if hdr.Name != "pause" {
			if has {
				t.Errorf("%s has capabilities it was not given", hdr.Name)
			}
			continue
		}
		if !bytes.Equal([]byte(got), want) {
			t.Fatalf("pause: security.capability %x, want %x", got, want)
		}
		break
	}
	o.Files[1].Caps = []string{"sys_everything"}
	if err := Write(io.Discard, o); err == nil || !strings.Contains(err.Error(), "net_bind_service") {
		t.Errorf("an unknown capability: %v, want an error listing the known ones", err)
	}
}

// A zstd layer is declared as one, and decompresses to the tar its
// diff_id names.
func TestZstdLayer(t *testing.T) {
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Fatal("the zstd command is missing: scripts/deps installs it (Debian: zstd)")
	}
	o := testOptions(t)
	o.LayerCompression = "zstd"
	files := readTar(t, bytes.NewReader(writeImage(t, o)))
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(blobAt(t, files, idx.Manifests[0]), &m); err != nil {
		t.Fatal(err)
	}
	var cfg config
	if err := json.Unmarshal(blobAt(t, files, m.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != mediaTypeLayerZst {
		t.Fatalf("layers %+v: want one %s", m.Layers, mediaTypeLayerZst)
	}
	zr, err := zstd.NewReader(bytes.NewReader(blobAt(t, files, m.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := newBlob(plain).digest; got != cfg.RootFS.DiffIDs[0] {
		t.Errorf("the decompressed layer's digest is %s, want its diff_id %s", got, cfg.RootFS.DiffIDs[0])
	}
	if !bytes.Equal(writeImage(t, o), writeImage(t, o)) {
		t.Error("two writes of the same zstd image differ")
	}
}

// TestContainerdImportNamesImage runs containerd's own importer, the one the
// node's image import uses, and checks that it names the image in full,
// under each name.
func TestContainerdImportNamesImage(t *testing.T) {
	store, err := local.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := testOptions(t)
	o.Names = append(o.Names, testAlias)
	desc, err := archive.ImportIndex(ctx, store, bytes.NewReader(writeImage(t, o)))
	if err != nil {
		t.Fatal(err)
	}
	data, err := content.ReadBlob(ctx, store, desc)
	if err != nil {
		t.Fatal(err)
	}
	var idx index
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 2 || idx.Manifests[0].Annotations[annotationImageName] != testName ||
		idx.Manifests[1].Annotations[annotationImageName] != testAlias || idx.Manifests[0].Digest != idx.Manifests[1].Digest {
		t.Errorf("containerd imported %+v, want the manifest named %s and %s", idx.Manifests, testName, testAlias)
	}
}

// TestDockerLoad loads the tarball into docker, when there is one.
func TestDockerLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("talks to docker; skipped under -short")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed: cannot check that docker load accepts the tarball")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("docker is installed but its daemon does not answer: cannot check docker load")
	}
	path := filepath.Join(t.TempDir(), "image.tar")
	o := testOptions(t)
	o.Names = append(o.Names, testAlias)
	if err := os.WriteFile(path, writeImage(t, o), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("docker", "load", "-i", path).CombinedOutput()
	if err != nil {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	// docker shortens docker.io/ names.
	short := []string{"skiff/ociimage-test:v1", "skiff/ociimage-test:v1.0.0"}
	t.Cleanup(func() { exec.Command("docker", append([]string{"rmi"}, short...)...).Run() })
	for _, name := range short {
		if !strings.Contains(string(out), "Loaded image: "+name+"\n") {
			t.Errorf("docker load said %q, want it to load %s", out, name)
		}
	}
}

func TestMerge(t *testing.T) {
	a := testOptions(t)
	b := testOptions(t)
	b.Names = []string{"example.com/other:v2"}
	b.Files = append(b.Files, File{Path: "/etc/other", Data: []byte("other")})
	var buf bytes.Buffer
	if err := Merge(&buf, writeImage(t, a), writeImage(t, b)); err != nil {
		t.Fatal(err)
	}
	files := readTar(t, &buf)
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range idx.Manifests {
		names = append(names, m.Annotations[annotationImageName])
		if blobAt(t, files, m) == nil {
			t.Errorf("%s: manifest blob missing", m.Digest)
		}
	}
	if want := []string{testName, "example.com/other:v2"}; !slices.Equal(names, want) {
		t.Errorf("merged index names %q, want %q", names, want)
	}
	var docker []dockerManifest
	if err := json.Unmarshal(files["manifest.json"], &docker); err != nil || len(docker) != 2 {
		t.Fatalf("manifest.json: %v, %d entries, want 2", err, len(docker))
	}
	for _, d := range docker {
		for _, p := range append([]string{d.Config}, d.Layers...) {
			if _, ok := files[p]; !ok {
				t.Errorf("%v: %s missing", d.RepoTags, p)
			}
		}
	}
}
