package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

const (
	// FieldManager owns the fields skiff applies (server-side apply).
	FieldManager = "skiff"
	// ManifestLabel, on every applied object, holds LabelValue of the path
	// of the file that declared it: `kubectl get all -l
	// skiff.io/manifest=coredns.yaml` lists what a file deployed.
	ManifestLabel = "skiff.io/manifest"
	// PathAnnotation, on every applied object and inventory, holds the
	// file's path relative to the manifests folder, unshortened.
	PathAnnotation = "skiff.io/manifest-path"
	// InventoryLabel marks the inventory ConfigMaps; its value is
	// LabelValue of the file's path.
	InventoryLabel = "skiff.io/manifest-inventory"
)

// maxLabelValue and maxInventoryName bound what a label value and a name
// may hold (a label value: 63; a ConfigMap name may be longer, but 63 keeps
// `kubectl get cm` readable).
const (
	maxLabelValue    = 63
	maxInventoryName = 63
	inventoryPrefix  = "skiff-manifest-"
	hashSuffixLen    = 8
)

// LabelValue is the label-safe form of a manifest's path relative to the
// folder: the path itself when it is a valid label value ("coredns.yaml");
// otherwise every character a label value cannot hold becomes "_", and the
// value is cut to fit and ends with "-" and 8 hex digits of the path's
// SHA-256, so two paths never share a value ("apps/web.yaml" becomes
// "apps_web.yaml-" and a hash).
func LabelValue(rel string) string {
	return sanitize(rel, maxLabelValue, func(r rune) rune {
		if isAlnum(r) || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	})
}

// inventoryName is the name of the inventory ConfigMap of the manifest
// rel: "skiff-manifest-" and rel in lower case, with the same hash suffix
// as LabelValue when the path had to change to fit a name.
func inventoryName(rel string) string {
	return inventoryPrefix + sanitize(rel, maxInventoryName-len(inventoryPrefix), func(r rune) rune {
		switch {
		case (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' || r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	})
}

// sanitize maps s through keep (which returns its rune, or the one that
// replaces it), trims what does not start or end with a letter or digit,
// and, if that changed s or it is longer than max, cuts it to leave room
// for "-" and a hash of s. The result is never empty and always starts and
// ends with a letter or digit.
func sanitize(s string, max int, keep func(rune) rune) string {
	mapped := strings.Map(keep, s)
	out := strings.TrimFunc(mapped, func(r rune) bool { return !isAlnum(r) })
	if out == s && len(out) <= max && out != "" {
		return out
	}
	sum := sha256.Sum256([]byte(s))
	hash := hex.EncodeToString(sum[:])[:hashSuffixLen]
	room := max - 1 - hashSuffixLen
	if len(out) > room {
		out = out[:room] // keep maps to ASCII, so this cuts no rune
	}
	out = strings.TrimRightFunc(out, func(r rune) bool { return !isAlnum(r) })
	if out == "" {
		return hash
	}
	return out + "-" + hash
}

func isAlnum(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
}
