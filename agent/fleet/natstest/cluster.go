package natstest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A cluster is formed when, among the nodes that run, every node is routed
// to every other, all name the same JetStream meta leader, that leader
// counts every other node as a current peer of the meta group, and every
// node says it is healthy. A node that merely knows a meta leader is not
// enough: right after the cluster starts (or a node comes back) the first
// leader may not have heard from every peer yet, or lose its leadership
// to a node whose election timer fired on a busy machine; a JetStream API
// request taken by such a leader is dropped without an answer (the meta
// leader alone answers a stream create, and a proposal lost with its term
// is never answered).

// waitFormed waits until the running nodes form a cluster (see above), at
// most readyTimeout.
func (e *env) waitFormed() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		last := e.formed(ctx, client)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the cluster has not formed after %v: %v", readyTimeout, last)
		case <-tick.C:
		}
	}
}

// formed says why the running nodes do not form a cluster yet, or nil.
func (e *env) formed(ctx context.Context, client *http.Client) error {
	var running []*Server
	for _, s := range e.nodes {
		if s.Running() {
			running = append(running, s)
		}
	}
	leader := ""
	for _, s := range running {
		if err := s.routedToAll(ctx, client, running); err != nil {
			return err
		}
		l, err := s.metaLeader(ctx, client)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if leader != "" && l != leader {
			return fmt.Errorf("%s names %s the meta leader, another node %s", s.name, l, leader)
		}
		leader = l
	}
	i := slices.IndexFunc(e.nodes, func(s *Server) bool { return s.name == leader })
	if i < 0 || !e.nodes[i].Running() {
		return fmt.Errorf("the meta leader %q does not run", leader)
	}
	if err := e.nodes[i].peersCurrent(ctx, client, running); err != nil {
		return err
	}
	for _, s := range running {
		if err := s.get(ctx, client, "/healthz", nil); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// routedToAll says which of others s has no route to yet.
func (s *Server) routedToAll(ctx context.Context, client *http.Client, others []*Server) error {
	var rz struct {
		Routes []route `json:"routes"`
	}
	if err := s.get(ctx, client, "/routez", &rz); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	for _, o := range others {
		if o != s && !slices.ContainsFunc(rz.Routes, func(r route) bool { return r.RemoteName == o.name }) {
			return fmt.Errorf("%s has no route to %s yet", s.name, o.name)
		}
	}
	return nil
}

// route is a route as /routez reports it.
type route struct {
	RemoteName string `json:"remote_name"`
}

// metaPeer is a peer of the meta group as its leader reports it.
type metaPeer struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline"`
}

// peersCurrent says which of the running nodes the meta leader s does not
// count as a current, online peer yet.
func (s *Server) peersCurrent(ctx context.Context, client *http.Client, running []*Server) error {
	var jsz struct {
		Meta *struct {
			Leader   string     `json:"leader"`
			Replicas []metaPeer `json:"replicas"`
		} `json:"meta_cluster"`
	}
	if err := s.get(ctx, client, "/jsz", &jsz); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	if jsz.Meta == nil || jsz.Meta.Leader != s.name {
		return fmt.Errorf("%s is no longer the meta leader", s.name)
	}
	for _, o := range running {
		if o == s {
			continue
		}
		i := slices.IndexFunc(jsz.Meta.Replicas, func(p metaPeer) bool { return p.Name == o.name })
		if i < 0 {
			return fmt.Errorf("the meta leader %s does not know %s yet", s.name, o.name)
		}
		if p := jsz.Meta.Replicas[i]; !p.Current || p.Offline {
			return fmt.Errorf("the meta leader %s: peer %s current %t offline %t", s.name, o.name, p.Current, p.Offline)
		}
	}
	return nil
}

// attemptTimeout bounds one JetStream API request of [Cluster.CreateStream]:
// a request that the meta leader dropped (see above) is never answered.
const attemptTimeout = 10 * time.Second

// retryPause is the pause between two attempts of [Cluster.CreateStream].
const retryPause = 100 * time.Millisecond

// CreateStream creates the stream cfg through js (a connection to the
// cluster) and returns it, asking again, until ctx ends, when a request is
// not answered within attemptTimeout, JetStream is temporarily unavailable
// (a meta leader election) or finds no peers yet: creating a stream with the same
// configuration again is harmless. Each failed attempt is logged with how
// every node sees the meta group.
func (c *Cluster) CreateStream(ctx context.Context, t testing.TB, js jetstream.JetStream, cfg jetstream.StreamConfig) jetstream.Stream {
	t.Helper()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		st, err := js.CreateStream(actx, cfg)
		cancel()
		if err == nil {
			return st
		}
		if !transient(err) || ctx.Err() != nil {
			t.Fatalf("natstest: create stream %s (attempt %d): %v\n%s", cfg.Name, attempt, err, c.metaViews(js.Conn()))
		}
		t.Logf("natstest: create stream %s, attempt %d: %v; asking again\n%s", cfg.Name, attempt, err, c.metaViews(js.Conn()))
		// Not at once: an error answered at once (no peers yet) may
		// last a second; nothing tells when it ends.
		select {
		case <-ctx.Done():
		case <-time.After(retryPause):
		}
	}
}

// transient says whether err may go away by asking again.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// 10008: JetStream system temporarily unavailable (no meta
		// leader); 10005: no suitable peers for placement, which a new
		// meta leader answers until it has the statistics of every peer
		// (the monitoring endpoints do not tell when it has).
		return apiErr.ErrorCode == 10008 || apiErr.ErrorCode == 10005
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)
}

// metaViews is, for a log, the server nc is connected to and each node's
// view of the meta group.
func (c *Cluster) metaViews(nc *nats.Conn) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	var b strings.Builder
	fmt.Fprintf(&b, "connected to %s (%s)\n", nc.ConnectedServerName(), nc.ConnectedUrlRedacted())
	for _, s := range c.nodes {
		if !s.Running() {
			fmt.Fprintf(&b, "%s: not running\n", s.name)
			continue
		}
		var jsz struct {
			Meta *struct {
				Leader   string     `json:"leader"`
				Size     int        `json:"cluster_size"`
				Replicas []metaPeer `json:"replicas"`
			} `json:"meta_cluster"`
		}
		if err := s.get(ctx, client, "/jsz", &jsz); err != nil || jsz.Meta == nil {
			fmt.Fprintf(&b, "%s: no meta group information (%v)\n", s.name, err)
			continue
		}
		fmt.Fprintf(&b, "%s: meta leader %q, size %d, peers %+v\n", s.name, jsz.Meta.Leader, jsz.Meta.Size, jsz.Meta.Replicas)
	}
	if err := c.formed(ctx, client); err != nil {
		fmt.Fprintf(&b, "not formed: %v\n", err)
	}
	return b.String()
}
