// Package pki creates and maintains the certificates a skiff server needs,
// in one directory (the server passes <data-dir>/server/tls).
//
// Ensure is safe to call on every start: it creates what is missing, renews
// leaf certificates that are close to expiry or no longer match the wanted
// subject, usages or serving SANs, and leaves everything else byte for byte
// alone. It never replaces a CA or a key that exists, because CAs are pinned
// by join tokens and kubeconfigs outside this directory; when a file it would
// need to replace is missing or does not match, it fails with an error naming
// the file and lets the user decide.
//
// Every file is written to a temporary file in the same directory and renamed
// into place, so a crash never leaves a half-written certificate or key.
package pki
