package control

import (
	"reflect"
	"testing"
)

func TestMergeLetsTheUserWin(t *testing.T) {
	a := Args{"secure-port": "0", "profiling": "false"}
	if err := a.Merge([]string{"secure-port=10259", "--v=2"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"--profiling=false", "--secure-port=10259", "--v=2"}
	if got := a.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("List() = %v, want %v", got, want)
	}
}

func TestMergeRefusesItemsWithoutValue(t *testing.T) {
	for _, bad := range []string{"secure-port", "=3", "--"} {
		if err := (Args{}).Merge([]string{bad}); err == nil {
			t.Errorf("Merge(%q) accepted it", bad)
		}
	}
}

func TestDefaultFeatureGateKeepsTheUsersGates(t *testing.T) {
	for _, c := range []struct{ user, want string }{
		{"", "SizeBasedListCostEstimate=false"},
		{"OpenAPIEnums=false", "OpenAPIEnums=false,SizeBasedListCostEstimate=false"},
		{"SizeBasedListCostEstimate=true", "SizeBasedListCostEstimate=true"},
		{"A=true, SizeBasedListCostEstimate=true", "A=true, SizeBasedListCostEstimate=true"},
	} {
		a := Args{}
		if c.user != "" {
			if err := a.Merge([]string{"feature-gates=" + c.user}); err != nil {
				t.Fatal(err)
			}
		}
		a.DefaultFeatureGate("SizeBasedListCostEstimate", false)
		if got := a["feature-gates"]; got != c.want {
			t.Errorf("user %q: feature-gates=%q, want %q", c.user, got, c.want)
		}
	}
}
