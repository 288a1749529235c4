package containerd

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"
)

// Registries is /etc/skiff/registries.yaml, in the format k3s uses.
type Registries struct {
	// Mirrors maps a registry host ("docker.io", or "*" for every registry)
	// to the endpoints to try before the registry itself.
	Mirrors map[string]Mirror `json:"mirrors"`
	// Configs maps a registry or mirror host to its credentials and TLS.
	Configs map[string]RegistryConfig `json:"configs"`
}

// Mirror lists a registry's mirrors, tried in order.
type Mirror struct {
	Endpoints []string `json:"endpoint"`
	// Rewrite is k3s's repository rewriting; containerd's hosts files
	// cannot express it, so it is ignored with a warning.
	Rewrite map[string]string `json:"rewrite,omitempty"`
}

// RegistryConfig is one host's credentials and TLS settings.
type RegistryConfig struct {
	Auth *RegistryAuth `json:"auth,omitempty"`
	TLS  *RegistryTLS  `json:"tls,omitempty"`
}

// RegistryAuth is a host's credentials.
type RegistryAuth struct {
	Username      string `json:"username,omitempty" toml:"username,omitempty"`
	Password      string `json:"password,omitempty" toml:"password,omitempty"`
	Auth          string `json:"auth,omitempty" toml:"auth,omitempty"`
	IdentityToken string `json:"identity_token,omitempty" toml:"identitytoken,omitempty"`
}

// RegistryTLS is a host's TLS settings; files are absolute paths.
type RegistryTLS struct {
	CAFile             string `json:"ca_file,omitempty"`
	CertFile           string `json:"cert_file,omitempty"`
	KeyFile            string `json:"key_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

// LoadRegistries reads a registries file. A missing file is no registries;
// a file that does not parse is an error naming the file and the line.
func LoadRegistries(path string) (*Registries, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Registries{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var r Registries
	if err := yaml.Unmarshal(data, &r); err != nil {
		// sigs.k8s.io/yaml says "error converting YAML to JSON: yaml: line
		// N: ..."; keep the line, drop the plumbing.
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		msg = strings.TrimPrefix(msg, "error unmarshaling JSON: while decoding JSON: ")
		return nil, fmt.Errorf("%s is not valid registries YAML: %s", path, msg)
	}
	for host, m := range r.Mirrors {
		for _, e := range m.Endpoints {
			if _, err := endpointURL(e); err != nil {
				return nil, fmt.Errorf("%s: mirror of %s: %w", path, host, err)
			}
		}
		if len(m.Rewrite) > 0 {
			klog.InfoS("Ignoring mirror rewrites: containerd's hosts files cannot express them", "file", path, "registry", host)
		}
	}
	return &r, nil
}

// endpointURL parses a mirror endpoint; one without a scheme is https.
func endpointURL(e string) (*url.URL, error) {
	if !strings.Contains(e, "://") {
		e = "https://" + e
	}
	u, err := url.Parse(e)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("endpoint %q is not an http(s) URL", e)
	}
	return u, nil
}

// hostsFile is the hosts.toml of one registry.
type hostsFile struct {
	Server     string               `toml:"server,omitempty"`
	CA         string               `toml:"ca,omitempty"`
	Client     [][]string           `toml:"client,omitempty"`
	SkipVerify bool                 `toml:"skip_verify,omitempty"`
	Host       map[string]hostEntry `toml:"host,omitempty"`
}

type hostEntry struct {
	Capabilities []string   `toml:"capabilities"`
	CA           string     `toml:"ca,omitempty"`
	Client       [][]string `toml:"client,omitempty"`
	SkipVerify   bool       `toml:"skip_verify,omitempty"`
}

// HostsFiles returns containerd's hosts files for r: the path of each
// relative to the hosts directory ("docker.io/hosts.toml") and its content.
// Mirrors are tried in order, then the registry itself; "*" becomes
// "_default", containerd's name for every registry.
func (r *Registries) HostsFiles() (map[string][]byte, error) {
	hosts := map[string]bool{}
	for h := range r.Mirrors {
		hosts[h] = true
	}
	for h := range r.Configs {
		hosts[h] = true
	}
	out := map[string][]byte{}
	for h := range hosts {
		var f hostsFile
		dir := h
		if h == "*" {
			dir = "_default"
		} else {
			f.Server = "https://" + h
			if h == "docker.io" {
				f.Server = "https://registry-1.docker.io"
			}
			if t := r.tls(h); t != nil {
				f.CA, f.Client, f.SkipVerify = t.CAFile, clientPair(t), t.InsecureSkipVerify
			}
		}
		for _, e := range r.Mirrors[h].Endpoints {
			u, _ := endpointURL(e) // checked by LoadRegistries
			he := hostEntry{Capabilities: []string{"pull", "resolve"}}
			if t := r.tls(u.Host); t != nil {
				he.CA, he.Client, he.SkipVerify = t.CAFile, clientPair(t), t.InsecureSkipVerify
			}
			if f.Host == nil {
				f.Host = map[string]hostEntry{}
			}
			f.Host[u.String()] = he
		}
		if f.Server == "" && len(f.Host) == 0 {
			continue
		}
		data, err := marshalHosts(f, r.Mirrors[h].Endpoints)
		if err != nil {
			return nil, fmt.Errorf("registry %s: %w", h, err)
		}
		out[filepath.Join(dir, "hosts.toml")] = data
	}
	return out, nil
}

// marshalHosts writes f with its hosts in the mirror order the user gave:
// containerd tries them in file order, and a TOML map has none.
func marshalHosts(f hostsFile, order []string) ([]byte, error) {
	hostMap := f.Host
	f.Host = nil
	var b strings.Builder
	head, err := toml.Marshal(f)
	if err != nil {
		return nil, err
	}
	b.Write(head)
	for _, e := range order {
		u, _ := endpointURL(e)
		he, ok := hostMap[u.String()]
		if !ok {
			continue
		}
		delete(hostMap, u.String()) // a repeated endpoint once
		entry, err := toml.Marshal(he)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "\n[host.%s]\n%s", quoteTOML(u.String()), entry)
	}
	return []byte(b.String()), nil
}

func clientPair(t *RegistryTLS) [][]string {
	if t.CertFile == "" {
		return nil
	}
	return [][]string{{t.CertFile, t.KeyFile}}
}

func (r *Registries) tls(host string) *RegistryTLS {
	if c, ok := r.Configs[host]; ok {
		return c.TLS
	}
	return nil
}

// Auths returns the credentials per host, for containerd's CRI config (its
// hosts files have no place for them), sorted by host.
func (r *Registries) Auths() []HostAuth {
	var out []HostAuth
	for h, c := range r.Configs {
		if c.Auth != nil && *c.Auth != (RegistryAuth{}) {
			out = append(out, HostAuth{Host: h, RegistryAuth: *c.Auth})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// HostAuth is one host's credentials.
type HostAuth struct {
	Host string
	RegistryAuth
}

// writeHostsDir replaces dir with the hosts files of r, building the new
// tree beside it first so that a failure leaves the old one in place.
func writeHostsDir(dir string, r *Registries) error {
	files, err := r.HostsFiles()
	if err != nil {
		return err
	}
	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	for name, data := range files {
		p := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}
