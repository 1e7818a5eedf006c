package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
	"github.com/tillbox/tillbox/store"
)

func TestMain(m *testing.M) {
	// The test binary is tillbox-hq itself when a test runs it as a process.
	if args := os.Getenv("TILLBOX_HQ_TEST_ARGS"); args != "" {
		os.Args = append([]string{"tillbox-hq"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	testChain  = "acme"
	testMSN    = "123456"
	testSecret = "webhook-secret-of-123456"
)

// testWebhookURL is the URL registered with Vipps MobilePay in the tests:
// the signature covers it, not the loopback address the test posts to.
const testWebhookURL = "https://hq.acme.example/webhooks/vipps/" + testMSN

// writeConfig writes a configuration for headquarters on PostgreSQL pgDSN
// and the NATS servers of n (TLS, headquarters' user), and returns its
// path.
func writeConfig(t testing.TB, pgDSN string, n *chainNATS, replicas int, more ...string) string {
	t.Helper()
	dir := t.TempDir()
	hq := n.one.HQ()
	conf := fmt.Sprintf(`[hq]
chain = %q
heartbeat_interval = "1s"
shutdown_timeout = "10s"

[nats]
servers = [%s]
user = %q
password_file = "nats-password"
ca_file = %q
replicas = %d

[postgres]
dsn_file = "dsn"

[http]
listen = "127.0.0.1:0"

[log]
level = "debug"

[[unit]]
msn = %q
webhook_url = %q
webhook_secret_file = "hook"
`, testChain, quoteList(n.urls), hq.User, n.one.CAFile(), replicas, testMSN, testWebhookURL) + strings.Join(more, "\n")
	for name, v := range map[string]string{"hq.toml": conf, "dsn": pgDSN, "hook": testSecret, "nats-password": hq.Password} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "hq.toml")
}

// quoteList is comma-separated urls as a TOML list's items.
func quoteList(urls string) string {
	var q []string
	for u := range strings.SplitSeq(urls, ",") {
		q = append(q, fmt.Sprintf("%q", u))
	}
	return strings.Join(q, ", ")
}

// hq is a headquarters running in the test's process.
type hq struct {
	m    *Main
	log  *syncBuffer
	stop func() error
}

func startHQ(t testing.TB, path string) *hq {
	t.Helper()
	c, err := hqconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	m := &Main{Config: c, Stdout: io.Discard, LogOut: log, ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("tillbox-hq did not start: %v\n%s", err, log.String())
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	secrets := []string{c.NATS.Password.Reveal(), testSecret}
	if u, err := url.Parse(c.Postgres.DSN.Reveal()); err == nil {
		if pw, ok := u.User.Password(); ok {
			secrets = append(secrets, pw)
		}
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("tillbox-hq: %v", err)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(log.String(), s) {
				t.Errorf("a secret is in tillbox-hq's log")
			}
		}
		if t.Failed() {
			t.Logf("tillbox-hq's log:\n%s", log.String())
		}
	})
	return &hq{m: m, log: log, stop: stop}
}

func (h *hq) URL() string { return "http://" + h.m.Addr().String() }

// syncBuffer is a buffer safe to read while another goroutine writes.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// box publishes a till's event log as a box does: in order, each event
// with its de-duplication id and the expected last sequence of its
// subject.
type box struct {
	till   wire.Till
	start  time.Time // when its first sale was made
	nc     *nats.Conn
	js     jetstream.JetStream
	events [][]byte          // by seq - 1: the exact bytes of the box's log
	acked  map[uint64]uint64 // seq → the stream sequence the event got
	last   uint64            // stream sequence of the subject's last message
}

func newBox(t testing.TB, n *chainNATS, till wire.Till) *box {
	t.Helper()
	nc, js := n.boxClient(t, till)
	return &box{till: till, nc: nc, js: js, acked: map[uint64]uint64{}}
}

// tillOf names a till of the test's chain.
func tillOf(store, till string) wire.Till {
	return wire.Till{Chain: testChain, Store: store, Till: till}
}

// prefix is the box's reference prefix.
func (b *box) prefix() string { return b.till.Store + "-" + b.till.Till }

// makeEvents adds n events to the box's log: sales of increasing amounts,
// each going through awaiting approval, authorized and completed.
func (b *box) makeEvents(t testing.TB, n int) {
	t.Helper()
	start := b.start
	if start.IsZero() {
		start = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	}
	for range n {
		seq := uint64(len(b.events) + 1)
		sale := (seq-1)/3 + 1
		step := (seq - 1) % 3
		at := start.Add(time.Duration(seq) * time.Second)
		s := agent.Sale{Reference: fmt.Sprintf("%s-%06d", b.prefix(), sale), Till: b.till.Till, Amount: int64(100 * sale),
			Currency: "NOK", Description: "test sale", State: []agent.State{agent.AwaitingApproval, agent.Authorized, agent.Completed}[step],
			CreatedAt: start.Add(time.Duration(sale*3) * time.Second), UpdatedAt: at}
		if step >= 1 {
			s.Aggregate.Authorized = s.Amount
		}
		if step == 2 {
			s.Aggregate.Captured, s.Outcome, s.FinishedAt = s.Amount, true, at
		}
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(store.Event{Seq: seq, Reference: s.Reference, Kind: "sale", State: string(s.State), Data: data, At: at})
		if err != nil {
			t.Fatal(err)
		}
		b.events = append(b.events, body)
	}
}

// replay publishes event seq again as a box that lost its ack does: with
// the expected last sequence it sent the first time.
func (b *box) replay(ctx context.Context, seq uint64) (*jetstream.PubAck, error) {
	var expect uint64
	if seq > 1 {
		expect = b.acked[seq-1]
	}
	return b.publish(ctx, seq, expect)
}

// publish sends event seq as the box does and returns the ack.
func (b *box) publish(ctx context.Context, seq uint64, expectLast uint64) (*jetstream.PubAck, error) {
	msg := nats.NewMsg(b.till.JournalSubject())
	msg.Data = b.events[seq-1]
	msg.Header.Set(wire.HeaderSeq, fmt.Sprint(seq))
	return b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(b.till.MsgID(seq)), jetstream.WithExpectLastSequencePerSubject(expectLast))
}

