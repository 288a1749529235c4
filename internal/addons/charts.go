package addons

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skiff-k8s/skiff/internal/fsutil"
)

// charts are the Helm charts the addons' HelmCharts install, one folder
// each (charts/<name>/Chart.yaml, values.yaml, templates/); "all:" keeps
// templates/_helpers.tpl, which a plain pattern would leave out.
//
//go:embed all:charts
var charts embed.FS

// addonCharts are the charts each addon's manifest points at, in the
// order they are written.
var addonCharts = map[string][]string{Traefik: {"traefik-crd", "traefik"}}

// chartEpoch is every packaged file's time stamp, so that a chart's .tgz
// depends only on its files.
var chartEpoch = time.Unix(0, 0).UTC()

// WriteCharts packages the charts of every enabled addon into dir (the
// folder the supervisor serves at /static/charts/, where an addon's
// HelmChart points with k3s's https://%{KUBERNETES_API}%/static/charts/
// URL) as <name>-<version>.tgz, a chart archive as `helm package` makes
// it. A file is replaced atomically and only when its content changed;
// a disabled addon's files are left for whoever still points at them
// (its HelmChart is gone, so nothing installs it).
func WriteCharts(dir string, disabled Disabled) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the static charts folder: %w", err)
	}
	for _, addon := range Names {
		if disabled.Has(addon) {
			continue
		}
		for _, name := range addonCharts[addon] {
			file, data, err := packageChart(name)
			if err != nil {
				return err
			}
			path := filepath.Join(dir, file)
			if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, data) {
				continue
			}
			if err := fsutil.WriteFile(path, data, 0o644); err != nil {
				return fmt.Errorf("writing the %s chart: %w", name, err)
			}
		}
	}
	return nil
}

// chartMeta is what skiff reads of a Chart.yaml.
type chartMeta struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// readChartMeta reads the embedded chart's Chart.yaml, checking that it
// names the chart as its folder does (helm requires it).
func readChartMeta(name string) (chartMeta, error) {
	data, err := charts.ReadFile(path.Join("charts", name, "Chart.yaml"))
	if err != nil {
		return chartMeta{}, fmt.Errorf("the %s chart: %w", name, err)
	}
	var m chartMeta
	if err := yaml.Unmarshal(data, &m); err != nil {
		return chartMeta{}, fmt.Errorf("the %s chart's Chart.yaml: %w", name, err)
	}
	if m.Name != name || m.Version == "" {
		return chartMeta{}, fmt.Errorf("the %s chart's Chart.yaml names %q version %q: want name %s and a version", name, m.Name, m.Version, name)
	}
	return m, nil
}

// chartFileName is the archive's name, as `helm package` names it.
func (m chartMeta) chartFileName() string { return m.Name + "-" + m.Version + ".tgz" }

// chartFiles maps every embedded chart to its archive's file name.
func chartFiles() (map[string]string, error) {
	files := map[string]string{}
	for _, names := range addonCharts {
		for _, name := range names {
			m, err := readChartMeta(name)
			if err != nil {
				return nil, err
			}
			files[name] = m.chartFileName()
		}
	}
	return files, nil
}

// packageChart returns the embedded chart as a gzipped tar with its files
// under <name>/, in lexical order, each 0644 with a fixed time stamp and
// owner: the same files give the same bytes.
func packageChart(name string) (file string, data []byte, err error) {
	m, err := readChartMeta(name)
	if err != nil {
		return "", nil, err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", nil, err
	}
	tw := tar.NewWriter(zw)
	root := path.Join("charts", name)
	err = fs.WalkDir(charts, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, err := charts.ReadFile(p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     path.Join(name, p[len(root)+1:]),
			Size:     int64(len(content)),
			Mode:     0o644,
			ModTime:  chartEpoch,
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(content)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return "", nil, fmt.Errorf("packaging the %s chart: %w", name, err)
	}
	return m.chartFileName(), buf.Bytes(), nil
}
