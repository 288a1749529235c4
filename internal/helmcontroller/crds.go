package helmcontroller

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/skiff-k8s/skiff/internal/component"
)

//go:embed crds.yaml
var crdsYAML []byte

// CRDs serves the helm.cattle.io kinds: it applies their definitions and is
// ready once the API serves them. It runs whether or not the controller
// does, as in k3s, so that manifests holding HelmCharts apply and a
// disabled controller costs no one their objects.
type CRDs struct {
	client apiextensions.Interface
	done   chan error
}

var _ component.Component = (*CRDs)(nil)

// NewCRDs returns the part that serves the kinds through rest.
func NewCRDs(rest *rest.Config) (*CRDs, error) {
	client, err := apiextensions.NewForConfig(rest)
	if err != nil {
		return nil, fmt.Errorf("helm CRDs: building the client: %w", err)
	}
	return &CRDs{client: client, done: make(chan error, 1)}, nil
}

// Name implements component.Component.
func (c *CRDs) Name() string { return "helm-crds" }

// Start applies the definitions in the background.
func (c *CRDs) Start(ctx context.Context) error {
	crds, err := definitions()
	if err != nil {
		return err
	}
	go func() { c.done <- c.apply(ctx, crds) }()
	return nil
}

// Ready waits until both kinds are served.
func (c *CRDs) Ready(ctx context.Context) error {
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop implements component.Component; nothing runs after Ready.
func (c *CRDs) Stop(context.Context) error { return nil }

func (c *CRDs) apply(ctx context.Context, crds []*apiextensionsv1.CustomResourceDefinition) error {
	for _, crd := range crds {
		body, err := yaml.Marshal(crd)
		if err != nil {
			return err
		}
		force := true
		// The API may still be settling right after it answered /readyz:
		// retry briefly rather than fail the server.
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := c.client.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, crd.Name, types.ApplyYAMLPatchType, body,
				metav1.PatchOptions{FieldManager: "skiff", Force: &force})
			return err == nil, nil
		})
		if err != nil {
			return fmt.Errorf("applying the CRD %s: %w", crd.Name, err)
		}
	}
	for _, crd := range crds {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			got, err := c.client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for the CRD %s to be established: %w", crd.Name, err)
		}
	}
	return nil
}

// definitions parses crds.yaml.
func definitions() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(crdsYAML)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the helm CRDs: %w", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(doc, crd); err != nil {
			return nil, fmt.Errorf("reading the helm CRDs: %w", err)
		}
		crd.APIVersion, crd.Kind = "apiextensions.k8s.io/v1", "CustomResourceDefinition"
		out = append(out, crd)
	}
}
