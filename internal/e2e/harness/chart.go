package harness

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"slices"
	"time"
)

// PackChart makes the archive `helm package` would of a chart named name
// whose files (Chart.yaml, values.yaml, templates/...) are given by their
// path inside the chart's folder. The archive depends only on its input:
// the same chart packed twice has the same digest, as a controller that
// compares digests must see it.
func PackChart(name string, files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	epoch := time.Unix(0, 0)
	for _, p := range paths {
		body := []byte(files[p])
		hdr := &tar.Header{Name: name + "/" + p, Mode: 0o644, Size: int64(len(body)), ModTime: epoch, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
