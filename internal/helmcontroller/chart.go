package helmcontroller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/registry"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// StaticChartPrefix is how a HelmChart names a chart file the server keeps
// in its static charts folder: k3s's URL, whose host its install Job
// replaced with the API's address. Here the file is read directly.
const StaticChartPrefix = "https://%{KUBERNETES_API}%/static/charts/"

// loadedChart is a chart and the sha256 of the archive it came from.
type loadedChart struct {
	chart *chart.Chart
	sum   string
}

// loadChart fetches and loads the chart a HelmChart names: its
// chartContent, a file of the static charts folder, or a chart from a
// repository, a URL or an OCI registry, the way helm install finds it.
func (c *Controller) loadChart(ctx context.Context, hc *HelmChart) (*loadedChart, error) {
	spec := hc.Spec
	switch {
	case spec.ChartContent != "":
		archive, err := base64.StdEncoding.DecodeString(strings.TrimSpace(spec.ChartContent))
		if err != nil {
			return nil, fmt.Errorf("spec.chartContent is not base64: %w", err)
		}
		return loadArchive(archive, "spec.chartContent")
	case strings.HasPrefix(spec.Chart, StaticChartPrefix):
		name := strings.TrimPrefix(spec.Chart, StaticChartPrefix)
		if name == "" || path.Clean("/"+name) != "/"+name {
			return nil, fmt.Errorf("spec.chart %q does not name a file of the static charts folder", spec.Chart)
		}
		file := filepath.Join(c.cfg.StaticDir, filepath.FromSlash(name))
		archive, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("spec.chart: reading %s (copy the chart there): %w", file, err)
		}
		return loadArchive(archive, file)
	case spec.Chart == "":
		return nil, fmt.Errorf("spec.chart or spec.chartContent must be set")
	}
	file, err := c.locate(ctx, hc)
	if err != nil {
		return nil, err
	}
	archive, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the downloaded chart: %w", err)
	}
	return loadArchive(archive, spec.Chart)
}

func loadArchive(archive []byte, from string) (*loadedChart, error) {
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		return nil, fmt.Errorf("loading the chart from %s: %w", from, err)
	}
	sum := sha256.Sum256(archive)
	return &loadedChart{chart: ch, sum: hex.EncodeToString(sum[:])}, nil
}

// locate downloads a chart from a repository, URL or registry into the
// cache, with the HelmChart's credentials and CA, and returns its file.
func (c *Controller) locate(ctx context.Context, hc *HelmChart) (string, error) {
	spec := hc.Spec
	settings := cli.New()
	settings.RepositoryCache = filepath.Join(c.cfg.CacheDir, "repository")
	settings.RepositoryConfig = filepath.Join(c.cfg.CacheDir, "repositories.yaml")
	settings.RegistryConfig = filepath.Join(c.cfg.CacheDir, "registry.json")
	settings.ContentCache = filepath.Join(c.cfg.CacheDir, "content")

	// The options of one chart's download are the HelmChart's own, in a
	// folder of their own that goes away afterwards.
	if err := os.MkdirAll(c.cfg.CacheDir, 0o700); err != nil {
		return "", fmt.Errorf("preparing the chart cache: %w", err)
	}
	scratch, err := os.MkdirTemp(c.cfg.CacheDir, ".chart-")
	if err != nil {
		return "", fmt.Errorf("preparing the chart's download: %w", err)
	}
	defer os.RemoveAll(scratch)

	var regOpts []registry.ClientOption
	if spec.PlainHTTP {
		regOpts = append(regOpts, registry.ClientOptPlainHTTP())
	}
	if spec.DockerRegistrySecret != nil {
		config, err := c.secretKey(ctx, hc.Namespace, spec.DockerRegistrySecret.Name, corev1.DockerConfigJsonKey)
		if err != nil {
			return "", err
		}
		file := filepath.Join(scratch, "registry.json")
		if err := fsutil.WriteFile(file, config, 0o600); err != nil {
			return "", err
		}
		regOpts = append(regOpts, registry.ClientOptCredentialsFile(file))
	} else {
		regOpts = append(regOpts, registry.ClientOptCredentialsFile(settings.RegistryConfig))
	}
	reg, err := registry.NewClient(regOpts...)
	if err != nil {
		return "", fmt.Errorf("registry client: %w", err)
	}
	// Install's ChartPathOptions are the helm CLI's --repo, --version,
	// --ca-file ... flags.
	opts := action.NewInstall(&action.Configuration{RegistryClient: reg})
	opts.RepoURL = spec.Repo
	opts.Version = spec.Version
	opts.InsecureSkipTLSVerify = spec.InsecureSkipTLSVerify
	opts.PlainHTTP = spec.PlainHTTP
	opts.PassCredentialsAll = spec.AuthPassCredentials
	if spec.AuthSecret != nil {
		user, err := c.secretKey(ctx, hc.Namespace, spec.AuthSecret.Name, corev1.BasicAuthUsernameKey)
		if err != nil {
			return "", err
		}
		pass, err := c.secretKey(ctx, hc.Namespace, spec.AuthSecret.Name, corev1.BasicAuthPasswordKey)
		if err != nil {
			return "", err
		}
		opts.Username, opts.Password = string(user), string(pass)
	}
	ca, err := c.repoCA(ctx, hc)
	if err != nil {
		return "", err
	}
	if len(ca) > 0 {
		opts.CaFile = filepath.Join(scratch, "ca.pem")
		if err := fsutil.WriteFile(opts.CaFile, ca, 0o600); err != nil {
			return "", err
		}
	}
	file, err := opts.LocateChart(spec.Chart, settings)
	if err != nil {
		return "", fmt.Errorf("fetching chart %s: %w", describeSource(spec), err)
	}
	return file, nil
}

// repoCA is spec.repoCA followed by every key of spec.repoCAConfigMap.
func (c *Controller) repoCA(ctx context.Context, hc *HelmChart) ([]byte, error) {
	ca := []byte(hc.Spec.RepoCA)
	if ref := hc.Spec.RepoCAConfigMap; ref != nil {
		cm, err := c.kube.CoreV1().ConfigMaps(hc.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("spec.repoCAConfigMap: %w", err)
		}
		for _, v := range cm.Data {
			ca = append(append(ca, '\n'), v...)
		}
	}
	return ca, nil
}

func (c *Controller) secretKey(ctx context.Context, ns, name, key string) ([]byte, error) {
	s, err := c.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	}
	v, ok := s.Data[key]
	if !ok {
		return nil, fmt.Errorf("Secret %s/%s has no key %q", ns, name, key)
	}
	return v, nil
}

func describeSource(spec HelmChartSpec) string {
	if spec.Repo == "" {
		return spec.Chart
	}
	s := spec.Chart + " from " + spec.Repo
	if spec.Version != "" {
		s += " version " + spec.Version
	}
	return s
}
