package datastore

import (
	"fmt"
	"os"

	kinetls "github.com/k3s-io/kine/pkg/tls"
)

// TLSFiles are the files of a TLS connection to a store: the CA that
// signed its serving certificate, and the client certificate and key to
// show it. Empty fields are not used.
type TLSFiles struct {
	CAFile   string
	CertFile string
	KeyFile  string
}

// Empty tells whether no file is set.
func (f TLSFiles) Empty() bool { return f == TLSFiles{} }

// check says, in one line naming the flag, which given file cannot be
// read, and refuses a certificate without its key or the other way round.
func (f TLSFiles) check() error {
	if (f.CertFile == "") != (f.KeyFile == "") {
		return fmt.Errorf("--datastore-certfile and --datastore-keyfile go together: give both, or neither")
	}
	for _, file := range []struct{ flag, path string }{
		{"--datastore-cafile", f.CAFile}, {"--datastore-certfile", f.CertFile}, {"--datastore-keyfile", f.KeyFile},
	} {
		if file.path == "" {
			continue
		}
		if _, err := os.ReadFile(file.path); err != nil {
			return fmt.Errorf("%s %s cannot be read (%v); give the path of an existing PEM file", file.flag, file.path, err)
		}
	}
	return nil
}

func (f TLSFiles) kine() kinetls.Config {
	return kinetls.Config{CAFile: f.CAFile, CertFile: f.CertFile, KeyFile: f.KeyFile}
}
