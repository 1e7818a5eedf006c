package alerts

import (
	"context"
	"log/slog"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

// Watcher works the alerts out every Every and keeps them in Store.
type Watcher struct {
	Store      Store
	Tills      func(ctx context.Context) ([]hqdb.TillState, error)
	Thresholds Thresholds
	Every      time.Duration
	Now        func() time.Time // nil: time.Now
	Log        *slog.Logger
}

// Run evaluates until ctx ends; a failed evaluation (PostgreSQL away) is
// logged and tried again at the next tick.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.Every)
	defer t.Stop()
	failing := false
	for {
		if err := w.Once(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				w.Log.Warn("alerts: evaluating", "err", err)
			}
			failing = true
		} else {
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once evaluates the alerts now and logs each raised and cleared.
func (w *Watcher) Once(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	// The tills are read under the evaluation's lock: an evaluation by
	// another process just before, clearing an alert, is seen.
	at := now()
	changes, _, err := w.Store.Apply(ctx, at, func(trends map[wire.Till]Trend) ([]Alert, map[wire.Till]Trend, error) {
		tills, err := w.Tills(ctx)
		if err != nil {
			return nil, nil, err
		}
		found, next := Evaluate(at, w.Thresholds, tills, trends)
		return found, next, nil
	})
	for _, c := range changes {
		if c.Cleared {
			w.Log.Info("alert cleared", "kind", c.Kind, "till", c.Till.String(), "since", c.Since)
		} else {
			w.Log.Warn("alert raised", "kind", c.Kind, "till", c.Till.String(), "since", c.Since, "reason", c.Reason)
		}
	}
	return err
}
