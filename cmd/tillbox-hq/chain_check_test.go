package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// The end of the chain test: once the sales have stopped and the chaos is
// over, wait until the chain has settled (every box's sales final, its
// log shipped and acknowledged, PostgreSQL holding it, its relayed
// webhooks taken), then stop the boxes and compare each box's own event
// log with PostgreSQL.

// checkedBox is what the end check needs of a box.
type checkedBox struct {
	till wire.Till
	url  func() string // the box's POS API base URL now
	db   string        // its tillbox.db
}

// boxMetrics reads the box's /metrics: the samples without labels.
func boxMetrics(ctx context.Context, base string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}

// settledState says why box b has not settled yet, or "" with the seq of
// its newest event, which headquarters' PostgreSQL holds too.
func settledState(ctx context.Context, b checkedBox, db *pgx.Conn, js jetstream.JetStream) (uint64, string) {
	m, err := boxMetrics(ctx, b.url())
	if err != nil {
		return 0, "metrics: " + err.Error()
	}
	switch {
	case m["tillbox_sales_unfinished"] != 0:
		return 0, fmt.Sprintf("%v sales not final", m["tillbox_sales_unfinished"])
	case m["tillbox_outbox_commands"] != 0:
		return 0, fmt.Sprintf("%v commands in the outbox", m["tillbox_outbox_commands"])
	case m["tillbox_fleet_connected"] != 1:
		return 0, "not connected to headquarters"
	case m["tillbox_fleet_lag_events"] != 0:
		return 0, fmt.Sprintf("%v events not acknowledged by headquarters", m["tillbox_fleet_lag_events"])
	}
	shipped := uint64(m["tillbox_fleet_shipped_seq"])
	var n, top int64
	if err := db.QueryRow(ctx, "SELECT count(*), coalesce(max(seq), 0) FROM events WHERE chain = $1 AND store = $2 AND till = $3",
		b.till.Chain, b.till.Store, b.till.Till).Scan(&n, &top); err != nil {
		return 0, "PostgreSQL: " + err.Error()
	}
	if uint64(n) != shipped || uint64(top) != shipped {
		return 0, fmt.Sprintf("PostgreSQL holds %d events up to %d, the box shipped %d", n, top, shipped)
	}
	c, err := js.Consumer(ctx, wire.RelayStream, b.till.RelayConsumer())
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return shipped, "" // no relay consumer yet: checkRelay checks nothing waits
	}
	if err != nil {
		return 0, "relay consumer: " + err.Error()
	}
	info := c.CachedInfo()
	if info.NumPending != 0 || info.NumAckPending != 0 {
		return 0, fmt.Sprintf("relayed webhooks: %d not delivered, %d not acknowledged", info.NumPending, info.NumAckPending)
	}
	return shipped, ""
}

// settle waits until every box has settled at once, within bound, and
// returns the seq of each box's newest event.
func settle(t testing.TB, boxes []checkedBox, db *pgx.Conn, js jetstream.JetStream, bound time.Duration) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	last := make([]uint64, len(boxes))
	for {
		var waiting []string
		for i, b := range boxes {
			qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
			seq, why := settledState(qctx, b, db, js)
			qcancel()
			if why != "" {
				waiting = append(waiting, fmt.Sprintf("%s: %s", b.till, why))
			}
			last[i] = seq
		}
		if len(waiting) == 0 {
			return last
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the chain did not settle within %s:\n%s", bound, strings.Join(waiting, "\n"))
		case <-time.After(250 * time.Millisecond): // the next look: shipping and relaying take milliseconds each
		}
	}
}

// subjectCounts is the number of messages of each subject of stream
// under filter.
func subjectCounts(t testing.TB, js jetstream.JetStream, stream, filter string) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects
}

