package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// The rig: real nats-server processes (natstest, TLS with the test CA),
// the streams as headquarters makes them, a box's store on a real file,
// and links run as the box runs them.

var (
	tillA = wire.Till{Chain: "acme", Store: "oslo-1", Till: "t1"}
	tillB = wire.Till{Chain: "acme", Store: "oslo-1", Till: "t2"}
)

// wait bounds every wait of these tests: long, for a busy 2-core machine;
// a wait ends at its event, never at this bound unless the test fails.
const wait = 2 * time.Minute

// hqStreams creates the journal, heartbeat and relay streams as
// headquarters does; dup is the journal's de-duplication window.
func hqStreams(t *testing.T, js jetstream.JetStream, dup time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, cfg := range []jetstream.StreamConfig{
		{Name: wire.JournalStream, Subjects: []string{"tillbox.*.journal.>"}, AllowDirect: true, Duplicates: dup},
		{Name: wire.HeartbeatStream, Subjects: []string{"tillbox.*.heartbeat.>"}, MaxMsgsPerSubject: 1, AllowDirect: true},
		{Name: wire.RelayStream, Subjects: []string{"tillbox.*.relay.>"}},
	} {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatalf("create %s: %v", cfg.Name, err)
		}
	}
}

// hq connects as headquarters.
func hq(t *testing.T, s *natstest.Server) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(s.Connect(t, s.URL(), s.HQ()))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// boxOptions are the link's options for till on s, as [fleet] gives them.
func boxOptions(s *natstest.Server, till wire.Till, servers ...string) Options {
	c := s.Box(till)
	if len(servers) == 0 {
		servers = []string{s.URL()}
	}
	return Options{Till: till, Servers: servers, User: c.User, Password: epayment.Secret(c.Password), CAFile: s.CAFile(),
		Heartbeat: time.Second, RetryMin: 50 * time.Millisecond, RetryMax: time.Second, Timeout: 5 * time.Second}
}

// box is a till's store with events appended by the test, as the agent
// appends them, and the notification the link waits on.
type box struct {
	db      *store.DB
	path    string
	changed *signal
}

func newBox(t *testing.T, path string, opts store.Options) *box {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "tillbox.db")
	}
	opts.HoldUnshipped = true
	db, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return &box{db: db, path: path, changed: newSignal()}
}

// add appends n events dated at (now when zero), one transaction each.
func (b *box) add(t testing.TB, n int, at time.Time) {
	t.Helper()
	for range n {
		if err := b.append(at); err != nil {
			t.Fatal(err)
		}
	}
}

func (b *box) append(at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	return b.db.Update(func(tx *store.Tx) error {
		seq := tx.LastSeq() + 1
		data, _ := json.Marshal(map[string]any{"amount": 100 * seq, "currency": "NOK"})
		if _, err := tx.AppendEvent(&store.Event{Reference: "tb-t1-" + strconv.FormatUint(seq, 10), Kind: "sale", State: "completed", Data: data, At: at}); err != nil {
			return err
		}
		tx.OnCommit(b.changed.fire)
		return nil
	})
}

// raw is the box's log as stored.
func (b *box) raw(t *testing.T) []store.RawEvent {
	t.Helper()
	var evs []store.RawEvent
	if err := b.db.View(func(tx *store.Tx) error {
		var err error
		evs, err = tx.RawEventsAfter(0, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return evs
}

func (b *box) shipped(t *testing.T) uint64 {
	t.Helper()
	var s uint64
	if err := b.db.View(func(tx *store.Tx) error { s = tx.Shipped(); return nil }); err != nil {
		t.Fatal(err)
	}
	return s
}

// running is a link run by a test.
type running struct {
	*Link
	stop func()
}

// run starts a link over b's store and stops it when the test ends.
func (b *box) run(t *testing.T, o Options) *running {
	t.Helper()
	o.Changed = b.changed.wait
	l, err := New(b.db, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &running{Link: l, stop: stop}
}

// until waits for cond on the link's status, polled each time the
// status may have changed (a connection event) and at most every 20 ms:
// a wait for the link's own progress.
func (r *running) until(t *testing.T, what string, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		changed := r.state.wait()
		s := r.Status()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; status %+v", wait, what, s)
		}
		select {
		case <-changed:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// journal is headquarters' view of a till's journal subject: every
// message stored, in stream order, read with an ordered consumer.
type journal struct {
	mu   sync.Mutex
	msgs []jetstream.Msg
	more *signal
}

func watchJournal(t *testing.T, js jetstream.JetStream, till wire.Till) *journal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, wire.JournalStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{till.JournalSubject()}})
	if err != nil {
		t.Fatal(err)
	}
	j := &journal{more: newSignal()}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		j.mu.Lock()
		j.msgs = append(j.msgs, m)
		j.mu.Unlock()
		j.more.fire()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return j
}

func (j *journal) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.msgs)
}

// waitCount waits until headquarters holds at least n messages.
func (j *journal) waitCount(t *testing.T, n int) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		more := j.more.wait()
		if j.count() >= n {
			return
		}
		select {
		case <-more:
		case <-deadline.C:
			t.Fatalf("headquarters holds %d events, want %d", j.count(), n)
		}
	}
}

// check fails unless headquarters holds exactly the box's events, each
// once, in order, byte for byte as stored, with their headers.
func (j *journal) check(t *testing.T, till wire.Till, want []store.RawEvent) {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.msgs) != len(want) {
		t.Errorf("headquarters holds %d events, the box %d", len(j.msgs), len(want))
	}
	for i, m := range j.msgs {
		if i >= len(want) {
			break
		}
		h := m.Headers()
		seq := h.Get(wire.HeaderSeq)
		if seq != strconv.FormatUint(want[i].Seq, 10) || h.Get(wire.HeaderMsgID) != till.MsgID(want[i].Seq) {
			t.Fatalf("message %d at headquarters is event %s (%s), want %d: not each once in order", i+1, seq, h.Get(wire.HeaderMsgID), want[i].Seq)
		}
		if !bytes.Equal(m.Data(), want[i].JSON) {
			t.Fatalf("event %s at headquarters: %s, the box stored %s", seq, m.Data(), want[i].JSON)
		}
	}
}
