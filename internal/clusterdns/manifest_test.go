package clusterdns

import (
	"go/parser"
	"go/token"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coredns/caddy/caddyfile"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiff-k8s/skiff/internal/addons"
)

// The coredns addon's manifest, rendered as skiff writes it, and what this
// package and the CoreDNS binary expect of it.
func TestCoreDNSManifest(t *testing.T) {
	v := addons.Values{ClusterDNS: "10.43.0.10", ClusterDomain: "cluster.local", CoreDNSImage: "docker.io/coredns/coredns:1.15.0"}
	objs, err := addons.Objects(addons.CoreDNS, v)
	if err != nil {
		t.Fatal(err)
	}

	var cm *corev1.ConfigMap
	var dep *appsv1.Deployment
	var svc *corev1.Service
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			cm = o
		case *appsv1.Deployment:
			dep = o
		case *corev1.Service:
			svc = o
		}
	}
	if cm == nil || dep == nil || svc == nil {
		t.Fatalf("the manifest lacks the ConfigMap, Deployment or Service: %d objects", len(objs))
	}
	if cm.Name != ConfigMapName || cm.Namespace != "kube-system" || len(cm.Data) != 1 || cm.Data["Corefile"] == "" {
		t.Errorf("ConfigMap %s/%s holds %d keys; want %s/kube-system with the Corefile only (NodeHosts is this package's)", cm.Namespace, cm.Name, len(cm.Data), ConfigMapName)
	}
	checkCorefile(t, cm.Data["Corefile"], v.ClusterDomain)

	sel, err := labels.Parse(PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(dep.Spec.Template.Labels)) || !sel.Matches(labels.Set(svc.Spec.Selector)) {
		t.Errorf("%s does not select the Deployment's pods (%v) or is not the Service's selector (%v)", PodSelector, dep.Spec.Template.Labels, svc.Spec.Selector)
	}
	if svc.Spec.ClusterIP != v.ClusterDNS {
		t.Errorf("Service clusterIP %q, want %s", svc.Spec.ClusterIP, v.ClusterDNS)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if c.Image != v.CoreDNSImage || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s (%s), want %s, IfNotPresent: the image is imported, never pulled", c.Image, c.ImagePullPolicy, v.CoreDNSImage)
	}
	volumes := map[string]*corev1.ConfigMapVolumeSource{}
	for _, vol := range dep.Spec.Template.Spec.Volumes {
		if vol.ConfigMap != nil {
			volumes[vol.ConfigMap.Name] = vol.ConfigMap
		}
	}
	if main := volumes[ConfigMapName]; main == nil || main.Optional == nil || !*main.Optional {
		t.Errorf("the %s volume must be optional, or a ConfigMap without %s yet holds the pod: %+v", ConfigMapName, NodeHostsKey, main)
	}
	if custom := volumes[CustomConfigMapName]; custom == nil || custom.Optional == nil || !*custom.Optional {
		t.Errorf("the %s volume must be optional: %+v", CustomConfigMapName, custom)
	}
}

// checkCorefile parses the Corefile with CoreDNS's own parser, allowing
// only the plugins scripts/coredns links, and checks the cluster domain and
// the coredns-custom imports.
func checkCorefile(t *testing.T, corefile, domain string) {
	t.Helper()
	linked := linkedDirectives(t)
	blocks, err := caddyfile.Parse("Corefile", strings.NewReader(corefile), linked)
	if err != nil {
		t.Fatalf("the Corefile does not parse with the plugins scripts/coredns links (%v): %v", linked, err)
	}
	if len(blocks) != 1 || !slices.Equal(blocks[0].Keys, []string{".:53"}) {
		t.Fatalf("server blocks %+v, want one, .:53", blocks)
	}
	for _, want := range []string{"kubernetes " + domain + " in-addr.arpa ip6.arpa", "import /etc/coredns/custom/*.override", "import /etc/coredns/custom/*.server", "hosts /etc/coredns/NodeHosts", "reload 5s"} {
		if !strings.Contains(corefile, want) {
			t.Errorf("the Corefile lacks %q", want)
		}
	}
	for _, d := range []string{"errors", "health", "ready", "kubernetes", "hosts", "prometheus", "forward", "cache", "loop", "reload", "loadbalance"} {
		if _, ok := blocks[0].Tokens[d]; !ok {
			t.Errorf("the Corefile does not use %s", d)
		}
	}
}

// linkedDirectives are the Corefile directives of the plugins that
// scripts/coredns/main.go imports (package metrics is "prometheus").
func linkedDirectives(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../scripts/coredns/main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if !strings.HasPrefix(p, "github.com/coredns/coredns/plugin/") {
			continue
		}
		d := path.Base(p)
		if d == "metrics" {
			d = "prometheus"
		}
		dirs = append(dirs, d)
	}
	if len(dirs) == 0 {
		t.Fatal("scripts/coredns/main.go links no plugins")
	}
	return dirs
}
