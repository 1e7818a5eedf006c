package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// TestJournalLandsExactlyOnce: three boxes publish their logs as a box
// does, with replays inside the de-duplication window, a stale append the
// expected-sequence check refuses, and a copy that slipped past both (as
// after a box restored from a backup without the headers): headquarters
// holds every event once, byte for byte equal to the box's log, each sale
// from its newest event and each till's newest sequence.
func TestJournalLandsExactlyOnce(t *testing.T) {
	tills := []wire.Till{tillOf("oslo", "t1"), tillOf("oslo", "t2"), tillOf("bergen", "t1")}
	pg, ns := startPG(t), startNATS(t, tills...)
	h := startHQ(t, writeConfig(t, pg.DSN(), ns, 1))
	_, js := ns.hqClient(t)
	waitStreams(t, js)
	db := pgConn(t, pg.DSN())

	var boxes []*box
	for _, till := range tills {
		b := newBox(t, ns, till)
		b.makeEvents(t, 60)
		b.mustShip(t, 1)
		boxes = append(boxes, b)
	}
	ctx := context.Background()
	b := boxes[0]
	// A replay (a box that lost its acks) with the expected last sequence
	// it sent the first time: refused, whether inside the de-duplication
	// window or not (the server checks the sequence first).
	var apiErr *jetstream.APIError
	for seq := uint64(10); seq <= 20; seq++ {
		if _, err := b.replay(ctx, seq); !errors.As(err, &apiErr) || apiErr.ErrorCode != wire.ErrWrongLastSequence {
			t.Fatalf("replay of %d: %v, want error %d", seq, err, wire.ErrWrongLastSequence)
		}
	}
	// The same with the de-duplication id alone: a duplicate.
	for seq := uint64(10); seq <= 20; seq++ {
		msg := nats.NewMsg(b.till.JournalSubject())
		msg.Data = b.events[seq-1]
		ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(b.till.MsgID(seq)))
		if err != nil || !ack.Duplicate {
			t.Fatalf("replay of %d with its id: %+v %v, want a duplicate", seq, ack, err)
		}
	}
	// A stale append (the box thinks the subject is older): refused.
	b.makeEvents(t, 1)
	if _, err := b.publish(ctx, 61, b.last-1); !errors.As(err, &apiErr) || apiErr.ErrorCode != wire.ErrWrongLastSequence {
		t.Fatalf("stale append: %v, want error %d", err, wire.ErrWrongLastSequence)
	}
	b.mustShip(t, 61)
	// A copy of event 5 without the headers: the stream stores it twice,
	// headquarters once.
	if _, err := b.js.Publish(ctx, b.till.JournalSubject(), b.events[4]); err != nil {
		t.Fatal(err)
	}
	// Something that is no event (a box's bug): terminated and counted,
	// and the ingest goes on past it.
	if _, err := boxes[1].js.Publish(ctx, boxes[1].till.JournalSubject(), []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	boxes[1].makeEvents(t, 1)
	boxes[1].last = 0
	if _, err := boxes[1].resume(ctx); err == nil {
		t.Fatal("the box resumed after a message that is no event")
	}
	last, err := js.Stream(ctx, wire.JournalStream)
	if err != nil {
		t.Fatal(err)
	}
	boxes[1].last = last.CachedInfo().State.LastSeq
	boxes[1].mustShip(t, 61)
	// A sale event whose sale does not decode (the newest of its sale, so
	// the one headquarters reads): terminated and counted too.
	bad := `{"seq":999,"reference":"bergen-t1-bad","kind":"sale","state":"completed","at":"2026-12-07T10:00:00Z","data":{"amount":"ten"}}`
	if _, err := boxes[2].js.Publish(ctx, boxes[2].till.JournalSubject(), []byte(bad)); err != nil {
		t.Fatal(err)
	}
	for _, b := range boxes {
		waitFor(t, 60*time.Second, "every event of "+b.till.String(), func() bool { return countEvents(db, b.till) == len(b.events) })
	}
	waitFor(t, 30*time.Second, "the copy of event 5 acknowledged", func() bool {
		info, err := js.Consumer(ctx, wire.JournalStream, "hq_ingest")
		return err == nil && info.CachedInfo().NumAckPending == 0 && info.CachedInfo().NumPending == 0
	})
	for _, b := range boxes {
		checkJournal(t, db, b)
	}
	var stored int
	if err := db.QueryRow(ctx, "SELECT (SELECT count(*) FROM events WHERE reference = 'bergen-t1-bad') + (SELECT count(*) FROM sales WHERE reference = 'bergen-t1-bad')").Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the sale that does not decode: %d rows (%v), want none", stored, err)
	}
	code, body := get(t, h.URL()+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, `tillbox_hq_ingest_events_total{result="new"} 182`) ||
		!strings.Contains(body, `tillbox_hq_ingest_events_total{result="duplicate"} 1`) ||
		!strings.Contains(body, `tillbox_hq_ingest_events_total{result="rejected"} 2`) {
		t.Errorf("/metrics: %d\n%s", code, grep(body, "tillbox_hq_ingest_events_total"))
	}
}

