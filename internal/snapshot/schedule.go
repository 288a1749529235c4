package snapshot

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/component"
)

// DefaultSchedule is k3s's: every 12 hours, on the hour.
const DefaultSchedule = "0 */12 * * *"

// ParseSchedule reads --etcd-snapshot-schedule-cron: five cron fields, or a
// descriptor such as @daily or @every 6h, as k3s takes.
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("--etcd-snapshot-schedule-cron %q is not a cron schedule (%v); give five fields such as %q (minute hour day month weekday)", spec, err, DefaultSchedule)
	}
	return s, nil
}

// Scheduled is the server's snapshot part: it takes a snapshot on the
// schedule, prunes the scheduled ones to the retention, and keeps the
// ConfigMap that lists this node's snapshots current.
type Scheduled struct {
	// Store is the data dir whose store is copied.
	Store Store
	// Dir is the snapshots folder (--etcd-snapshot-dir or DefaultDir).
	Dir string
	// NodeName names this server in file names and in the ConfigMap.
	NodeName string
	// Schedule is the cron spec; it was checked with ParseSchedule.
	Schedule string
	// Retention is how many scheduled snapshots of this node to keep.
	Retention int
	// Disabled turns the schedule off (--etcd-disable-snapshots, or a
	// datastore skiff cannot copy); snapshots saved by hand are still
	// recorded.
	Disabled bool
	// Client writes the ConfigMap.
	Client kubernetes.Interface
	// RescanInterval is how often the folder is compared with the
	// ConfigMap; 0 means 5 s.
	RescanInterval time.Duration

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ component.Component = (*Scheduled)(nil)

func (s *Scheduled) Name() string { return "etcd-snapshots" }

func (s *Scheduled) Start(ctx context.Context) error {
	var sched cron.Schedule
	if !s.Disabled {
		var err error
		if sched, err = ParseSchedule(s.Schedule); err != nil {
			return err
		}
	}
	if s.Dir == "" {
		s.Dir = DefaultDir(s.Store.DataDir)
	}
	if s.RescanInterval == 0 {
		s.RescanInterval = 5 * time.Second
	}
	ctx, s.cancel = context.WithCancel(ctx)
	rec := &recorder{client: s.Client, dir: s.Dir, node: s.NodeName}
	taken := make(chan struct{}, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		rec.run(ctx, s.RescanInterval, taken)
	}()
	if sched != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runSchedule(ctx, sched, taken)
		}()
	}
	return nil
}

func (s *Scheduled) Ready(context.Context) error { return nil }

func (s *Scheduled) Stop(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("a snapshot under way did not end in time")
	}
}

// runSchedule takes a snapshot at each time of the schedule, and tells the
// recorder through taken. A failed snapshot is logged and the schedule
// goes on: the next one may succeed.
func (s *Scheduled) runSchedule(ctx context.Context, sched cron.Schedule, taken chan<- struct{}) {
	for {
		next := sched.Next(time.Now())
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.takeOne(ctx)
		select {
		case taken <- struct{}{}:
		default:
		}
	}
}

func (s *Scheduled) takeOne(ctx context.Context) {
	begin := time.Now()
	info, err := s.Store.Save(ctx, SaveOptions{Dir: s.Dir, Name: ScheduledName, NodeName: s.NodeName})
	if err != nil {
		klog.ErrorS(err, "Scheduled snapshot failed; the next one is tried on schedule")
		return
	}
	klog.InfoS("Saved a scheduled snapshot", "file", info.Path(), "size", info.Size, "took", time.Since(begin).Round(time.Millisecond))
	deleted, err := Prune(s.Dir, Prefix(ScheduledName, s.NodeName), s.Retention)
	if err != nil {
		klog.ErrorS(err, "Pruning scheduled snapshots failed")
	}
	if len(deleted) > 0 {
		klog.InfoS("Pruned scheduled snapshots", "retention", s.Retention, "deleted", deleted)
	}
}
