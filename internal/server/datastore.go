package server

import (
	"context"

	"github.com/skiff-k8s/skiff/internal/datastore"
)

// checkDatastore proves that an external datastore answers and takes
// skiff's credentials and TLS files (see datastore.Datastore.Check); with
// SQLite it has nothing to do.
func checkDatastore(ctx context.Context, cfg Config) error {
	d := &datastore.Datastore{Endpoint: cfg.DatastoreEndpoint, Timeout: cfg.DatastoreTimeout, TLS: cfg.DatastoreTLS}
	return d.Check(ctx)
}