// grep is the lines of s that contain word.
func grep(s, word string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// TestPostgresRestartedDuringIngest: PostgreSQL crashes while boxes keep
// publishing; /readyz says so; once it is back every event is there once.
func TestPostgresRestartedDuringIngest(t *testing.T) {
	till := tillOf("oslo", "t1")
	pg, ns := startPG(t), startNATS(t, till)
	h := startHQ(t, writeConfig(t, pg.DSN(), ns, 1))
	_, js := ns.hqClient(t)
	waitStreams(t, js)
	b := newBox(t, ns, till)
	b.makeEvents(t, 300)
	b.mustShip(t, 1)
	db := pgConn(t, pg.DSN())
	waitFor(t, 30*time.Second, "the first events stored", func() bool { return countEvents(db, b.till) > 0 })
	waitFor(t, 10*time.Second, "ready", func() bool { code, _ := get(t, h.URL()+"/readyz"); return code == http.StatusOK })

	pg.Kill()
	b.makeEvents(t, 200)
	b.mustShip(t, 301)
	code, body := get(t, h.URL()+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"postgres":"unreachable`) {
		t.Errorf("/readyz with PostgreSQL down: %d %s", code, body)
	}
	pg.Restart()
	db = pgConn(t, pg.DSN())
	waitFor(t, 60*time.Second, "every event after the restart", func() bool { return countEvents(db, b.till) == len(b.events) })
	checkJournal(t, db, b)
	waitFor(t, 10*time.Second, "ready again", func() bool { code, _ := get(t, h.URL()+"/readyz"); return code == http.StatusOK })
}

// TestHeartbeatsAndMetrics: heartbeats make tills known, online and
// routable; /metrics shows how far behind each journal is.
func TestHeartbeatsAndMetrics(t *testing.T) {
	till := tillOf("oslo", "t1")
	pg, ns := startPG(t), startNATS(t, till)
	h := startHQ(t, writeConfig(t, pg.DSN(), ns, 1))
	_, js := ns.hqClient(t)
	waitStreams(t, js)
	b := newBox(t, ns, till)
	b.makeEvents(t, 3)
	b.mustShip(t, 1)
	b.heartbeat(t, 10)
	waitFor(t, 30*time.Second, "the till online with a lag of 7", func() bool {
		_, body := get(t, h.URL()+"/metrics")
		return strings.Contains(body, "tillbox_hq_tills_online 1") &&
			strings.Contains(body, `tillbox_hq_till_journal_lag{store="oslo",till="t1"} 7`)
	})
}

// heartbeat publishes a heartbeat of the box, as the box does.
func (b *box) heartbeat(t testing.TB, lastSeq uint64) {
	t.Helper()
	hb := wire.Heartbeat{Till: b.till, At: time.Now(), Version: "test", MSN: testMSN, ReferencePrefix: b.prefix(),
		Online: true, LastSeq: lastSeq, Scanners: []wire.Scanner{{Name: "front", Connected: true}}}
	if _, err := b.js.Publish(context.Background(), b.till.HeartbeatSubject(), hb.Marshal()); err != nil {
		t.Fatal(err)
	}
}
