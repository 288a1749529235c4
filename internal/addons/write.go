package addons

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// manifests are the addons' manifest templates, one file per addon named
// after it; an addon that runs in-process only (servicelb) has none.
//
//go:embed manifests/*.yaml
var manifests embed.FS

// Values are what the templates may use.
type Values struct {
	ClusterDNS    string // the kube-dns Service's IP, --cluster-dns
	ClusterDomain string // --cluster-domain
	ClusterCIDR   string
	ServiceCIDR   string
	// CoreDNSImage is the cluster DNS image, by the name upstream
	// publishes it under and the binary carries it.
	CoreDNSImage string
	// LocalStoragePath is --default-local-storage-path, empty when each
	// node uses its own <data-dir>/storage.
	LocalStoragePath string
	// ServerCABase64 is the server CA (PEM, base64), which aggregated
	// APIs the server serves itself are verified with.
	ServerCABase64 string
	// MetricsPort is where the server serves the metrics API.
	MetricsPort int
	// TraefikImage is the ingress controller's image, by the name
	// upstream publishes it under and skiff builds it.
	TraefikImage ImageRef
}

// ImageRef is a full image reference, registry/repository:tag, which a
// chart's values take apart.
type ImageRef string

// Registry is the reference's host, such as docker.io.
func (r ImageRef) Registry() string {
	registry, _, _ := strings.Cut(string(r), "/")
	return registry
}

// Repository is the path between the registry and the tag, such as
// library/traefik.
func (r ImageRef) Repository() string {
	_, rest, _ := strings.Cut(string(r), "/")
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// Tag is what follows the last colon, such as v3.7.13.
func (r ImageRef) Tag() string {
	_, rest, _ := strings.Cut(string(r), "/")
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		return rest[i+1:]
	}
	return ""
}

// templateData is what a manifest template sees: the values, and the
// file names of the charts skiff carries (Charts["traefik"] is
// "traefik-<version>.tgz"), which its HelmCharts point at.
type templateData struct {
	Values
	Charts map[string]string
}

// SkipSuffix marks a manifest the user took over: skiff neither rewrites
// nor applies <file> while <file>.skip exists (k3s's convention).
const SkipSuffix = ".skip"

// Write renders every enabled addon's manifest into dir and removes the
// files of disabled ones, so that the deploy controller deploys the first
// and removes what the others deployed. A file with a .skip beside it is
// left as it is either way. Files are replaced atomically and only when
// their content changed.
func Write(dir string, v Values, disabled Disabled) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the manifests folder: %w", err)
	}
	data, err := newTemplateData(v)
	if err != nil {
		return err
	}
	for _, name := range Names {
		file := name + ".yaml"
		tmpl, err := manifests.ReadFile("manifests/" + file)
		if errors.Is(err, fs.ErrNotExist) {
			continue // runs in-process only
		}
		if err != nil {
			return fmt.Errorf("reading the %s addon: %w", name, err)
		}
		path := filepath.Join(dir, file)
		if _, err := os.Stat(path + SkipSuffix); err == nil {
			continue
		}
		if disabled.Has(name) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing the disabled addon %s: %w", name, err)
			}
			continue
		}
		out, err := render(file, string(tmpl), data)
		if err != nil {
			return err
		}
		if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, out) {
			continue
		}
		if err := fsutil.WriteFile(path, out, 0o600); err != nil {
			return fmt.Errorf("writing the %s addon: %w", name, err)
		}
	}
	return nil
}

func newTemplateData(v Values) (templateData, error) {
	charts, err := chartFiles()
	if err != nil {
		return templateData{}, err
	}
	return templateData{Values: v, Charts: charts}, nil
}

func render(name, text string, data templateData) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("addon manifest %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("addon manifest %s: %w", name, err)
	}
	return b.Bytes(), nil
}