// checkLog compares box b's own event log (its stopped store) with
// PostgreSQL and the journal stream: the same events 1..N, none missing,
// none twice, each byte for byte; the sales from their newest events. It
// returns N.
func checkLog(t testing.TB, b checkedBox, db *pgx.Conn, journal map[string]uint64) int {
	t.Helper()
	// storetest also verifies the file, page by page, when the test ends:
	// every SIGKILL of the box left a whole store.
	s := storetest.Open(t, b.db, store.Options{CompactMinFree: -1})
	defer s.Close()
	var raw []store.RawEvent
	var first, last, shipped uint64
	if err := s.View(func(tx *store.Tx) (err error) {
		first, last, shipped = tx.FirstSeq(), tx.LastSeq(), tx.Shipped()
		raw, err = tx.RawEventsAfter(0, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if first != 1 || uint64(len(raw)) != last || shipped != last {
		t.Fatalf("%s: the box's log holds %d events, %d..%d, shipped mark %d", b.till, len(raw), first, last, shipped)
	}
	rows, err := db.Query(context.Background(), "SELECT seq, body FROM events WHERE chain = $1 AND store = $2 AND till = $3 ORDER BY seq",
		b.till.Chain, b.till.Store, b.till.Till)
	if err != nil {
		t.Fatal(err)
	}
	var got []store.RawEvent
	for rows.Next() {
		var seq int64
		var body string
		if err := rows.Scan(&seq, &body); err != nil {
			t.Fatal(err)
		}
		got = append(got, store.RawEvent{Seq: uint64(seq), JSON: []byte(body)})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// The primary key (chain, store, till, seq) allows no event twice; the
	// count and the order show none is missing.
	if len(got) != len(raw) {
		t.Fatalf("%s: PostgreSQL holds %d events, the box's log %d", b.till, len(got), len(raw))
	}
	bodies := make([][]byte, len(raw))
	for i, e := range raw {
		if got[i].Seq != uint64(i+1) || e.Seq != uint64(i+1) {
			t.Fatalf("%s: event %d: seq %d in PostgreSQL, %d in the box's log", b.till, i+1, got[i].Seq, e.Seq)
		}
		if string(got[i].JSON) != string(e.JSON) {
			t.Fatalf("%s: event %d differs:\nPostgreSQL: %s\nthe box:    %s", b.till, i+1, got[i].JSON, e.JSON)
		}
		bodies[i] = e.JSON
	}
	if n := journal[b.till.JournalSubject()]; n != last {
		t.Fatalf("%s: the journal stream holds %d messages of the till, its log %d events", b.till, n, last)
	}
	var atHQ int64
	if err := db.QueryRow(context.Background(), "SELECT at_hq FROM tills WHERE chain = $1 AND store = $2 AND till = $3",
		b.till.Chain, b.till.Store, b.till.Till).Scan(&atHQ); err != nil || uint64(atHQ) != last {
		t.Fatalf("%s: at_hq %d (%v), want %d", b.till, atHQ, err, last)
	}
	checkSalesOf(t, db, b.till, bodies)
	return len(raw)
}

// checkSalesOf checks headquarters' sales of till against the newest
// event of each in the box's log (times as PostgreSQL keeps them, to the
// microsecond).
func checkSalesOf(t testing.TB, db *pgx.Conn, till wire.Till, events [][]byte) {
	t.Helper()
	newest := map[string]agent.Sale{}
	lastSeq := map[string]uint64{}
	for i, body := range events {
		var e store.Event
		var s agent.Sale
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(e.Data, &s); err != nil {
			t.Fatal(err)
		}
		newest[s.Reference], lastSeq[s.Reference] = s, uint64(i+1)
	}
	rows, err := db.Query(context.Background(), `SELECT reference, amount, currency, captured, refunded, state, last_seq, created_at, finished_at
		FROM sales WHERE chain = $1 AND store = $2 AND till = $3`, till.Chain, till.Store, till.Till)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var ref, currency, state string
		var amount, captured, refunded, last int64
		var created time.Time
		var finished *time.Time
		if err := rows.Scan(&ref, &amount, &currency, &captured, &refunded, &state, &last, &created, &finished); err != nil {
			t.Fatal(err)
		}
		n++
		s, ok := newest[ref]
		same := ok && amount == s.Amount && currency == s.Currency && captured == s.Aggregate.Captured && refunded == s.Aggregate.Refunded &&
			state == string(s.State) && uint64(last) == lastSeq[ref] && created.Equal(s.CreatedAt.Truncate(time.Microsecond)) &&
			(finished == nil) == s.FinishedAt.IsZero() && (finished == nil || finished.Equal(s.FinishedAt.Truncate(time.Microsecond)))
		if !same {
			t.Fatalf("%s: sale %s at headquarters: amount %d %s captured %d refunded %d state %s last_seq %d created %s finished %v;\nthe box's newest (seq %d): %+v",
				till, ref, amount, currency, captured, refunded, state, last, created, finished, lastSeq[ref], s)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(newest) {
		t.Fatalf("%s: %d sales at headquarters, the box has %d", till, n, len(newest))
	}
}

// checkRelay checks that every webhook headquarters relayed to till was
// taken by its box: the box's durable consumer has acknowledged the
// subject's last message and has nothing pending. It returns the number
// relayed.
func checkRelay(t testing.TB, js jetstream.JetStream, till wire.Till, relay map[string]uint64) uint64 {
	t.Helper()
	n := relay[till.RelaySubject()]
	if n == 0 {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, wire.RelayStream)
	if err != nil {
		t.Fatal(err)
	}
	lastMsg, err := s.GetLastMsgForSubject(ctx, till.RelaySubject())
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.Consumer(ctx, wire.RelayStream, till.RelayConsumer())
	if err != nil {
		t.Fatalf("%s: %d webhooks relayed, its consumer: %v", till, n, err)
	}
	info := c.CachedInfo()
	if info.AckFloor.Stream < lastMsg.Sequence || info.NumPending != 0 || info.NumAckPending != 0 {
		t.Fatalf("%s: %d webhooks relayed up to stream seq %d; the box acknowledged up to %d, %d pending, %d unacknowledged",
			till, n, lastMsg.Sequence, info.AckFloor.Stream, info.NumPending, info.NumAckPending)
	}
	return n
}
