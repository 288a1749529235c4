package etcd

import (
	"context"
	"time"

	"k8s.io/klog/v2"
)

// Compaction frees revisions inside the database file but never shrinks
// it; defragmentation does, at the cost of blocking this member for the
// copy (about a second per 100 MiB). It runs only when at least half the
// file, and at least defragMinFree, is free: a store under steady churn
// then stays within about twice its live size.
const (
	defragEvery   = 10 * time.Minute
	defragMinFree = 32 << 20
)

func (e *Etcd) defragLoop(ctx context.Context) {
	t := time.NewTicker(defragEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.defragOnce(ctx)
		}
	}
}

func (e *Etcd) defragOnce(ctx context.Context) {
	cli, err := e.client()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := cli.Status(ctx, e.clientURL())
	if err != nil {
		klog.V(1).InfoS("Reading etcd's status for defragmentation", "err", err)
		return
	}
	free := st.DbSize - st.DbSizeInUse
	if free < defragMinFree || free*2 < st.DbSize {
		return
	}
	start := time.Now()
	if _, err := cli.Defragment(ctx, e.clientURL()); err != nil {
		klog.ErrorS(err, "Defragmenting etcd")
		return
	}
	klog.InfoS("Defragmented etcd", "before", st.DbSize, "inUse", st.DbSizeInUse, "took", time.Since(start).Round(time.Millisecond))
}
