package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/internal/etcd"
	"github.com/skiff-k8s/skiff/internal/join"
)

// etcdJoiner asks the server this one joins, through its supervisor and
// with the server token, to make this server an etcd member.
type etcdJoiner struct {
	c *join.Client
}

var _ etcd.Joiner = (*etcdJoiner)(nil)

// addLearnerTimeout covers another server's join under way: etcd takes
// one learner at a time, and the server answers "try again" meanwhile.
const addLearnerTimeout = 3 * time.Minute

func (j *etcdJoiner) AddLearner(ctx context.Context, name, peerURL string) (etcd.Membership, error) {
	ctx, cancel := context.WithTimeout(ctx, addLearnerTimeout)
	defer cancel()
	for {
		var m etcd.Membership
		err := j.c.Call(ctx, http.MethodPost, etcd.PathLearner, etcd.LearnerRequest{Name: name, PeerURL: peerURL}, &m)
		if err == nil {
			return m, nil
		}
		if join.IsRefused(err) {
			return m, err
		}
		klog.InfoS("Asking to be added as an etcd member", "err", err)
		select {
		case <-ctx.Done():
			return m, fmt.Errorf("becoming an etcd member: %w", err)
		case <-time.After(2 * time.Second):
		}
	}
}

func (j *etcdJoiner) Promote(ctx context.Context, id uint64) error {
	return j.c.Call(ctx, http.MethodPost, etcd.PathPromote, etcd.MemberRequest{ID: id}, &struct{}{})
}

func (j *etcdJoiner) Remove(ctx context.Context, id uint64) error {
	return j.c.Call(ctx, http.MethodPost, etcd.PathRemove, etcd.MemberRequest{ID: id}, &struct{}{})
}
