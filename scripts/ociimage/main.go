// Command ociimage writes a one-layer container image as a tarball that both
// containerd (ctr images import, the CRI image import) and docker load accept:
// an OCI image layout whose index names the image, plus the docker-style
// manifest.json. scripts/bundle uses it for the pause and test images.
//
//	go run ./scripts/ociimage -name registry.k8s.io/pause:3.10 -o pause.tar \
//	    -entrypoint /pause -file /pause=build/bundle/pause
//
// -name may be repeated: the image is then imported under every name.
//
// -layer-compression zstd compresses the layer with the zstd command at
// level 19 (what skiff's addon images use: smaller than gzip, and
// containerd keeps the compressed blob and decompresses it fast when it
// unpacks); none stores a plain tar. -cap /path=net_bind_service
// gives a file that capability (as setcap cap_net_bind_service=+ep does),
// recorded in the layer as the security.capability xattr: a non-root
// process may then bind ports below 1024 if its container allows the
// capability.
//
// The output depends only on the inputs: fixed timestamps and owners, sorted
// entries, so rebuilding the same files gives the same bytes and digests.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Media types and annotations of the OCI image spec and containerd.
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	mediaTypeLayerTar = "application/vnd.oci.image.layer.v1.tar"
	mediaTypeLayerZst = "application/vnd.oci.image.layer.v1.tar+zstd"

	annotationRefName   = "org.opencontainers.image.ref.name"
	annotationImageName = "io.containerd.image.name"
)

// epoch is the time stamp of every file and of the image, so that the output
// is reproducible.
var epoch = time.Unix(0, 0).UTC()

// File is one file of the image's only layer.
type File struct {
	Path string // absolute path in the image
	Data []byte
	// Caps are file capabilities (names as in capabilities(7), lower case,
	// without "cap_"), permitted and effective, as setcap NAME=+ep sets them.
	Caps []string
}

// capabilityBits are the capabilities -cap knows, by number
// (linux/capability.h); add one here when an image needs it.
var capabilityBits = map[string]uint{
	"net_bind_service": 10,
	"net_admin":        12,
	"net_raw":          13,
}

// xattrCapability is the extended attribute that holds file capabilities.
const xattrCapability = "security.capability"

// vfsCapData encodes caps as the kernel's struct vfs_cap_data, revision 2
// (what setcap writes outside a user namespace): a little-endian magic word
// with the effective flag, then permitted and inheritable for bits 0-31 and
// 32-63.
func vfsCapData(caps []string) ([]byte, error) {
	var permitted uint64
	for _, c := range caps {
		bit, ok := capabilityBits[c]
		if !ok {
			return nil, fmt.Errorf("unknown capability %q: known are %s", c, strings.Join(slices.Sorted(maps.Keys(capabilityBits)), ", "))
		}
		permitted |= 1 << bit
	}
	const revision2, flagEffective = 0x02000000, 0x000001
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], revision2|flagEffective)
	binary.LittleEndian.PutUint32(b[4:], uint32(permitted))
	binary.LittleEndian.PutUint32(b[12:], uint32(permitted>>32))
	return b, nil
}

