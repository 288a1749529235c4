package hacluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Member is one etcd member as members/ prints it.
type Member struct {
	Name    string `json:"name"`
	Learner bool   `json:"learner"`
	Started bool   `json:"started"`
	Leader  bool   `json:"leader"`
}

// buildMembers builds the members helper, static, since the node image
// has no Go toolchain and its libc need not match the host's.
func buildMembers(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "members")
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-s -w", "-o", out, "./internal/e2e/hacluster/members")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the members helper in %s: %w\n%s", root, err, b)
	}
	return out, nil
}

// Members lists the members as server i's member sees them; it fails
// while that member knows no leader.
func (c *Cluster) Members(ctx context.Context, i int) ([]Member, error) {
	n := c.Nodes[i]
	// The helper stays in the container's file system across restarts.
	if !c.copied[i] {
		if _, err := docker(ctx, nil, "cp", c.members, n.ID+":/members"); err != nil {
			return nil, fmt.Errorf("copying the members helper into %s: %w", n.Name, err)
		}
		c.copied[i] = true
	}
	out, err := n.Exec(ctx, "/members")
	if err != nil {
		return nil, fmt.Errorf("listing the members on %s: %w: %s", n.Name, err, out)
	}
	var ms []Member
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		return nil, fmt.Errorf("reading the members listed on %s: %w: %s", n.Name, err, out)
	}
	return ms, nil
}

// WaitMembers waits until server i's member sees every server as a
// started, voting member and one of them as the leader, and returns the
// membership.
func (c *Cluster) WaitMembers(ctx context.Context, i int) ([]Member, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	var want []string
	for _, n := range c.Nodes {
		want = append(want, n.Name)
	}
	slices.Sort(want)
	for {
		ms, err := c.Members(ctx, i)
		last := fmt.Sprintf("%+v", ms)
		if err != nil {
			last = err.Error()
		} else if complete(ms, want) {
			return ms, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("etcd members %s not all started and voting with a leader, as %s sees them, within %s; last answer: %s",
				strings.Join(want, ", "), c.Nodes[i].Name, c.o.Timeout, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func complete(ms []Member, want []string) bool {
	var got []string
	leader := false
	for _, m := range ms {
		if !m.Started || m.Learner {
			return false
		}
		leader = leader || m.Leader
		got = append(got, m.Name)
	}
	slices.Sort(got)
	return leader && slices.Equal(got, want)
}

// Leader waits for a complete membership as server i sees it and returns
// the index of the server whose member leads.
func (c *Cluster) Leader(ctx context.Context, i int) (int, error) {
	ms, err := c.WaitMembers(ctx, i)
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		if !m.Leader {
			continue
		}
		for k, n := range c.Nodes {
			if n.Name == m.Name {
				return k, nil
			}
		}
	}
	return 0, fmt.Errorf("the etcd leader is not one of the servers: %+v", ms)
}
