package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
// catching up on all of it into PostgreSQL. Between the two it measures
// raw JetStream publishing on the same server: the same messages
// published asynchronously as fast as the server takes them, into a
// stream of the journal's configuration (see rawPublish). It reports the
// rates and the ratios (issue 13's goal: ingest ≥ 0.5 × raw). The ingest
// is timed from headquarters ready (connected, as raw publishing is before
// its clock starts) to its last event stored; the catch-up from its start.
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
		raw := rawPublish(b, ns, boxes)

		db := pgConn(b, pg.DSN())
		start = time.Now()
		startHQ(b, config)
		// Headquarters is ready (connected to NATS and PostgreSQL, as raw
		// publishing is connected before its clock starts): from here its
		// consumers make sure of the stream and ingest. Polled on the small
		// tills table (a count of events every 20 ms would take
		// PostgreSQL's time from the ingest), then checked.
		ready := time.Now()
		var firstEvent, done time.Duration
		waitFor(b, 30*time.Minute, "every till's newest event at headquarters", func() bool {
			var n int64
			err := db.QueryRow(b.Context(), "SELECT COALESCE(sum(at_hq), 0) FROM tills").Scan(&n)
			if err == nil && n > 0 && firstEvent == 0 {
				firstEvent = time.Since(start)
			}
			if err == nil && n == int64(total) {
				done = time.Since(start)
				return true
			}
			return false
		})
		waitFor(b, time.Minute, "every event at headquarters", func() bool {
			var n int
			return db.QueryRow(b.Context(), "SELECT count(*) FROM events").Scan(&n) == nil && n == total
		})
		startUp := ready.Sub(start)
		ingesting := done - startUp
		pubRate, ingestRate := float64(total)/published.Seconds(), float64(total)/ingesting.Seconds()
		rawRate, catchUpRate := float64(total)/raw.Seconds(), float64(total)/done.Seconds()
		b.ReportMetric(pubRate, "published/s")
		b.ReportMetric(rawRate, "raw/s")
		b.ReportMetric(ingestRate, "ingested/s")
		b.ReportMetric(catchUpRate, "caughtup/s")
		b.ReportMetric(ingestRate/pubRate, "ingest/publish")
		b.ReportMetric(ingestRate/rawRate, "ingest/raw")
		b.Logf("%d boxes × %d events: boxes published in %s (%.0f/s), raw JetStream in %s (%.0f/s); "+
			"headquarters ready in %s, then ingested in %s (%.0f/s; the first event stored %s after its start), caught up in %s all told (%.0f/s); "+
			"ingest/publish %.2f, ingest/raw %.2f, caught-up/raw %.2f",
			boxesN, eventsN, published.Round(time.Millisecond), pubRate, raw.Round(time.Millisecond), rawRate,
			startUp.Round(time.Millisecond), ingesting.Round(time.Millisecond), ingestRate, firstEvent.Round(time.Millisecond),
			done.Round(time.Millisecond), catchUpRate, ingestRate/pubRate, ingestRate/rawRate, catchUpRate/rawRate)
	}
}

// rawWindow is how many raw publishes are in flight at once.
const rawWindow = 4000

// rawPublish publishes every event of boxes once more, as raw JetStream
// publishing does: from one connection (headquarters' user, TLS),
// asynchronously with rawWindow acks pending, the same bodies and headers
// (de-duplication id, Tillbox-Seq) but no expected-last-sequence check,
// into a stream made for it with the journal stream's configuration
// (subjects prefixed with "raw."). It returns the time until the last
// ack, and deletes the stream.
func rawPublish(b *testing.B, ns *chainNATS, boxes []*box) time.Duration {
	b.Helper()
	ctx := b.Context()
	_, js := ns.hqClient(b)
	journal, err := js.Stream(ctx, wire.JournalStream)
	if err != nil {
		b.Fatal(err)
	}
	cfg := journal.CachedInfo().Config
	cfg.Name = "BENCH_RAW"
	for i, s := range cfg.Subjects {
		cfg.Subjects[i] = "raw." + s
	}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := js.DeleteStream(context.WithoutCancel(ctx), cfg.Name); err != nil {
			b.Error(err)
		}
	}()
	msgs := make([]*nats.Msg, 0, len(boxes)*len(boxes[0].events))
	for seq := range boxes[0].events { // interleaved as the boxes published
		for _, bx := range boxes {
			m := nats.NewMsg("raw." + bx.till.JournalSubject())
			m.Data = bx.events[seq]
			m.Header.Set(wire.HeaderSeq, fmt.Sprint(seq+1))
			m.Header.Set(wire.HeaderMsgID, bx.till.MsgID(uint64(seq+1)))
			msgs = append(msgs, m)
		}
	}
	nc, _ := ns.hqClient(b)
	js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(rawWindow))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for _, m := range msgs {
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Minute):
		b.Fatal("raw publishing: the acks did not come")
	}
	took := time.Since(start)
	info, err := js.Stream(ctx, cfg.Name)
	if err != nil {
		b.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != uint64(len(msgs)) {
		b.Fatalf("raw publishing: %d messages in the stream, want %d", n, len(msgs))
	}
	return took
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