// Options describe the image.
type Options struct {
	Names      []string // full references, registry/repository:tag
	Arch       string
	OS         string
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	Expose     []string // "8080/tcp"
	Files      []File
	// LayerCompression is gzip (the default when empty), zstd (through the
	// zstd command, level 19) or none.
	LayerCompression string
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type imageConfig struct {
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	User         string              `json:"User,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
}

type config struct {
	Created      string      `json:"created"`
	Architecture string      `json:"architecture"`
	OS           string      `json:"os"`
	Config       imageConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	} `json:"history"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// dockerManifest is one entry of the manifest.json that docker load reads.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// blob is content addressed by its sha256.
type blob struct {
	digest string // "sha256:<hex>"
	data   []byte
}

func newBlob(data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{digest: "sha256:" + hex.EncodeToString(sum[:]), data: data}
}

func (b blob) path() string { return "blobs/sha256/" + strings.TrimPrefix(b.digest, "sha256:") }

// compressLayer compresses the layer tar as asked, the same input always
// to the same bytes: gzip with no name and a zero time in its header, zstd
// single-threaded.
func compressLayer(layerTar []byte, how string) (blob, string, error) {
	switch how {
	case "none":
		return newBlob(layerTar), mediaTypeLayerTar, nil
	case "zstd":
		cmd := exec.Command("zstd", "-19", "-q", "-c", "-T1")
		cmd.Stdin = bytes.NewReader(layerTar)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return blob{}, "", fmt.Errorf("compressing the layer with the zstd command (Debian: apt-get install zstd): %v: %s", err, errOut.String())
		}
		return newBlob(out.Bytes()), mediaTypeLayerZst, nil
	case "", "gzip":
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(layerTar)
		if err := zw.Close(); err != nil {
			return blob{}, "", fmt.Errorf("compressing the layer: %w", err)
		}
		return newBlob(gz.Bytes()), mediaTypeLayer, nil
	}
	return blob{}, "", fmt.Errorf("layer compression %q: want gzip, zstd or none", how)
}

// Write writes the image tarball described by o to w.
func Write(w io.Writer, o Options) error {
	if err := validate(o); err != nil {
		return err
	}
	layerTar, err := layer(o.Files)
	if err != nil {
		return err
	}
	diffID := newBlob(layerTar).digest
	layerBlob, layerType, err := compressLayer(layerTar, o.LayerCompression)
	if err != nil {
		return err
	}

	cfg := config{Created: epoch.Format(time.RFC3339), Architecture: o.Arch, OS: o.OS}
	cfg.Config = imageConfig{
		Entrypoint: o.Entrypoint, Cmd: o.Cmd, User: o.User, WorkingDir: "/",
		Env: append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, o.Env...),
	}
	for _, p := range o.Expose {
		if cfg.Config.ExposedPorts == nil {
			cfg.Config.ExposedPorts = map[string]struct{}{}
		}
		cfg.Config.ExposedPorts[p] = struct{}{}
	}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{diffID}
	cfg.History = append(cfg.History, struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	}{cfg.Created, "skiff scripts/ociimage"})
	configBlob, err := jsonBlob(cfg)
	if err != nil {
		return err
	}

	m := manifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeManifest,
		Config:        descriptor{MediaType: mediaTypeConfig, Digest: configBlob.digest, Size: int64(len(configBlob.data))},
		Layers:        []descriptor{{MediaType: layerType, Digest: layerBlob.digest, Size: int64(len(layerBlob.data))}},
	}
	manifestBlob, err := jsonBlob(m)
	if err != nil {
		return err
	}

	idx := index{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: []descriptor{}}
	for _, name := range o.Names {
		idx.Manifests = append(idx.Manifests, descriptor{
			MediaType: mediaTypeManifest,
			Digest:    manifestBlob.digest,
			Size:      int64(len(manifestBlob.data)),
			// containerd names the imported image after io.containerd.image.name;
			// ref.name is the OCI layout's own naming, which other tools read.
			Annotations: map[string]string{annotationImageName: name, annotationRefName: name},
			Platform:    &platform{Architecture: o.Arch, OS: o.OS},
		})
	}
	docker := []dockerManifest{{Config: configBlob.path(), RepoTags: o.Names, Layers: []string{layerBlob.path()}}}
	return writeLayout(w, idx, docker, []blob{configBlob, layerBlob, manifestBlob})
}

// writeLayout writes the tarball: an OCI image layout that is also what
// docker load reads (manifest.json), blobs in the order given.
func writeLayout(w io.Writer, idx index, docker []dockerManifest, blobs []blob) error {
	indexJSON, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	dockerJSON, err := json.Marshal(docker)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", indexJSON},
		{"manifest.json", dockerJSON},
	}
	for _, b := range blobs {
		entries = append(entries, struct {
			name string
			data []byte
		}{b.path(), b.data})
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(dirHeader(dir)); err != nil {
			return err
		}
	}
	for _, e := range entries {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.data)), Mode: 0o644, ModTime: epoch, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

