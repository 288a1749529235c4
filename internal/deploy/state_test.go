package deploy

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	var b backoff
	if !b.due(now) {
		t.Fatal("a file that never failed is due")
	}
	var got []time.Duration
	for range 10 {
		b.fail(now)
		got = append(got, b.at.Sub(now))
	}
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	if !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
	if b.due(now.Add(4*time.Minute)) || !b.due(now.Add(5*time.Minute)) {
		t.Error("due before its time, or not at it")
	}
	for range 100 {
		b.fail(now) // no overflow however long it fails
	}
	if d := b.at.Sub(now); d != backoffMax {
		t.Errorf("after many failures the delay is %v", d)
	}
	b.reset()
	if !b.due(now) || b.failures != 0 {
		t.Error("reset did not clear the back-off")
	}
}

func TestToApply(t *testing.T) {
	now := time.Unix(1000, 0)
	waiting := &manifest{}
	waiting.retry.fail(now)
	files := map[string]*manifest{
		"new.yaml":     {},
		"done.yaml":    {applied: true},
		"broken.yaml":  {bad: &ParseError{Line: 3, Msg: "x"}},
		"waiting.yaml": waiting,
		"a/due.yaml":   {retry: backoff{failures: 2, at: now.Add(-time.Second)}},
	}
	if got := toApply(files, now); !slices.Equal(got, []string{"a/due.yaml", "new.yaml"}) {
		t.Errorf("toApply = %v", got)
	}
	if got := toApply(files, now.Add(time.Minute)); !slices.Equal(got, []string{"a/due.yaml", "new.yaml", "waiting.yaml"}) {
		t.Errorf("toApply after the back-off = %v", got)
	}
}

func TestToRemove(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := tree{
		files:    map[string]fileStat{"present.yaml": {}, "skipped.yaml": {}, "broken.yaml": {}},
		skipped:  map[string]bool{"skipped.yaml": true, "skipped-gone.yaml": true},
		complete: true,
	}
	later := &record{path: "failed-gone.yaml"}
	later.retry.fail(now)
	records := map[string]*record{
		"present.yaml":      {path: "present.yaml"},
		"skipped.yaml":      {path: "skipped.yaml"},
		"skipped-gone.yaml": {path: "skipped-gone.yaml"}, // the user keeps what it deployed
		"broken.yaml":       {path: "broken.yaml"},
		"gone.yaml":         {path: "gone.yaml"},
		"b/gone.json":       {path: "b/gone.json"},
		"failed-gone.yaml":  later,
	}
	if got := toRemove(tr, records, now); !slices.Equal(got, []string{"b/gone.json", "gone.yaml"}) {
		t.Errorf("toRemove = %v", got)
	}
	if got := toRemove(tr, records, now.Add(time.Minute)); !slices.Equal(got, []string{"b/gone.json", "failed-gone.yaml", "gone.yaml"}) {
		t.Errorf("toRemove after the back-off = %v", got)
	}
	tr.complete = false
	if got := toRemove(tr, records, now); len(got) != 0 {
		t.Errorf("an incomplete scan removed %v; it cannot tell a file is gone", got)
	}
}

func TestClaimsBesides(t *testing.T) {
	cm := func(name string) ObjectRef { return ref("v1", "ConfigMap", "default", name) }
	tr := tree{
		files:    map[string]fileStat{"a.yaml": {}, "b.yaml": {}, "broken.yaml": {}, "skipped.yaml": {}, "unread.yaml": {}},
		skipped:  map[string]bool{"skipped.yaml": true, "skipped-gone.yaml": true},
		complete: true,
	}
	files := map[string]*manifest{
		"a.yaml":      {refs: []ObjectRef{cm("a1"), cm("a2")}},
		"b.yaml":      {refs: []ObjectRef{cm("b1")}},
		"broken.yaml": {bad: errors.New("line 1: bad")},
	}
	records := map[string]*record{
		"a.yaml":            {refs: []ObjectRef{cm("a1"), cm("a-old")}}, // a.yaml's content, not its inventory, counts
		"b.yaml":            {refs: []ObjectRef{cm("b1"), cm("b-old")}},
		"broken.yaml":       {refs: []ObjectRef{cm("broken1")}},
		"skipped.yaml":      {refs: []ObjectRef{cm("skipped1")}},
		"skipped-gone.yaml": {refs: []ObjectRef{cm("skipped2")}},
		"unread.yaml":       {refs: []ObjectRef{cm("unread1")}}, // on disk, not read yet (being written)
		"gone.yaml":         {refs: []ObjectRef{cm("gone1")}},
	}
	got := claimsBesides("a.yaml", tr, files, records)
	want := []ObjectRef{cm("b1"), cm("broken1"), cm("skipped1"), cm("unread1"), cm("skipped2")}
	if !sameRefs(got, want) {
		t.Errorf("claims besides a.yaml = %v\nwant %v", got, want)
	}
	got = claimsBesides("gone.yaml", tr, files, records)
	if !containsRef(got, cm("a1")) || containsRef(got, cm("a-old")) || containsRef(got, cm("gone1")) {
		t.Errorf("claims besides gone.yaml = %v", got)
	}
}

