package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// TestBoxLinkToHeadquarters: the box's own link (agent/fleet, a real
// store file) ships its log to headquarters, which stores it byte for
// byte, knows the box from its heartbeats, and relays a webhook of the
// box's payment to the box's Relay hook.
func TestBoxLinkToHeadquarters(t *testing.T) {
	till := tillOf("oslo", "t1")
	pg, ns := startPG(t), startNATS(t, till)
	h := startHQ(t, writeConfig(t, pg.DSN(), ns, 1))
	_, js := ns.hqClient(t)
	waitStreams(t, js)

	db, relayed := startLinkStore(t, ns, till)
	appendSales(t, db, 30)

	conn := pgConn(t, pg.DSN())
	waitFor(t, 60*time.Second, "the box's log at headquarters", func() bool { return countEvents(conn, till) == 30 })
	appendSales(t, db, 10) // more while the link runs
	waitFor(t, 60*time.Second, "the new events at headquarters", func() bool { return countEvents(conn, till) == 40 })
	var raw []store.RawEvent
	if err := db.View(func(tx *store.Tx) error {
		var err error
		raw, err = tx.RawEventsAfter(0, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, e := range raw {
		var body string
		if err := conn.QueryRow(context.Background(), "SELECT body FROM events WHERE chain = $1 AND store = $2 AND till = $3 AND seq = $4",
			till.Chain, till.Store, till.Till, int64(e.Seq)).Scan(&body); err != nil || body != string(e.JSON) {
			t.Fatalf("event %d at headquarters (%v):\n%s\nthe box's:\n%s", e.Seq, err, body, e.JSON)
		}
	}
	waitFor(t, 30*time.Second, "the till routable", func() bool {
		var n int
		err := conn.QueryRow(context.Background(), "SELECT count(*) FROM tills WHERE reference_prefix = 'oslo-t1' AND msn = $1", testMSN).Scan(&n)
		return err == nil && n == 1
	})
	body := webhookBody(t, "oslo-t1-000007", epayment.EventCaptured)
	if code := postWebhook(t, h.URL(), body, testSecret); code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	select {
	case got := <-relayed:
		if string(got) != string(body) {
			t.Fatalf("the box got %s", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the relayed webhook did not reach the box")
	}
}

// appendSales appends n sale events to the box's store as the agent does.
func appendSales(t testing.TB, db *store.DB, n int) {
	t.Helper()
	for range n {
		err := db.Update(func(tx *store.Tx) error {
			seq := tx.LastSeq() + 1
			s := agent.Sale{Reference: fmt.Sprintf("oslo-t1-%06d", seq), Till: "t1", Amount: int64(100 * seq), Currency: "NOK",
				State: agent.Completed, Outcome: true, CreatedAt: time.Now(), UpdatedAt: time.Now()}
			data, err := json.Marshal(s)
			if err != nil {
				return err
			}
			_, err = tx.AppendEvent(&store.Event{Reference: s.Reference, Kind: "sale", State: string(s.State), Data: data, At: time.Now()})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// startLink runs the box's link of till with an empty store; the bodies it
// is relayed come on the channel.
func startLink(t testing.TB, ns *chainNATS, till wire.Till) <-chan []byte {
	t.Helper()
	_, relayed := startLinkStore(t, ns, till)
	return relayed
}

// startLinkStore runs the box's link of till on a store of its own (a
// real file), until the test ends.
func startLinkStore(t testing.TB, ns *chainNATS, till wire.Till) (*store.DB, <-chan []byte) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "tillbox.db"), store.Options{HoldUnshipped: true})
	if err != nil {
		t.Fatal(err)
	}
	relayed := make(chan []byte, 4)
	c := ns.one.Box(till)
	link, err := fleet.New(db, fleet.Options{Till: till, Servers: []string{ns.urls}, User: c.User,
		Password: epayment.Secret(c.Password), CAFile: ns.one.CAFile(), Heartbeat: 200 * time.Millisecond,
		MaxIdle: 100 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: time.Second,
		Describe: func() wire.Heartbeat {
			return wire.Heartbeat{Version: "test", MSN: testMSN, ReferencePrefix: till.Store + "-" + till.Till, Online: true}
		},
		Relay: func(_ context.Context, body []byte) error { relayed <- body; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- link.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Errorf("link: %v", err)
		}
		_ = db.Close()
	})
	return db, relayed
}
