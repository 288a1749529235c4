package datastore

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/k3s-io/kine/pkg/drivers"
	"github.com/k3s-io/kine/pkg/server"
)

// sharedSchemes are kine's drivers for a database that several servers
// write at once.
var sharedSchemes = []string{"postgres", "postgresql", "mysql"}

var shareOnce sync.Once

// serveSharedRevisions makes kine's drivers for shared databases serve
// through sharedLog. kine's driver registry is process-wide, so this
// happens once, before the first kine starts.
func serveSharedRevisions() {
	shareOnce.Do(func() {
		for _, scheme := range sharedSchemes {
			open, ok := drivers.Get(scheme)
			if !ok {
				continue
			}
			drivers.Register(scheme, func(ctx context.Context, wg *sync.WaitGroup, cfg *drivers.Config) (bool, server.Backend, error) {
				leaderElect, backend, err := open(ctx, wg, cfg)
				if err != nil || backend == nil {
					return leaderElect, backend, err
				}
				return leaderElect, &sharedLog{Backend: backend}, nil
			})
		}
	})
}

// sharedLog is kine's backend over a database that other servers write
// too, with its current revision kept up with what it has read.
//
// kine's watch progress reports carry its current revision, and the
// apiserver's watch cache, and with it every informer's first list,
// waits for a report at or past the database's latest revision. kine
// moves that revision on with its own writes, and with what its poller
// reads only while the poller stands exactly there. Another server's
// write landing between the two (as at start, when kine reads the
// revision once to report and once to poll from) leaves the revision
// behind for good; a server that writes nothing itself, as one joining
// a cluster that already has its objects, never catches up: its
// informers never sync and it is never ready. Here the revision is also
// the latest one the poller has handed to watches; kine still reports
// progress only once every watch of a stream has had that revision.
type sharedLog struct {
	server.Backend
	polled atomic.Int64
}

// Start starts the backend and follows its poller through a watch of
// every key.
func (l *sharedLog) Start(ctx context.Context) error {
	if err := l.Backend.Start(ctx); err != nil {
		return err
	}
	w := l.Backend.Watch(ctx, 0)
	l.raise(w.CurrentRevision)
	go func() {
		for batch := range w.Eventc {
			l.raise(batch.CurrentRev)
		}
	}()
	return nil
}

func (l *sharedLog) CurrentRevision(ctx context.Context) (int64, error) {
	rev, err := l.Backend.CurrentRevision(ctx)
	if err != nil {
		return rev, err
	}
	return max(rev, l.polled.Load()), nil
}

func (l *sharedLog) raise(rev int64) {
	for {
		cur := l.polled.Load()
		if rev <= cur || l.polled.CompareAndSwap(cur, rev) {
			return
		}
	}
}
