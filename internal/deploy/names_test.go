package deploy

import (
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestLabelValueKeepsValidPaths(t *testing.T) {
	for _, rel := range []string{"coredns.yaml", "local-storage.yaml", "A_b-c.9.json", "x.yml"} {
		if got := LabelValue(rel); got != rel {
			t.Errorf("LabelValue(%q) = %q, want it unchanged", rel, got)
		}
	}
}

var hashed = regexp.MustCompile(`-[0-9a-f]{8}$`)

func TestLabelValueShortensAndHashes(t *testing.T) {
	cases := map[string]string{
		"apps/web.yaml":  "apps_web.yaml",
		"a b.yaml":       "a_b.yaml",
		"_hidden.yaml":   "hidden.yaml",
		"dir/ü.yaml":     "dir__.yaml", // ü is two bytes but one rune
		"-x-/y.json":     "x-_y.json",
		"über/caf é.yml": "ber_caf__.yml",
	}
	for rel, prefix := range cases {
		got := LabelValue(rel)
		if !hashed.MatchString(got) || strings.TrimSuffix(got, got[len(got)-9:]) != prefix {
			t.Errorf("LabelValue(%q) = %q, want %q and a hash suffix", rel, got, prefix)
		}
		checkLabel(t, rel, got)
	}
}

func TestLabelValueLongPaths(t *testing.T) {
	long := strings.Repeat("d/", 40) + strings.Repeat("n", 80) + ".yaml"
	got := LabelValue(long)
	checkLabel(t, long, got)
	if len(got) > 63 || len(got) < 60 || !hashed.MatchString(got) {
		t.Errorf("LabelValue(long) = %q (%d chars), want about 63 chars ending in a hash", got, len(got))
	}
	// A cut that ends on a character a value cannot end with is trimmed.
	cut := strings.Repeat("a", 53) + "-.-" + strings.Repeat("b", 20) + ".yaml"
	got = LabelValue(cut)
	checkLabel(t, cut, got)
	if !strings.HasPrefix(got, strings.Repeat("a", 53)+"-") || len(got) != 62 {
		t.Errorf("LabelValue(%q) = %q, want the a's, then the hash", cut, got)
	}
	// 63 valid characters stay as they are; 64 do not.
	if v := strings.Repeat("a", 58) + ".yaml"; LabelValue(v) != v {
		t.Errorf("a 63-character valid path changed to %q", LabelValue(v))
	}
	if v := strings.Repeat("a", 59) + ".yaml"; len(LabelValue(v)) > 63 {
		t.Errorf("a 64-character path gave %q", LabelValue(v))
	}
}

func TestLabelValueNeverCollides(t *testing.T) {
	seen := map[string]string{}
	for _, rel := range []string{"a/b.yaml", "a_b.yaml", "a b.yaml", "a:b.yaml", "A/b.yaml", "a/B.yaml",
		strings.Repeat("x", 70) + "1.yaml", strings.Repeat("x", 70) + "2.yaml"} {
		v := LabelValue(rel)
		if other, ok := seen[v]; ok {
			t.Errorf("%q and %q share the label value %q", rel, other, v)
		}
		seen[v] = rel
	}
}

func TestInventoryName(t *testing.T) {
	if got := inventoryName("coredns.yaml"); got != "skiff-manifest-coredns.yaml" {
		t.Errorf("inventoryName(coredns.yaml) = %q", got)
	}
	seen := map[string]string{}
	for _, rel := range []string{"coredns.yaml", "CoreDNS.yaml", "apps/web.yaml", "apps_web.yaml", "a b.json",
		strings.Repeat("long/", 30) + "x.yaml", ".odd.yaml", "ü.yml"} {
		got := inventoryName(rel)
		if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 || len(got) > 63 {
			t.Errorf("inventoryName(%q) = %q: not a valid name of 63 characters at most: %v", rel, got, errs)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("%q and %q share the inventory %q", rel, other, got)
		}
		seen[got] = rel
	}
}

func checkLabel(t *testing.T, rel, v string) {
	t.Helper()
	if errs := validation.IsValidLabelValue(v); len(errs) > 0 || v == "" {
		t.Errorf("LabelValue(%q) = %q, not a valid label value: %v", rel, v, errs)
	}
}
