package hqdb

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
	"github.com/tillbox/tillbox/store"
)

// BenchmarkIngest measures PostgreSQL's side of the ingest alone: 100
// tills × 1 000 events (a sale in three events, as BenchmarkCatchUp's
// boxes make them), read and written in batches of 2 000 by two writers
// at once, as headquarters' two loops do. It reports events/s.
//
//	go test -run '^$' -bench Ingest -benchtime 1x ./cmd/tillbox-hq/internal/hqdb/
func BenchmarkIngest(b *testing.B) {
	const tills, perTill, batch = 100, 1000, 2000
	var bodies [][]byte
	var owners []wire.Till
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for seq := 1; seq <= perTill; seq++ {
		for i := range tills {
			till := wire.Till{Chain: "acme", Store: fmt.Sprintf("s%03d", i/10), Till: fmt.Sprintf("t%d", i%10)}
			sale, step := (seq-1)/3+1, (seq-1)%3
			at := start.Add(time.Duration(seq) * time.Second)
			s := agent.Sale{Reference: fmt.Sprintf("%s-%s-%06d", till.Store, till.Till, sale), Till: till.Till,
				Amount: int64(100 * sale), Currency: "NOK", Description: "test sale",
				State:     []agent.State{agent.AwaitingApproval, agent.Authorized, agent.Completed}[step],
				CreatedAt: at, UpdatedAt: at}
			data, _ := json.Marshal(s)
			body, _ := json.Marshal(store.Event{Seq: uint64(seq), Reference: s.Reference, Kind: "sale", State: string(s.State), Data: data, At: at})
			bodies, owners = append(bodies, body), append(owners, till)
		}
	}
	for range b.N {
		b.StopTimer()
		pg := pgtest.Start(b)
		ctx := context.Background()
		db, err := Open(ctx, pg.DSN())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		work := make(chan []int)
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				for idx := range work {
					evs := make([]Event, 0, len(idx))
					for _, i := range idx {
						ev, err := ReadEvent(owners[i], bodies[i], uint64(i+1))
						if err != nil {
							errs <- err
							return
						}
						evs = append(evs, ev)
					}
					for _, i := range NewestOfEachSale(evs) {
						if err := evs[i].DecodeSale(); err != nil {
							errs <- err
							return
						}
					}
					if _, err := db.Ingest(ctx, evs); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for i := 0; i < len(bodies); i += batch {
			idx := make([]int, 0, batch)
			for j := i; j < min(i+batch, len(bodies)); j++ {
				idx = append(idx, j)
			}
			work <- idx
		}
		close(work)
		for range 2 {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		took := time.Since(t0)
		b.ReportMetric(float64(len(bodies))/took.Seconds(), "events/s")
		b.StopTimer()
		db.Close()
	}
}
