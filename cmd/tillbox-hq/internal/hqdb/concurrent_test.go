package hqdb

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// TestConcurrentIngestNoDeadlock: several writers (headquarters' loops, or
// several headquarters) ingest batches of one stream at once, the events
// of each sale spread over batches of different writers. Each batch
// commits at the first try: no writer locks rows in an order another
// does not (a deadlock costs PostgreSQL's deadlock_timeout, a second, and
// a batch written again). Every event and every sale is there at the end.
func TestConcurrentIngestNoDeadlock(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	created := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	const tills, sales = 60, 20
	var stream []Event // as the servers hold it: the tills' events interleaved
	for seq := uint64(1); seq <= 3*sales; seq++ {
		for i := range tills {
			till := wire.Till{Chain: "acme", Store: fmt.Sprintf("s%02d", i/6), Till: fmt.Sprintf("t%d", i%6)}
			n := (seq-1)/3 + 1
			ref := fmt.Sprintf("%s-%s-%06d", till.Store, till.Till, n)
			state := []agent.State{agent.AwaitingApproval, agent.Authorized, agent.Completed}[(seq-1)%3]
			stream = append(stream, saleEvent(t, till, seq, ref, state, int64(100*n), 0, created))
		}
	}
	batches := make(chan []Event)
	go func() {
		defer close(batches)
		for len(stream) > 0 {
			n := min(400, len(stream))
			batches <- stream[:n]
			stream = stream[n:]
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 4 {
		wg.Go(func() {
			for b := range batches {
				if _, err := db.Ingest(ctx, b); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a batch failed: %v", err)
	}
	var events, salesN, completed int
	if err := db.Pool().QueryRow(ctx, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM sales), (SELECT count(*) FROM sales WHERE state = 'completed')").Scan(&events, &salesN, &completed); err != nil {
		t.Fatal(err)
	}
	if events != 3*sales*tills || salesN != sales*tills || completed != sales*tills {
		t.Errorf("%d events, %d sales, %d completed; want %d, %d, %d", events, salesN, completed, 3*sales*tills, sales*tills, sales*tills)
	}
}
