package pki

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"slices"
	"time"
)

// RenewBefore is how close to expiry a leaf certificate may get before
// Ensure replaces it. Long enough that a server restarted only every few
// weeks still renews in time.
const RenewBefore = 90 * 24 * time.Hour

// renewReason says why cert no longer serves as spec's certificate, or ""
// if it still does.
func renewReason(cert *x509.Certificate, spec leafSpec, now time.Time) string {
	switch {
	case now.Before(cert.NotBefore):
		// Issued while the clock was wrong, e.g. before NTP caught up.
		return fmt.Sprintf("not valid until %s", cert.NotBefore.UTC().Format(time.RFC3339))
	case cert.NotAfter.Sub(now) < RenewBefore:
		return fmt.Sprintf("expires %s", cert.NotAfter.UTC().Format(time.RFC3339))
	case !bytes.Equal(cert.RawIssuer, spec.ca.Cert.RawSubject) || cert.CheckSignatureFrom(spec.ca.Cert) != nil:
		return "not signed by the current CA"
	case cert.Subject.CommonName != spec.req.cn || !sameStrings(cert.Subject.Organization, spec.req.orgs):
		return "subject changed"
	case !slices.Equal(cert.ExtKeyUsage, spec.req.usage):
		return "extended key usage changed"
	}
	// Extra SANs are harmless, so only missing ones count: a SAN removed
	// from the options lingers until the next renewal.
	for _, ip := range uniqueIPs(spec.req.ips) {
		if !containsIP(cert.IPAddresses, ip) {
			return fmt.Sprintf("does not cover IP %s", ip)
		}
	}
	for _, name := range uniqueNames(spec.req.dns) {
		if !containsName(cert.DNSNames, name) {
			return fmt.Sprintf("does not cover name %s", name)
		}
	}
	return ""
}

// sameStrings compares as sets, so that a reordering by another tool does
// not force a renewal.
func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
