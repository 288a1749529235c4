package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"k8s.io/klog/v2"
)

// Supervisor routes through which a joining server becomes a member; the
// supervisor lets only the server token in (join.Server.ServerOnly).
const (
	PathLearner = "/v1-skiff/etcd/learner"
	PathPromote = "/v1-skiff/etcd/promote"
	PathRemove  = "/v1-skiff/etcd/remove"
)

// LearnerRequest asks for a learner member.
type LearnerRequest struct {
	Name    string `json:"name"`
	PeerURL string `json:"peerURL"`
}

// MemberRequest names a member by ID.
type MemberRequest struct {
	ID uint64 `json:"id"`
}

// Routes are the member routes this server answers, through its own
// member.
func (e *Etcd) Routes() map[string]http.HandlerFunc {
	var mu sync.Mutex // one join at a time: etcd allows one learner
	return map[string]http.HandlerFunc{
		PathLearner: func(w http.ResponseWriter, r *http.Request) {
			var req LearnerRequest
			if !decode(w, r, &req) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			m, status, err := e.addLearner(r.Context(), req)
			if err != nil {
				klog.InfoS("Refused an etcd member", "name", req.Name, "peer", req.PeerURL, "reason", err.Error())
				http.Error(w, err.Error(), status)
				return
			}
			klog.InfoS("Added an etcd learner", "name", req.Name, "peer", req.PeerURL, "id", fmt.Sprintf("%x", m.ID))
			writeJSON(w, m)
		},
		PathPromote: func(w http.ResponseWriter, r *http.Request) {
			var req MemberRequest
			if !decode(w, r, &req) {
				return
			}
			if err := e.memberCall(r.Context(), func(ctx context.Context) error {
				cli, err := e.client()
				if err != nil {
					return err
				}
				_, err = cli.MemberPromote(ctx, req.ID)
				return err
			}); err != nil {
				// Not caught up yet, mostly: the joining server asks again.
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			klog.InfoS("Promoted an etcd learner to voter", "id", fmt.Sprintf("%x", req.ID))
			writeJSON(w, struct{}{})
		},
		PathRemove: func(w http.ResponseWriter, r *http.Request) {
			var req MemberRequest
			if !decode(w, r, &req) {
				return
			}
			if err := e.removeMember(r.Context(), req.ID); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			writeJSON(w, struct{}{})
		},
	}
}

func (e *Etcd) memberCall(ctx context.Context, f func(context.Context) error) error {
	if e.e == nil {
		return errors.New("etcd is not running on this server yet")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return f(ctx)
}

// addLearner adds the learner and names every member for its initial
// cluster. A member that never started with the same name or peer URL (a
// join that died before it could clean up) is replaced; a started one is
// refused: two servers cannot share a name.
func (e *Etcd) addLearner(ctx context.Context, req LearnerRequest) (Membership, int, error) {
	if req.Name == "" || !strings.HasPrefix(req.PeerURL, "https://") {
		return Membership{}, http.StatusBadRequest, errors.New("a member needs a name and an https:// peer URL")
	}
	var m Membership
	err := e.memberCall(ctx, func(ctx context.Context) error {
		cli, err := e.client()
		if err != nil {
			return err
		}
		list, err := cli.MemberList(ctx)
		if err != nil {
			return err
		}
		for _, old := range list.Members {
			same := old.Name == req.Name
			for _, u := range old.PeerURLs {
				same = same || u == req.PeerURL
			}
			if !same {
				continue
			}
			if old.Name != "" {
				return &conflict{fmt.Sprintf("an etcd member named %s at %s is already in the cluster; delete that server's Node (kubectl delete node %s) to remove it, or give this server another --node-name or address", old.Name, strings.Join(old.PeerURLs, ","), old.Name)}
			}
			if _, err := cli.MemberRemove(ctx, old.ID); err != nil {
				return fmt.Errorf("removing the unstarted member %x left by an earlier join: %w", old.ID, err)
			}
		}
		resp, err := cli.MemberAddAsLearner(ctx, []string{req.PeerURL})
		if err != nil {
			return err
		}
		m = Membership{ID: resp.Member.ID, InitialCluster: initialCluster(resp.Members, resp.Member.ID, req.Name)}
		return nil
	})
	var c *conflict
	switch {
	case errors.As(err, &c):
		return m, http.StatusConflict, err
	case err != nil:
		// Another join under way (one learner at a time) or no leader:
		// worth asking again.
		return m, http.StatusServiceUnavailable, fmt.Errorf("adding the etcd member: %w", err)
	}
	return m, http.StatusOK, nil
}

type conflict struct{ msg string }

func (c *conflict) Error() string { return c.msg }

// initialCluster is etcd's --initial-cluster for the member id named name:
// every member by name (a member that never started has none yet: any
// unique name does, etcd matches members by peer URL).
func initialCluster(members []*etcdserverpb.Member, id uint64, name string) string {
	var parts []string
	for _, m := range members {
		n := m.Name
		if m.ID == id {
			n = name
		} else if n == "" {
			n = fmt.Sprintf("unstarted-%x", m.ID)
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, n+"="+u)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// removeMember removes member id; one already gone is not an error.
func (e *Etcd) removeMember(ctx context.Context, id uint64) error {
	return e.memberCall(ctx, func(ctx context.Context) error {
		cli, err := e.client()
		if err != nil {
			return err
		}
		if _, err := cli.MemberRemove(ctx, id); err != nil && !errors.Is(err, rpctypes.ErrMemberNotFound) {
			return fmt.Errorf("removing etcd member %x: %w", id, err)
		}
		klog.InfoS("Removed an etcd member", "id", fmt.Sprintf("%x", id))
		return nil
	})
}

// RemoveByName removes the member named name, if there is one and it is
// not this server's own.
func (e *Etcd) RemoveByName(ctx context.Context, name string) error {
	if name == e.MemberName {
		return nil
	}
	var id uint64
	err := e.memberCall(ctx, func(ctx context.Context) error {
		cli, err := e.client()
		if err != nil {
			return err
		}
		list, err := cli.MemberList(ctx)
		if err != nil {
			return fmt.Errorf("listing etcd members: %w", err)
		}
		for _, m := range list.Members {
			if m.Name == name {
				id = m.ID
			}
		}
		return nil
	})
	if err != nil || id == 0 {
		return err
	}
	return e.removeMember(ctx, id)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a JSON request", http.StatusMethodNotAllowed)
		return false
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(v); err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		klog.ErrorS(err, "Writing an etcd member answer")
	}
}
