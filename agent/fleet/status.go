package fleet

import (
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"

	"github.com/tillbox/tillbox/store"
)

// Status is how the link is, for the technician page, /metrics, the
// heartbeat and `tillbox doctor`. It holds no credential.
type Status struct {
	Till      string    `json:"till"`
	Connected bool      `json:"connected"`
	Server    string    `json:"server,omitempty"` // connected to, or last connected to (no credentials)
	Since     time.Time `json:"since"`            // of Connected
	LastError string    `json:"lastError,omitempty"`
	ErrorAt   time.Time `json:"errorAt,omitzero"`
	// LastSeq is the box's newest event; Shipped the newest one
	// headquarters acknowledged; Lag the events between.
	LastSeq uint64 `json:"lastSeq"`
	Shipped uint64 `json:"shipped"`
	Lag     uint64 `json:"lag"`
	// AtHQ is what headquarters held when the link last resumed.
	AtHQ uint64 `json:"atHQ"`
	// PrunedFrom..PrunedTo were pruned before they could be shipped
	// (the store kept them less long than the link was off); zero: none.
	PrunedFrom uint64 `json:"prunedFrom,omitempty"`
	PrunedTo   uint64 `json:"prunedTo,omitempty"`
	// Ahead: headquarters holds more of this till's log than the box
	// (ErrAhead); nothing is shipped.
	Ahead bool `json:"ahead,omitempty"`
	// Published counts the events shipped since start, Relayed the
	// webhooks taken from the relay, Reconnects the connections made
	// again after one was lost.
	Published  uint64 `json:"published"`
	Relayed    uint64 `json:"relayed"`
	Reconnects uint64 `json:"reconnects"`
	// Config is headquarters' layered configuration as the box took it
	// (set by cmd/tillbox; nil: it takes none).
	Config *wire.ConfigState `json:"config,omitempty"`
	// Token is where the box's access token comes from (set by
	// cmd/tillbox; token.go).
	Token *TokenState `json:"token,omitempty"`
}

// Status reports the link now.
func (l *Link) Status() Status {
	var last uint64
	_ = l.db.View(func(tx *store.Tx) error {
		last = tx.LastSeq()
		return nil
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Status{
		Till: l.o.Till.String(), Connected: l.connected, Server: l.server, Since: l.since,
		LastError: l.lastErr, ErrorAt: l.lastErrAt,
		LastSeq: last, Shipped: l.shipped, AtHQ: l.atHQ,
		PrunedFrom: l.gapFrom, PrunedTo: l.gapTo, Ahead: l.ahead,
		Published: l.published, Relayed: l.relayed, Reconnects: l.reconnects,
	}
	if last > s.Shipped {
		s.Lag = last - s.Shipped
	}
	return s
}
