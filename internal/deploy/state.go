package deploy

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// manifest is what the controller knows of one file on disk.
type manifest struct {
	stat fileStat
	hash string // of the content last read
	// objs are the objects of the content last read; bad, if not nil, says
	// why it has none to apply (it could not be read or does not parse).
	objs []*unstructured.Unstructured
	bad  error
	// refs are what the content declares, with the namespaces they were
	// applied in once they have been.
	refs []ObjectRef
	// applied is true once the content applied in full and what it no
	// longer declares was pruned.
	applied bool
	retry   backoff
}

// record is a file's inventory: the ConfigMap that lists what it deployed.
type record struct {
	path string
	name string
	uid  types.UID
	refs []ObjectRef
	// retry paces the pruning of a removed file whose objects could not
	// all be deleted.
	retry backoff
}

// Back-off of a file that did not apply in full: the first retry after
// backoffBase, doubling up to backoffMax.
const (
	backoffBase = 5 * time.Second
	backoffMax  = 5 * time.Minute
)

type backoff struct {
	failures int
	at       time.Time
}

func (b *backoff) fail(now time.Time) {
	b.failures++
	d := backoffMax
	if b.failures <= 8 { // 5 s << 7 is past the bound already
		d = min(backoffBase<<(b.failures-1), backoffMax)
	}
	b.at = now.Add(d)
}

func (b *backoff) reset() { *b = backoff{} }

func (b backoff) due(now time.Time) bool { return !now.Before(b.at) }

// toApply returns, sorted, the manifests to apply now: read and parsed,
// not yet applied in full, and past their back-off.
func toApply(files map[string]*manifest, now time.Time) []string {
	var out []string
	for p, m := range files {
		if m.bad == nil && !m.applied && m.retry.due(now) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// toRemove returns, sorted, the files whose inventory remains though they
// are gone: not on disk and not skipped, past their back-off. Only a
// complete scan tells that a file is gone.
func toRemove(t tree, records map[string]*record, now time.Time) []string {
	if !t.complete {
		return nil
	}
	var out []string
	for p, r := range records {
		if _, ok := t.files[p]; ok || t.skipped[p] {
			continue
		}
		if r.retry.due(now) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// claimsBesides returns what the files other than path declare, or may
// still have deployed: for a file on disk whose content parsed, what that
// content declares; for one that is skipped, does not parse or could not
// be read, what its inventory lists (its objects stay). A file that is
// gone claims nothing.
func claimsBesides(path string, t tree, files map[string]*manifest, records map[string]*record) []ObjectRef {
	var out []ObjectRef
	seen := map[string]bool{path: true}
	for p := range t.files {
		if seen[p] {
			continue
		}
		seen[p] = true
		if m := files[p]; m != nil && m.bad == nil && !t.skipped[p] {
			out = append(out, m.refs...)
		} else if r := records[p]; r != nil {
			out = append(out, r.refs...)
		}
	}
	for p := range t.skipped {
		if r := records[p]; r != nil && !seen[p] {
			seen[p] = true
			out = append(out, r.refs...)
		}
	}
	return out
}

// prunable returns the refs of candidates that no other file claims.
func prunable(candidates, claims []ObjectRef) []ObjectRef {
	var out []ObjectRef
	for _, r := range candidates {
		if !containsRef(claims, r) {
			out = append(out, r)
		}
	}
	return out
}
