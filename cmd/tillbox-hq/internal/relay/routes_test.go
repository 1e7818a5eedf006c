package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

// A reference no known till claims, while the tills cannot be read, is an
// error (the relay answers 503 and Vipps MobilePay tries again), not a
// webhook of nobody's; once they can be read, it finds its till.
func TestLookupWhileTheTillsCannotBeRead(t *testing.T) {
	down := errors.New("PostgreSQL is restarting")
	t1 := wire.Till{Chain: "acme", Store: "oslo", Till: "t1"}
	t12 := wire.Till{Chain: "acme", Store: "oslo", Till: "t12"}
	tills := []hqdb.Route{{MSN: "123456", Prefix: "oslo-t1", Till: t1}}
	var failing bool
	rs := NewRoutes(func(context.Context) ([]hqdb.Route, error) {
		if failing {
			return nil, down
		}
		return tills, nil
	}, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()

	failing = true
	if _, _, err := rs.Lookup(ctx, "123456", "oslo-t1-000001"); !errors.Is(err, down) {
		t.Fatalf("before any load, with the tills unreadable: %v, want the error", err)
	}
	failing = false
	if got, ok, err := rs.Lookup(ctx, "123456", "oslo-t1-000001"); err != nil || !ok || got != t1 {
		t.Fatalf("got %v %v %v, want %v", got, ok, err, t1)
	}
	// A till heard of after the last load, while the tills cannot be read.
	tills = append(tills, hqdb.Route{MSN: "123456", Prefix: "oslo-t12", Till: t12})
	failing = true
	if got, ok, err := rs.Lookup(ctx, "123456", "oslo-t1-000002"); err != nil || !ok || got != t1 {
		t.Errorf("a known till while the tills cannot be read: %v %v %v", got, ok, err)
	}
	if _, _, err := rs.Lookup(ctx, "123456", "oslo-t12-000001"); !errors.Is(err, down) {
		t.Errorf("a new till while the tills cannot be read: %v, want the error", err)
	}
	failing = false
	if got, ok, err := rs.Lookup(ctx, "123456", "oslo-t12-000001"); err != nil || !ok || got != t12 {
		t.Errorf("the new till once they can be read: %v %v %v", got, ok, err)
	}
	if _, ok, err := rs.Lookup(ctx, "123456", "bergen-t1-000001"); err != nil || ok {
		t.Errorf("a reference of no till: %v %v, want unrouted without error", ok, err)
	}
}
