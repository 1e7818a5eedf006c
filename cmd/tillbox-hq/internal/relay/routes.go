package relay

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

// Routes knows which till a reference belongs to: the till of the sales
// unit whose reference prefix + "-" starts it (the boxes tell their prefix
// and MSN in their heartbeats; headquarters keeps them in PostgreSQL). It
// holds them in memory, refreshed every interval and when a reference
// finds no till (misses at the same time share one load).
type Routes struct {
	load     func(ctx context.Context) ([]hqdb.Route, error)
	interval time.Duration
	log      *slog.Logger

	reload    sync.Mutex // one load at a time
	mu        sync.RWMutex
	byMSN     map[string][]hqdb.Route // longest prefix first
	loadStart time.Time               // when the routes in byMSN began to load
}

// NewRoutes makes the routes read by load.
func NewRoutes(load func(ctx context.Context) ([]hqdb.Route, error), interval time.Duration, log *slog.Logger) *Routes {
	return &Routes{load: load, interval: interval, log: log}
}

// Run refreshes the routes every interval until ctx ends.
func (rs *Routes) Run(ctx context.Context) error {
	t := time.NewTicker(rs.interval)
	defer t.Stop()
	for {
		if err := rs.refresh(ctx); err != nil && ctx.Err() == nil {
			rs.log.Warn("webhook routes: cannot read the tills; keeping the ones known", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (rs *Routes) refresh(ctx context.Context) error { return rs.refreshSince(ctx, time.Time{}) }

// refreshSince reloads the routes unless another load began after since
// (concurrent misses share one load).
func (rs *Routes) refreshSince(ctx context.Context, since time.Time) error {
	rs.reload.Lock()
	defer rs.reload.Unlock()
	rs.mu.RLock()
	fresh := !since.IsZero() && rs.loadStart.After(since)
	rs.mu.RUnlock()
	if fresh {
		return nil
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	all, err := rs.load(ctx)
	if err != nil {
		return err
	}
	by := map[string][]hqdb.Route{}
	for _, r := range all {
		by[r.MSN] = append(by[r.MSN], r)
	}
	for _, rs := range by {
		slices.SortFunc(rs, func(a, b hqdb.Route) int { return cmp.Compare(len(b.Prefix), len(a.Prefix)) })
	}
	rs.mu.Lock()
	rs.byMSN, rs.loadStart = by, start
	rs.mu.Unlock()
	return nil
}

// Lookup returns the till of reference ref of sales unit msn. A reference
// no known till claims makes it read the tills again; when they cannot be
// read (PostgreSQL down), it returns the error: the till may be one it has
// not heard of yet, so the webhook must not be filed as nobody's.
func (rs *Routes) Lookup(ctx context.Context, msn, ref string) (wire.Till, bool, error) {
	missed := time.Now()
	if t, ok := rs.find(msn, ref); ok {
		return t, true, nil
	}
	if err := rs.refreshSince(ctx, missed); err != nil {
		rs.log.Warn("webhook routes: cannot read the tills", "err", err)
		return wire.Till{}, false, err
	}
	t, ok := rs.find(msn, ref)
	return t, ok, nil
}

func (rs *Routes) find(msn, ref string) (wire.Till, bool) {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	for _, r := range rs.byMSN[msn] {
		if strings.HasPrefix(ref, r.Prefix+"-") {
			return r.Till, true
		}
	}
	return wire.Till{}, false
}
