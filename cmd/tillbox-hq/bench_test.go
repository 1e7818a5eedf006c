package main

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
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

// BenchmarkRelayHop measures a webhook's way from headquarters' HTTP
// endpoint to the box's Relay hook (agent/fleet's link): verify, publish,
// JetStream ack, 200, the box's consumer. It reports p50 and p95.
//
//	go test -run '^$' -bench RelayHop -benchtime 200x ./cmd/tillbox-hq/
func BenchmarkRelayHop(b *testing.B) {
	till := tillOf("oslo", "t1")
	pg, ns := startPG(b), startNATS(b, till)
	h := startHQ(b, writeConfig(b, pg.DSN(), ns, 1))
	_, js := ns.hqClient(b)
	waitStreams(b, js)
	relayed := startLink(b, ns, till)
	body := func(i int) []byte { return webhookBody(b, fmt.Sprintf("oslo-t1-%06d", i), epayment.EventAuthorized) }
	conn := pgConn(b, pg.DSN())
	waitFor(b, 30*time.Second, "the till routable", func() bool {
		var n int
		err := conn.QueryRow(b.Context(), "SELECT count(*) FROM tills WHERE reference_prefix = 'oslo-t1'").Scan(&n)
		return err == nil && n == 1
	})
	if code := postWebhook(b, h.URL(), body(0), testSecret); code != http.StatusOK {
		b.Fatalf("webhook: %d", code)
	}
	select {
	case <-relayed:
	case <-time.After(30 * time.Second):
		b.Fatal("the first webhook did not reach the box")
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if code := postWebhook(b, h.URL(), body(i+1), testSecret); code != http.StatusOK {
			b.Fatalf("webhook: %d", code)
		}
		<-relayed
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
}
