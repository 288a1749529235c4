package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"
)

// Options says where the certificates live and what the serving
// certificate must cover.
type Options struct {
	// Dir holds every file; it is created with mode 0700 if missing.
	Dir string
	// ServingIPs and ServingNames are the SANs of the apiserver and
	// supervisor serving certificate. A certificate that lacks any of them
	// is re-issued with the same key.
	ServingIPs   []net.IP
	ServingNames []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Ensure creates whatever is missing under opts.Dir, renews leaf
// certificates that are due or no longer match (keeping their keys), and
// returns the paths. It never regenerates a CA or a key that exists.
func Ensure(opts Options) (*Files, error) {
	if opts.Dir == "" {
		return nil, errors.New("ensuring certificates: no directory given")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("ensuring certificates in %s: %w", opts.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating certificate directory: %w", err)
	}
	clock := opts.Now
	if clock == nil {
		clock = time.Now
	}
	// One instant for the whole run keeps every decision and every new
	// certificate consistent with each other.
	now := clock()
	fixed := func() time.Time { return now }

	f := newFiles(dir)
	serverCA, err := ensureCA(f.ServerCACert, f.ServerCAKey, "skiff-server-ca", now, fixed)
	if err != nil {
		return nil, err
	}
	clientCA, err := ensureCA(f.ClientCACert, f.ClientCAKey, "skiff-client-ca", now, fixed)
	if err != nil {
		return nil, err
	}
	requestHeaderCA, err := ensureCA(f.RequestHeaderCACert, f.RequestHeaderCAKey, "skiff-request-header-ca", now, fixed)
	if err != nil {
		return nil, err
	}
	if err := ensureServiceKey(f.ServiceKey); err != nil {
		return nil, err
	}
	for _, spec := range leafSpecs(f, opts, serverCA, clientCA, requestHeaderCA) {
		if err := ensureLeaf(spec, now); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// ensureCA loads the CA at certPath and keyPath, creating it only when
// neither file exists. Half a CA is an error: replacing it would silently
// invalidate every certificate, kubeconfig and join token that trusts it.
func ensureCA(certPath, keyPath, name string, now time.Time, clock func() time.Time) (*CA, error) {
	certOK, err := exists(certPath)
	if err != nil {
		return nil, err
	}
	keyOK, err := exists(keyPath)
	if err != nil {
		return nil, err
	}
	const consequence = "every certificate it signed and every join token must then be replaced"
	switch {
	case !certOK && !keyOK:
		ca, keyPEM, err := newCA(name, now)
		if err != nil {
			return nil, err
		}
		// Key first: a crash in between leaves a key without certificate,
		// which the next start reports rather than papering over.
		if err := writeFileAtomic(keyPath, keyPEM, keyMode); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(certPath, ca.CertPEM, certMode); err != nil {
			return nil, err
		}
		ca.now = clock
		klog.InfoS("Created CA", "cert", certPath, "subject", ca.Cert.Subject.CommonName)
		return ca, nil
	case certOK && !keyOK:
		return nil, fmt.Errorf("CA certificate %s exists but its key %s is missing: restore the key, or remove the certificate too to create a new CA (%s)", certPath, keyPath, consequence)
	case !certOK && keyOK:
		return nil, fmt.Errorf("CA key %s exists but its certificate %s is missing: restore the certificate, or remove the key too to create a new CA (%s)", keyPath, certPath, consequence)
	}
	if err := tightenMode(keyPath, keyMode); err != nil {
		return nil, err
	}
	ca, err := loadCA(certPath, keyPath, clock)
	if err != nil {
		return nil, err
	}
	if left := ca.Cert.NotAfter.Sub(now); left < LeafValidity {
		klog.InfoS("CA expires soon and is never renewed automatically; plan a CA rotation",
			"cert", certPath, "notAfter", ca.Cert.NotAfter.UTC())
	}
	return ca, nil
}

// ensureServiceKey creates the service-account signing key if missing. An
// existing one is only checked: replacing it would invalidate every service
// account token in the cluster.
func ensureServiceKey(path string) error {
	ok, err := exists(path)
	if err != nil {
		return err
	}
	if ok {
		if err := tightenMode(path, keyMode); err != nil {
			return err
		}
		_, err := readKey(path)
		return err
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, keyPEM, keyMode)
}

// ensureLeaf creates, renews or keeps one leaf certificate. An existing key
// is always kept, so a renewal never breaks a process that loaded it.
func ensureLeaf(spec leafSpec, now time.Time) error {
	certOK, err := exists(spec.cert)
	if err != nil {
		return err
	}
	keyOK, err := exists(spec.key)
	if err != nil {
		return err
	}
	if certOK && !keyOK {
		return fmt.Errorf("certificate %s exists but its key %s is missing: restore the key, or remove the certificate to have both issued anew", spec.cert, spec.key)
	}

	if !keyOK {
		key, err := newKey()
		if err != nil {
			return err
		}
		keyPEM, err := encodeKey(key)
		if err != nil {
			return err
		}
		certPEM, err := spec.ca.issue(spec.req, key.Public())
		if err != nil {
			return err
		}
		// Key first, so that a crash in between leaves a key the next start
		// simply issues a certificate for.
		if err := writeFileAtomic(spec.key, keyPEM, keyMode); err != nil {
			return err
		}
		return writeFileAtomic(spec.cert, certPEM, certMode)
	}

	if err := tightenMode(spec.key, keyMode); err != nil {
		return err
	}
	key, err := readKey(spec.key)
	if err != nil {
		return err
	}
	reason := "missing"
	if certOK {
		cert, _, err := readCert(spec.cert)
		if err != nil {
			return err
		}
		if !matches(cert, key) {
			return fmt.Errorf("key %s does not belong to certificate %s: restore the matching key, or remove both to have them issued anew", spec.key, spec.cert)
		}
		reason = renewReason(cert, spec, now)
		if reason == "" {
			return nil
		}
	}
	certPEM, err := spec.ca.issue(spec.req, key.Public())
	if err != nil {
		return err
	}
	if err := writeFileAtomic(spec.cert, certPEM, certMode); err != nil {
		return err
	}
	if certOK {
		klog.InfoS("Renewed certificate", "cert", spec.cert, "reason", reason)
	}
	return nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("checking %s: %w", path, err)
	}
}