// ship publishes the events from seq on, in order, as a box does: after a
// failed publish (a node down, a lost ack) it reads the subject's last
// message and resumes after it.
func (b *box) ship(from uint64) error {
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for seq := from; seq <= uint64(len(b.events)); {
		ack, err := b.publish(ctx, seq, b.last)
		if err == nil {
			// A duplicate is the event stored by an attempt whose ack was
			// lost (a cluster checks the id before the expected sequence):
			// its sequence is the stored message's.
			b.last, b.acked[seq] = ack.Sequence, ack.Sequence
			seq++
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: publish %d: %w", b.till, seq, err)
		}
		if shipped, err := b.resume(ctx); err == nil {
			seq = shipped + 1
		} else {
			time.Sleep(100 * time.Millisecond) // a back-off: the servers are electing or restarting
		}
	}
	return nil
}

// mustShip is ship on the test's goroutine.
func (b *box) mustShip(t testing.TB, from uint64) {
	t.Helper()
	if err := b.ship(from); err != nil {
		t.Fatal(err)
	}
}

// resume reads the last event of the box's subject in the stream, as a box
// does after a failed publish (a direct get, the one read its permissions
// allow), and returns its seq.
func (b *box) resume(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := b.nc.RequestWithContext(ctx, b.till.JournalLastSubject(), nil)
	if err != nil {
		return 0, err
	}
	if m.Header.Get("Status") == "404" {
		b.last = 0
		return 0, nil
	}
	if st := m.Header.Get("Status"); st != "" {
		return 0, fmt.Errorf("direct get: status %s %s", st, m.Header.Get("Description"))
	}
	streamSeq, err := strconv.ParseUint(m.Header.Get(wire.HeaderStreamSeq), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("direct get: %w", err)
	}
	var e store.Event
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return 0, err
	}
	b.last, b.acked[e.Seq] = streamSeq, streamSeq
	return e.Seq, nil
}

