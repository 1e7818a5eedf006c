package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/fleet"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/store"
)

// fleetFindings: when [fleet] is on, its credential files, and a
// connection to headquarters with them: where it got, and how far the
// box's log is ahead of what headquarters holds. FAIL with the reason
// when it cannot connect.
func fleetFindings(ctx context.Context, c *config.Config, svc service, timeout time.Duration) []finding {
	o, on := c.FleetOptions()
	if !on {
		return nil
	}
	out := []finding{fleetConfigFinding(c)} // doctor_fleet_config.go
	for _, f := range []struct{ path, what string }{{o.CredsFile, "fleet.creds_file"}, {o.NKeyFile, "fleet.nkey_file"}} {
		if f.path != "" {
			out = append(out, secretFile(f.path, f.what, svc))
		}
	}
	o.Timeout = timeout
	pctx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	p, err := fleet.ProbeHQ(pctx, o)
	if err != nil {
		where := p.Server
		if where == "" {
			where = fmt.Sprint(o.Servers)
		}
		return append(out, finding{"fleet", "fail", fmt.Sprintf("%s as %s: %v (check fleet.servers, the credentials and fleet.ca_file; the box sells without headquarters meanwhile)", where, o.Till, err)})
	}
	detail := fmt.Sprintf("connected to %s as %s (round trip %s); headquarters holds its events up to %d", p.Server, o.Till, p.RTT.Round(time.Millisecond), p.AtHQ)
	last, err := localLastSeq(ctx, c, timeout)
	switch {
	case err != nil:
		return append(out, finding{"fleet", "warn", detail + "; the box's own log could not be read: " + err.Error()})
	case last < p.AtHQ:
		return append(out, finding{"fleet", "fail", fmt.Sprintf("%s, but the box's log ends at %d: a database restored from an older copy, or another box with this till's id; the link ships nothing until that is sorted out", detail, last)})
	case last == p.AtHQ:
		return append(out, finding{"fleet", "ok", detail + ": none behind"})
	}
	return append(out, finding{"fleet", "ok", fmt.Sprintf("%s: %d events behind (the box's log ends at %d)", detail, last-p.AtHQ, last)})
}

// localLastSeq is the box's newest event: from the database, or from the
// running tillbox that holds it.
func localLastSeq(ctx context.Context, c *config.Config, timeout time.Duration) (uint64, error) {
	if _, err := os.Stat(c.DBPath()); errors.Is(err, os.ErrNotExist) {
		return 0, nil // not made yet: no event
	}
	so := c.StoreOptions()
	so.Timeout = 200 * time.Millisecond
	so.HoldUnshipped = true
	db, err := store.Open(c.DBPath(), so)
	var le *store.LockedError
	if errors.As(err, &le) {
		base, client, err := localAPI(c)
		if err != nil {
			return 0, err
		}
		pc := posapi.Client{BaseURL: base, Token: c.POS.Token, HTTPClient: client}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		st, err := pc.Status(ctx)
		return st.LastSeq, err
	}
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var last uint64
	err = db.View(func(tx *store.Tx) error {
		last = tx.LastSeq()
		return nil
	})
	return last, err
}
