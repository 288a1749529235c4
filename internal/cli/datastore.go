package cli

import (
	"github.com/urfave/cli/v2"

	"github.com/skiff-k8s/skiff/internal/datastore"
)

// datastoreTLS binds --datastore-cafile, --datastore-certfile and
// --datastore-keyfile (k3s's names).
func datastoreTLS(c *cli.Context) datastore.TLSFiles {
	return datastore.TLSFiles{
		CAFile:   c.String("datastore-cafile"),
		CertFile: c.String("datastore-certfile"),
		KeyFile:  c.String("datastore-keyfile"),
	}
}