func TestPrunable(t *testing.T) {
	candidates := []ObjectRef{
		ref("v1", "ConfigMap", "default", "mine"),
		ref("v1", "ConfigMap", "default", "moved"),
		ref("apps/v1beta1", "Deployment", "", "web"),
	}
	claims := []ObjectRef{ref("v1", "ConfigMap", "", "moved"), ref("apps/v1", "Deployment", "default", "web")}
	if got := prunable(candidates, claims); !slices.Equal(got, candidates[:1]) {
		t.Errorf("prunable = %v; want only what no other file claims", got)
	}
}

// The decisions of one pass in the cases users meet: a renamed file, an
// object moved to another file, a file emptied on purpose.
func TestPruneDecisions(t *testing.T) {
	cm := func(name string) ObjectRef { return ref("v1", "ConfigMap", "default", name) }
	parsed := func(names ...string) []ObjectRef {
		var out []ObjectRef
		for _, n := range names {
			out = append(out, ref("v1", "ConfigMap", "", n)) // as written: no namespace
		}
		return out
	}

	// a.yaml renamed to b.yaml (one rename, one scan): b.yaml applies, and
	// a.yaml's removal deletes nothing, for b.yaml claims it all.
	tr := tree{files: map[string]fileStat{"b.yaml": {}}, skipped: map[string]bool{}, complete: true}
	files := map[string]*manifest{"b.yaml": {refs: parsed("x", "y")}}
	records := map[string]*record{"a.yaml": {path: "a.yaml", refs: []ObjectRef{cm("x"), cm("y")}}}
	if got := toRemove(tr, records, time.Now()); !slices.Equal(got, []string{"a.yaml"}) {
		t.Fatalf("toRemove = %v", got)
	}
	if got := prunable(records["a.yaml"].refs, claimsBesides("a.yaml", tr, files, records)); len(got) != 0 {
		t.Errorf("a renamed file's removal would delete %v", got)
	}

	// y moved from a.yaml to b.yaml: a.yaml prunes x-old only.
	tr = tree{files: map[string]fileStat{"a.yaml": {}, "b.yaml": {}}, skipped: map[string]bool{}, complete: true}
	files = map[string]*manifest{"a.yaml": {refs: parsed("x")}, "b.yaml": {refs: parsed("y")}}
	records = map[string]*record{"a.yaml": {refs: []ObjectRef{cm("x"), cm("y"), cm("x-old")}}}
	got := prunable(stale(records["a.yaml"].refs, files["a.yaml"].refs), claimsBesides("a.yaml", tr, files, records))
	if !slices.Equal(got, []ObjectRef{cm("x-old")}) {
		t.Errorf("a.yaml prunes %v, want only x-old", got)
	}

	// a.yaml emptied (it parses, declares nothing): all it had goes.
	files["a.yaml"].refs = nil
	got = prunable(stale(records["a.yaml"].refs, files["a.yaml"].refs), claimsBesides("a.yaml", tr, files, records))
	if !slices.Equal(got, []ObjectRef{cm("x"), cm("x-old")}) {
		t.Errorf("an emptied a.yaml prunes %v, want x and x-old (y is b.yaml's)", got)
	}
}