// waitStreams waits until headquarters has made its streams.
func waitStreams(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	waitFor(t, 30*time.Second, "the streams", func() bool {
		for _, s := range []string{wire.JournalStream, wire.HeartbeatStream, wire.RelayStream} {
			if _, err := js.Stream(context.Background(), s); err != nil {
				return false
			}
		}
		return true
	})
}

// countEvents is the number of events stored for till; -1 when
// PostgreSQL does not answer.
func countEvents(db *pgx.Conn, t wire.Till) int {
	var n int
	err := db.QueryRow(context.Background(), "SELECT count(*) FROM events WHERE chain = $1 AND store = $2 AND till = $3",
		t.Chain, t.Store, t.Till).Scan(&n)
	if err != nil {
		return -1
	}
	return n
}

// checkJournal checks that headquarters holds every event of b exactly
// once, byte for byte, its sales from their newest events, and at_hq.
func checkJournal(t testing.TB, db *pgx.Conn, b *box) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, "SELECT seq, body FROM events WHERE chain = $1 AND store = $2 AND till = $3 ORDER BY seq",
		b.till.Chain, b.till.Store, b.till.Till)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for rows.Next() {
		var seq int64
		var body string
		if err := rows.Scan(&seq, &body); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, uint64(seq))
		if seq < 1 || int(seq) > len(b.events) || body != string(b.events[seq-1]) {
			t.Fatalf("%s: event %d differs from the box's:\n got %s", b.till, seq, body)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != len(b.events) {
		t.Fatalf("%s: %d events at headquarters, the box has %d", b.till, len(seqs), len(b.events))
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("%s: sequences not contiguous at %d: %d", b.till, i+1, s)
		}
	}
	var atHQ int64
	if err := db.QueryRow(ctx, "SELECT at_hq FROM tills WHERE chain = $1 AND store = $2 AND till = $3",
		b.till.Chain, b.till.Store, b.till.Till).Scan(&atHQ); err != nil || atHQ != int64(len(b.events)) {
		t.Fatalf("%s: at_hq %d (%v), want %d", b.till, atHQ, err, len(b.events))
	}
	checkSales(t, db, b)
}

// checkSales checks each sale of b against its newest event.
func checkSales(t testing.TB, db *pgx.Conn, b *box) {
	t.Helper()
	newest := map[string]agent.Sale{}
	lastSeq := map[string]uint64{}
	for i, body := range b.events {
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
	rows, err := db.Query(context.Background(), `SELECT reference, amount, currency, captured, state, last_seq, created_at, finished_at
		FROM sales WHERE chain = $1 AND store = $2 AND till = $3`, b.till.Chain, b.till.Store, b.till.Till)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var ref, currency, state string
		var amount, captured, last int64
		var created time.Time
		var finished *time.Time
		if err := rows.Scan(&ref, &amount, &currency, &captured, &state, &last, &created, &finished); err != nil {
			t.Fatal(err)
		}
		n++
		s, ok := newest[ref]
		if !ok || amount != s.Amount || currency != s.Currency || captured != s.Aggregate.Captured || state != string(s.State) ||
			uint64(last) != lastSeq[ref] || !created.Equal(s.CreatedAt) || (finished == nil) != s.FinishedAt.IsZero() {
			t.Fatalf("%s: sale %s at headquarters: amount %d %s captured %d state %s last_seq %d; the box's newest: %+v (seq %d)",
				b.till, ref, amount, currency, captured, state, last, s, lastSeq[ref])
		}
	}
	if n != len(newest) {
		t.Fatalf("%s: %d sales at headquarters, the box has %d", b.till, n, len(newest))
	}
}

// get fetches url and returns the status and body.
func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