func validate(o Options) error {
	if len(o.Names) == 0 {
		return errors.New("-name is required: a full reference such as registry.k8s.io/pause:3.10")
	}
	for i, name := range o.Names {
		domain, rest, ok := strings.Cut(name, "/")
		if !ok || !(strings.ContainsAny(domain, ".:") || domain == "localhost") {
			return fmt.Errorf("image name %q has no registry: give the full reference, such as docker.io/library/%s", name, name)
		}
		if j := strings.LastIndex(rest, ":"); j < 0 || j == len(rest)-1 || strings.Contains(rest[j:], "/") {
			return fmt.Errorf("image name %q has no tag: add one, such as %s:v1", name, name)
		}
		if slices.Contains(o.Names[:i], name) {
			return fmt.Errorf("image name %q is given twice", name)
		}
	}
	if o.Arch == "" || o.OS == "" {
		return errors.New("the image needs an architecture and an OS")
	}
	if len(o.Files) == 0 {
		return errors.New("the image has no files: give at least one -file /path=source")
	}
	seen := map[string]bool{}
	for _, f := range o.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return fmt.Errorf("image path %q must be absolute and clean, such as /pause", f.Path)
		}
		if seen[f.Path] {
			return fmt.Errorf("image path %q is given twice", f.Path)
		}
		seen[f.Path] = true
	}
	return nil
}

// layer returns the uncompressed tar of files, each mode 0755 and owned by
// root, with their parent folders.
func layer(files []File) ([]byte, error) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		name := strings.TrimPrefix(f.Path, "/")
		var parents []string
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			parents = append(parents, d)
		}
		slices.Reverse(parents)
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(dirHeader(d + "/")); err != nil {
				return nil, err
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(f.Data)), Mode: 0o755, ModTime: epoch, Format: tar.FormatUSTAR}
		if len(f.Caps) > 0 {
			capData, err := vfsCapData(f.Caps)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Path, err)
			}
			// The PAX record containerd and docker turn into the xattr.
			hdr.Format = tar.FormatPAX
			hdr.PAXRecords = map[string]string{"SCHILY.xattr." + xattrCapability: string(capData)}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("adding %s to the layer: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func dirHeader(name string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch, Format: tar.FormatUSTAR}
}

func jsonBlob(v any) (blob, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return blob{}, err
	}
	return newBlob(data), nil
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var (
		o                           Options
		out                         string
		names, entrypoint, cmd, env list
		expose, files, caps, merge  list
	)
	flag.Var(&names, "name", "full image reference, such as registry.k8s.io/pause:3.10; repeatable")
	flag.StringVar(&out, "o", "", "output tarball")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "image architecture; must match the node's")
	flag.StringVar(&o.OS, "os", "linux", "image OS")
	flag.StringVar(&o.User, "user", "", "user to run as, such as 65535:65535")
	flag.Var(&entrypoint, "entrypoint", "entrypoint; repeat for each argument")
	flag.Var(&cmd, "cmd", "default arguments; repeat for each argument")
	flag.Var(&env, "env", "KEY=VALUE; repeatable")
	flag.Var(&expose, "expose", "exposed port such as 8080/tcp; repeatable")
	flag.Var(&files, "file", "/path/in/image=source; repeatable")
	flag.Var(&caps, "cap", "/path/in/image=capability[,capability]: file capabilities, as setcap cap_NAME=+ep; repeatable")
	flag.StringVar(&o.LayerCompression, "layer-compression", "gzip", "gzip, zstd (the zstd command, level 19) or none for a plain tar layer")
	flag.Var(&merge, "merge", "instead of building an image, write every image of this tarball into -o; repeatable")
	flag.Parse()
	o.Names, o.Entrypoint, o.Cmd, o.Env, o.Expose = names, entrypoint, cmd, env, expose

	run := func() error { return run(o, out, files, caps) }
	if len(merge) > 0 {
		run = func() error { return runMerge(out, merge) }
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(o Options, out string, files, caps []string) error {
	if out == "" {
		return errors.New("-o is required: the tarball to write")
	}
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: give files with -file /path=source", flag.Args())
	}
	for _, f := range files {
		dst, src, ok := strings.Cut(f, "=")
		if !ok || src == "" {
			return fmt.Errorf("-file %q: want /path/in/image=source", f)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		o.Files = append(o.Files, File{Path: dst, Data: data})
	}
	for _, c := range caps {
		dst, names, ok := strings.Cut(c, "=")
		i := slices.IndexFunc(o.Files, func(f File) bool { return f.Path == dst })
		if !ok || names == "" || i < 0 {
			return fmt.Errorf("-cap %q: want /path=capability, naming a path given with -file", c)
		}
		o.Files[i].Caps = append(o.Files[i].Caps, strings.Split(names, ",")...)
	}
	var buf bytes.Buffer
	if err := Write(&buf, o); err != nil {
		return err
	}
	// Through a temporary file, so a failed run leaves no half tarball.
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
