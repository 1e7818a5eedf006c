package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// benchSize reads a size from the environment, or def.
func benchSize(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkCatchUp measures, on this machine, the boxes publishing their
// journals to JetStream as a box does (each in order, waiting for each
// ack, all boxes at once) while headquarters is down, then headquarters
// catching up on all of it into PostgreSQL. It reports both rates and
// their ratio (issue 13's goal: ingest ≥ 0.5 × publish).
//
//	go test -run '^$' -bench CatchUp -benchtime 1x ./cmd/tillbox-hq/
//
// TILLBOX_HQ_BENCH_BOXES (100) and TILLBOX_HQ_BENCH_EVENTS (1000 per box)
// set the size.
func BenchmarkCatchUp(b *testing.B) {
	boxesN, eventsN := benchSize("TILLBOX_HQ_BENCH_BOXES", 100), benchSize("TILLBOX_HQ_BENCH_EVENTS", 1000)
	var tills []wire.Till
	for i := range boxesN {
		tills = append(tills, tillOf(fmt.Sprintf("s%03d", i/10), fmt.Sprintf("t%d", i%10)))
	}
	for range b.N {
		pg, ns := startPG(b), startNATS(b, tills...)
		config := writeConfig(b, pg.DSN(), ns, 1)
		// Headquarters makes the streams, then is down while the boxes publish.
		h := startHQ(b, config)
		_, js := ns.hqClient(b)
		waitStreams(b, js)
		if err := h.stop(); err != nil {
			b.Fatal(err)
		}
		boxes := make([]*box, len(tills))
		for i, till := range tills {
			boxes[i] = newBox(b, ns, till)
			boxes[i].makeEvents(b, eventsN)
		}
		total := boxesN * eventsN
		start := time.Now()
		var wg sync.WaitGroup
		for _, bx := range boxes {
			wg.Go(func() {
				if err := bx.ship(1); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		published := time.Since(start)

		db := pgConn(b, pg.DSN())
		start = time.Now()
		startHQ(b, config)
		waitFor(b, 30*time.Minute, "every event at headquarters", func() bool {
			var n int
			return db.QueryRow(b.Context(), "SELECT count(*) FROM events").Scan(&n) == nil && n == total
		})
		ingested := time.Since(start)
		pubRate, ingestRate := float64(total)/published.Seconds(), float64(total)/ingested.Seconds()
		b.ReportMetric(pubRate, "published/s")
		b.ReportMetric(ingestRate, "ingested/s")
		b.ReportMetric(ingestRate/pubRate, "ingest/publish")
		b.Logf("%d boxes × %d events: published in %s (%.0f/s), caught up in %s (%.0f/s), ratio %.2f",
			boxesN, eventsN, published.Round(time.Millisecond), pubRate, ingested.Round(time.Millisecond), ingestRate, ingestRate/pubRate)
	}
}
