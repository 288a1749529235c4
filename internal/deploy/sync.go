package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"
)

// sync looks at the folder once and applies and prunes what changed.
func (c *Controller) sync(ctx context.Context, first bool) {
	begin := time.Now()
	t, err := scan(c.dir)
	if msg := errString(err); msg != c.scanErr {
		// Logged when it changes, not every interval.
		if err != nil {
			klog.ErrorS(err, "Manifests folder not fully read; nothing is pruned until it is")
		}
		c.scanErr = msg
	}
	c.tree = t
	c.observe(ctx, t)
	now := time.Now()
	apply, remove := toApply(c.files, now), toRemove(t, c.records, now)
	if len(apply) > 0 || len(remove) > 0 {
		c.pass(ctx, apply, remove, now)
	}
	if first && ctx.Err() == nil {
		failed := 0
		for _, m := range c.files {
			if m.bad != nil || !m.applied {
				failed++
			}
		}
		klog.InfoS("Manifests applied", "dir", c.dir, "files", len(c.files), "notApplied", failed,
			"removed", len(remove), "took", time.Since(begin).Round(time.Millisecond))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// observe reads the manifests whose stat changed since the last scan and
// parses those whose content changed, and forgets the files that are gone
// or skipped (a skipped file that comes back is read afresh, and applied).
// A file that cannot be read or does not parse is reported once per
// content.
func (c *Controller) observe(ctx context.Context, t tree) {
	for p := range c.files {
		if _, ok := t.files[p]; !ok || t.skipped[p] {
			delete(c.files, p)
		}
	}
	paths := make([]string, 0, len(t.files))
	for p := range t.files {
		if !t.skipped[p] {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	paths = slices.DeleteFunc(paths, func(p string) bool { m := c.files[p]; return m != nil && m.stat == t.files[p] })
	c.settle(ctx, paths, t)
	for _, p := range paths {
		st := t.files[p]
		m := c.files[p]
		data, stable, err := readStable(filepath.Join(c.dir, filepath.FromSlash(p)), st)
		if err == nil && !stable {
			continue // being written: the next scan reads it
		}
		if m == nil {
			m = &manifest{}
			c.files[p] = m
		}
		m.stat = st
		if err != nil {
			if m.bad == nil || m.bad.Error() != err.Error() {
				c.report.invalid(c.k.recordRef(c.ensureRecord(ctx, p)), p, err)
			}
			*m = manifest{stat: st, bad: err}
			continue
		}
		sum := sha256.Sum256(data)
		hash := hex.EncodeToString(sum[:])
		if hash == m.hash {
			continue // touched, not changed
		}
		*m = manifest{stat: st, hash: hash}
		objs, err := parseManifest(p, data)
		if err != nil {
			m.bad = err
			c.report.invalid(c.k.recordRef(c.ensureRecord(ctx, p)), p, err)
			continue
		}
		m.objs = objs
		for _, o := range objs {
			m.refs = append(m.refs, refOf(o))
		}
	}
}

// settleTime is how long a changed file must have been left alone before
// it is read. A writer that truncates a file and then writes it leaves it
// empty or half written for a moment; applied, that would prune what the
// file declares.
const settleTime = 250 * time.Millisecond

// settle waits until the newest of the changed files paths is settleTime
// old; readStable then tells whether one changed meanwhile.
func (c *Controller) settle(ctx context.Context, paths []string, t tree) {
	now := time.Now()
	var wait time.Duration
	for _, p := range paths {
		if age := now.Sub(time.Unix(0, t.files[p].mtime)); age < settleTime {
			wait = max(wait, min(settleTime-age, settleTime)) // a clock step may put mtime ahead
		}
	}
	if wait > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// record returns the inventory of path, a new one not yet written if it
// has none.
func (c *Controller) record(path string) *record {
	r := c.records[path]
	if r == nil {
		r = &record{path: path, name: inventoryName(path)}
		c.records[path] = r
	}
	return r
}

// ensureRecord returns the inventory of path, written if it was not, so
// that Events about the file have an object to be reported on.
func (c *Controller) ensureRecord(ctx context.Context, path string) *record {
	r := c.record(path)
	if r.uid == "" {
		if err := c.k.writeRecord(ctx, r); err != nil {
			klog.V(1).ErrorS(err, "Manifest inventory not written", "file", path)
		}
	}
	return r
}

// result is what one pass did with one file's objects.
type result struct {
	refs   []ObjectRef // every object, with the namespace it was applied in
	failed int
}

// pass applies the manifests of apply, in dependency order across all of
// them, prunes what each no longer declares once it applied in full, and
// removes what the gone files of remove deployed.
func (c *Controller) pass(ctx context.Context, apply, remove []string, now time.Time) {
	c.k.beginPass()
	var items []item
	results := map[string]*result{}
	for _, p := range apply {
		if !c.recordIntent(ctx, p, now) {
			continue
		}
		results[p] = &result{}
		for i, o := range c.files[p].objs {
			items = append(items, item{file: p, index: i, obj: labelled(o, p)})
		}
	}
	sortForApply(items)

	var crds []*unstructured.Unstructured
	for i, it := range items {
		if it.rank() > rankCRD && len(crds) > 0 {
			c.waitCRDs(ctx, crds, items[i:])
			crds = nil
		}
		ref, err := c.k.apply(ctx, it.obj)
		if ctx.Err() != nil {
			return // stopping: the next start applies it all again
		}
		res := results[it.file]
		res.refs = append(res.refs, ref)
		if err != nil {
			res.failed++
			c.report.applyFailed(c.k.recordRef(c.records[it.file]), it.file, ref, err)
			continue
		}
		klog.V(2).InfoS("Manifest object applied", "file", it.file, "object", ref.String())
		if it.rank() == rankCRD {
			crds = append(crds, it.obj)
		}
	}
	for _, p := range apply {
		if res := results[p]; res != nil {
			c.finish(ctx, p, res, now)
		}
	}
	for _, p := range remove {
		c.removeFile(ctx, p, now)
	}
}

// labelled returns a copy of o marked as declared by path.
func labelled(o *unstructured.Unstructured, path string) *unstructured.Unstructured {
	u := o.DeepCopy()
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManifestLabel] = LabelValue(path)
	u.SetLabels(labels)
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[PathAnnotation] = path
	u.SetAnnotations(ann)
	return u
}

// recordIntent writes into path's inventory what its content is about to
// apply, before it does: a crash in between never leaves an applied
// object missing from every inventory. False when it could not be
// written: the file then waits for its back-off, unapplied.
func (c *Controller) recordIntent(ctx context.Context, path string, now time.Time) bool {
	m, r := c.files[path], c.record(path)
	want := union(r.refs, m.refs)
	if r.uid != "" && sameRefs(want, r.refs) {
		return true
	}
	prev := r.refs
	r.refs = want
	if err := c.k.writeRecord(ctx, r); err != nil {
		r.refs = prev
		if ctx.Err() == nil {
			klog.ErrorS(err, "Manifest not applied; tried again", "file", c.report.file(path))
			m.retry.fail(now)
		}
		return false
	}
	return true
}

// waitCRDs waits for the CRDs just applied whose group a later object of
// the pass uses.
func (c *Controller) waitCRDs(ctx context.Context, crds []*unstructured.Unstructured, later []item) {
	used := map[string]bool{}
	for _, it := range later {
		used[it.obj.GroupVersionKind().Group] = true
	}
	var names []string
	for _, crd := range crds {
		if used[crdKind(crd).Group] {
			names = append(names, crd.GetName())
		}
	}
	if len(names) == 0 {
		return
	}
	if late := c.k.waitCRDs(ctx, names, crdTimeout); len(late) > 0 && ctx.Err() == nil {
		klog.InfoS("CustomResourceDefinitions not served yet; their objects are tried again later", "crds", late, "waited", crdTimeout)
	}
	c.k.beginPass() // discovery may be asked again for what they define
}

// finish ends path's part of a pass. A file whose every object applied has
// what it no longer declares pruned, unless another file claims it, and
// its inventory set to what it declares (with what could not be deleted);
// a file with a refused object prunes nothing — its inventory keeps old and
// new — and is tried again after its back-off.
func (c *Controller) finish(ctx context.Context, path string, res *result, now time.Time) {
	m, r := c.files[path], c.records[path]
	m.refs = res.refs
	file := c.report.file(path)
	if res.failed > 0 {
		c.writeRefs(ctx, r, union(r.refs, m.refs))
		m.retry.fail(now)
		klog.InfoS("Manifest partly applied; nothing of it is pruned until all of it applies", "file", file,
			"objects", len(m.refs), "refused", res.failed, "retryIn", m.retry.at.Sub(now).Round(time.Second))
		return
	}
	left, deleted, ok := c.prune(ctx, path, r, stale(r.refs, m.refs))
	if !ok {
		return
	}
	if !c.writeRefs(ctx, r, union(left, m.refs)) || len(left) > 0 {
		m.retry.fail(now)
		return
	}
	m.applied = true
	m.retry.reset()
	c.report.applied(c.k.recordRef(r), path, len(m.refs), deleted)
}

// removeFile deletes what the gone file path deployed, and then its
// inventory; what could not be deleted stays listed and is tried again
// after a back-off.
func (c *Controller) removeFile(ctx context.Context, path string, now time.Time) {
	r := c.records[path]
	left, deleted, ok := c.prune(ctx, path, r, r.refs)
	if !ok {
		return
	}
	if len(left) > 0 {
		c.writeRefs(ctx, r, left)
		r.retry.fail(now)
		return
	}
	if err := c.k.deleteRecord(ctx, r); err != nil {
		if ctx.Err() == nil {
			klog.ErrorS(err, "Manifest inventory not deleted; tried again", "file", c.report.file(path))
			r.retry.fail(now)
		}
		return
	}
	delete(c.records, path)
	klog.InfoS("Manifest removed, and what it deployed", "file", c.report.file(path), "deleted", deleted)
}

// prune deletes the candidates of path that no other file claims, in
// reverse dependency order. It returns those that could not be deleted,
// how many were, and false if ctx ended meanwhile.
func (c *Controller) prune(ctx context.Context, path string, r *record, candidates []ObjectRef) (left []ObjectRef, deleted int, ok bool) {
	targets := prunable(candidates, claimsBesides(path, c.tree, c.files, c.records))
	sortForDelete(targets)
	label := LabelValue(path)
	for _, ref := range targets {
		out, err := c.k.remove(ctx, ref, label)
		if ctx.Err() != nil {
			return nil, 0, false
		}
		switch {
		case err != nil:
			left = append(left, ref)
			c.report.pruneFailed(c.k.recordRef(r), path, ref, err)
		case out == removed:
			deleted++
			klog.InfoS("Deleted what the manifests no longer declare", "file", c.report.file(path), "object", ref.String())
		case out == kept:
			klog.V(1).InfoS("Left alone: the object now belongs to another file or to the user", "file", c.report.file(path), "object", ref.String())
		}
	}
	return left, deleted, true
}

// writeRefs sets r's refs to want and writes them if they changed,
// returning false when the write failed (it is logged; r keeps the refs it
// had, which still cover every object).
func (c *Controller) writeRefs(ctx context.Context, r *record, want []ObjectRef) bool {
	if r.uid != "" && sameRefs(want, r.refs) {
		return true
	}
	prev := r.refs
	r.refs = want
	if err := c.k.writeRecord(ctx, r); err != nil {
		r.refs = prev
		if ctx.Err() == nil {
			klog.ErrorS(err, "Manifest inventory not updated; tried again", "file", c.report.file(r.path))
		}
		return false
	}
	return true
}
