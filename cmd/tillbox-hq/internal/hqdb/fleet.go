package hqdb

import (
	"context"
	"time"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetpage"
)

// Fleet is the fleet page's data on PostgreSQL: it implements
// fleetpage.Source for one chain.
type Fleet struct {
	DB       *DB
	Chain    string
	Location *time.Location // the chain's time zone
}

var _ fleetpage.Source = Fleet{}

// Tills lists the chain's tills with their last heartbeat (its time is
// when the NATS servers received it) and the newest event stored.
func (f Fleet) Tills(ctx context.Context) ([]fleetpage.Till, error) {
	ts, err := f.DB.TillStates(ctx, f.Chain)
	if err != nil {
		return nil, err
	}
	out := make([]fleetpage.Till, len(ts))
	for i, t := range ts {
		hb := t.Heartbeat
		scanners := make([]fleetpage.Scanner, len(hb.Scanners))
		for j, s := range hb.Scanners {
			scanners[j] = fleetpage.Scanner{Name: s.Name, Connected: s.Connected}
		}
		out[i] = fleetpage.Till{Chain: t.Till.Chain, Store: t.Till.Store, Till: t.Till.Till,
			LastHeartbeat: t.HeardAt, Version: hb.Version, Online: hb.Online, Queue: hb.Queue,
			Scanners: scanners, LastSeq: hb.LastSeq, AtHQ: t.AtHQ, LastError: hb.LastError,
			MSN: hb.MSN, TokenSource: hb.TokenSource, TokenExpires: hb.TokenExpires}
	}
	return out, nil
}

// SalesOn sums the chain's sales made on day (its date in the chain's time
// zone) per store and currency.
func (f Fleet) SalesOn(ctx context.Context, day time.Time) ([]fleetpage.StoreSales, error) {
	loc := f.Location
	if loc == nil {
		loc = time.UTC
	}
	ss, err := f.DB.SalesOn(ctx, f.Chain, day, loc)
	if err != nil {
		return nil, err
	}
	out := make([]fleetpage.StoreSales, len(ss))
	for i, s := range ss {
		out[i] = fleetpage.StoreSales(s)
	}
	return out, nil
}
