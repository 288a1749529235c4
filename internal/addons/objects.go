package addons

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"sigs.k8s.io/yaml"
)

// helmGroup is the API group of HelmChart and HelmChartConfig (k3s's).
const helmGroup = "helm.cattle.io"

// Objects renders an addon's manifest with v and decodes it strictly into
// typed objects (an unknown or misspelt field is an error), so that a
// package can check the manifest it relies on as the deploy controller
// will apply it. A HelmChart (helm.cattle.io, a kind the Helm controller
// serves, not client-go) comes back as an unstructured object.
func Objects(name string, v Values) ([]runtime.Object, error) {
	tmpl, err := manifests.ReadFile("manifests/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("the %s addon has no manifest: %w", name, err)
	}
	td, err := newTemplateData(v)
	if err != nil {
		return nil, err
	}
	data, err := render(name+".yaml", string(tmpl), td)
	if err != nil {
		return nil, err
	}
	s := runtime.NewScheme()
	if err := clientscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := apiregistrationv1.AddToScheme(s); err != nil {
		return nil, err
	}
	decode := serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer().Decode
	var objs []runtime.Object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s.yaml: %w", name, err)
		}
		if onlyComments(doc) {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("%s.yaml: %w", name, err)
		}
		if tm.GroupVersionKind().Group == helmGroup {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				return nil, fmt.Errorf("%s.yaml: %w", name, err)
			}
			objs = append(objs, u)
			continue
		}
		obj, _, err := decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s.yaml: %w", name, err)
		}
		objs = append(objs, obj)
	}
}

func onlyComments(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && !bytes.Equal(line, []byte("---")) {
			return false
		}
	}
	return true
}
