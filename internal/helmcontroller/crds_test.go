package helmcontroller

import "testing"

func TestDefinitionsParse(t *testing.T) {
	crds, err := definitions()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"helmcharts.helm.cattle.io": "HelmChart", "helmchartconfigs.helm.cattle.io": "HelmChartConfig"}
	if len(crds) != len(want) {
		t.Fatalf("got %d CRDs, want %d", len(crds), len(want))
	}
	for _, crd := range crds {
		if want[crd.Name] != crd.Spec.Names.Kind {
			t.Errorf("CRD %s has kind %s", crd.Name, crd.Spec.Names.Kind)
		}
		if crd.Spec.Group != Group || crd.Spec.Versions[0].Name != Version {
			t.Errorf("CRD %s serves %s/%s", crd.Name, crd.Spec.Group, crd.Spec.Versions[0].Name)
		}
	}
}
