package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo/fleetdemotest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
	"github.com/tillbox/tillbox/display/browsertest"
	"github.com/tillbox/tillbox/display/technician"
)

// TestRefundAnywhere: a customer returns goods at another store. With
// real processes (a TLS nats-server with per-box users, PostgreSQL,
// tillbox-hq and two `tillbox run` boxes in two stores with the
// simulator), bergen's cashier refunds an oslo sale by its reference on
// bergen's own POS API:
//   - it completes, once, and both boxes' event streams show it (oslo's
//     as its sale's refund, bergen's as remoteRefund events over the
//     WebSocket);
//   - a retry with the same refundId refunds nothing more;
//   - more than what is left, a reference nobody has, one of oslo's prefix
//     that oslo never made, and a declined sale are refused at once with
//     clear errors;
//   - with oslo's box stopped the refund is queued (bergen hears so);
//     headquarters and bergen killed with SIGKILL and started again, it is
//     made once when oslo is back and bergen hears it completed, each step
//     once;
//   - oslo killed with SIGKILL while a refund is under way finishes it,
//     once, when it is back;
//   - the fleet page, in headless Chromium, lists the refunds with their
//     state.
func TestRefundAnywhere(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, pg := startRefundChain(t, ctx)
	oslo, bergen := c.Boxes()[0], c.Boxes()[1]
	s := c.RunSales(ctx, fleetdemo.SalesOptions{Rate: 20, Max: 2, DeclineEvery: 2, Amounts: []int64{10000}})
	s.Wait()
	var ref, declined string
	for _, r := range s.Results() {
		switch {
		case r.Till == oslo.Till && r.State == agent.Completed:
			ref = r.Reference
		case r.Till == oslo.Till && r.State == agent.Declined:
			declined = r.Reference
		}
	}
	if ref == "" || declined == "" {
		t.Fatalf("no completed and declined sale at oslo: %+v", s.Results())
	}
	db := pgConn(t, pg.DSN())
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// What headquarters had of each till's journal, and its ingest.
		rows, err := db.Query(context.Background(), `SELECT store || '/' || till, at_hq, COALESCE(heartbeat->>'lastSeq', '-'),
			COALESCE(heartbeat->>'shipped', '-'), COALESCE(heartbeat_at::text, '-') FROM tills ORDER BY 1`)
		if err == nil {
			for rows.Next() {
				var till, last, shipped, at string
				var atHQ int64
				if rows.Scan(&till, &atHQ, &last, &shipped, &at) == nil {
					t.Logf("till %s: at headquarters %d, its newest %s, shipped %s, heard %s", till, atHQ, last, shipped, at)
				}
			}
			rows.Close()
		}
		rows, err = db.Query(context.Background(), `SELECT store || '/' || till || ' ' || reference, state, last_seq,
			COALESCE(finished_at::text, 'not finished') FROM sales ORDER BY 1`)
		if err == nil {
			for rows.Next() {
				var sale, state, finished string
				var last int64
				if rows.Scan(&sale, &state, &last, &finished) == nil {
					t.Logf("sale %s: %s from event %d, %s", sale, state, last, finished)
				}
			}
			rows.Close()
		}
		if _, body := get(t, c.HQ().URL()+"/metrics"); body != "" {
			t.Logf("headquarters' ingest:\n%s", grep(body, "tillbox_hq_ingest"))
		}
	})
	waitFor(t, time.Minute, "oslo's sales final at headquarters", func() bool {
		var n int
		err := db.QueryRow(ctx, "SELECT count(*) FROM sales WHERE reference IN ($1, $2) AND finished_at IS NOT NULL", ref, declined).Scan(&n)
		return err == nil && n == 2
	})
	osloEvents, bergenEvents := streamEvents(t, ctx, oslo), streamEvents(t, ctx, bergen)

	// A cross-store refund completing.
	sale, err := bergen.Client().RefundSale(ctx, ref, 3000, "ret-1")
	if err != nil || sale.Reference != ref || sale.Till != "t1" || sale.Aggregate.Captured != 10000 {
		t.Fatalf("refund at bergen of %s: %+v, %v", ref, sale, err)
	}
	bergenEvents.waitRemote(t, "ret-1", "completed")
	if got := bergenEvents.remoteStates("ret-1"); strings.Join(got, " ") != "queued accepted completed" {
		t.Errorf("bergen's events of ret-1: %v, want queued accepted completed, each once", got)
	}
	last := bergenEvents.remote("ret-1", "completed")
	if last.Sale.Aggregate.Refunded != 3000 || last.Sale.State != agent.PartiallyRefunded || last.RemoteRefund.Store != "oslo-1" {
		t.Errorf("bergen's completed event: %+v", last)
	}
	osloEvents.waitSale(t, ref, agent.PartiallyRefunded, 3000)

	// The cashier's retry with the same refundId: nothing more refunded.
	if sale, err := bergen.Client().RefundSale(ctx, ref, 3000, "ret-1"); err != nil || sale.Aggregate.Refunded != 3000 {
		t.Fatalf("retry of ret-1: %+v, %v", sale, err)
	}

	// Refusals, at once and clear.
	refused := func(ref string, amount int64, id string, status int, code, field, says string) {
		t.Helper()
		_, err := bergen.Client().RefundSale(ctx, ref, amount, id)
		var pe *posapi.Error
		if !errors.As(err, &pe) || pe.Status != status || pe.Code != code || pe.Field != field || !strings.Contains(pe.Message, says) {
			t.Errorf("refund of %s %d as %s: %v, want %d %s %q", ref, amount, id, err, status, code, says)
		}
	}
	refused(ref, 8000, "ret-2", http.StatusBadRequest, "invalid_request", "amount", "at most 7 000")
	refused("nobody-000001", 100, "ret-x", http.StatusNotFound, "not_found", "", "no till of the chain has a sale nobody-000001")
	refused(oslo.Prefix+"-999999", 100, "ret-y", http.StatusNotFound, "not_found", "", "oslo-1-t1-999999")
	refused(ref, 100, "ret-1", http.StatusBadRequest, "invalid_request", "refundId", "was used for a refund of 3 000")
	refused(ref, 100, "", http.StatusBadRequest, "invalid_request", "refundId", "give one to refund a sale of another till")
	refused(declined, 100, "ret-z", http.StatusConflict, "wrong_state", "", "sale is declined; only captured sales can be refunded")

	// The original box offline: queued, then made once when it is back.
	if err := oslo.Stop(); err != nil {
		t.Fatal(err)
	}
	osloSeq := osloEvents.lastSeq()
	waitFor(t, time.Minute, "oslo offline at headquarters", func() bool {
		n, err := c.HQ().TillsOnline(ctx)
		return err == nil && n == 1
	})
	for range 2 { // the cashier asks twice
		sale, err := bergen.Client().RefundSale(ctx, ref, 2000, "ret-3")
		if err != nil || sale.Reference != ref {
			t.Fatalf("refund at bergen with oslo offline: %+v, %v", sale, err)
		}
	}
	bergenEvents.waitRemote(t, "ret-3", "queued")
	var state string
	if err := db.QueryRow(ctx, "SELECT state FROM refunds WHERE refund_id = 'ret-3'").Scan(&state); err != nil || state != "queued" {
		t.Fatalf("ret-3 at headquarters while oslo is offline: %q, %v", state, err)
	}
	// Headquarters and the asking box killed with SIGKILL meanwhile: the
	// queued refund and its statuses are in JetStream and PostgreSQL.
	c.HQ().Kill()
	bergen.Kill()
	if err := c.HQ().Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bergen.Start(ctx); err != nil {
		t.Fatal(err)
	}
	bergenEvents.follow(t, ctx, bergen, bergenEvents.lastSeq())
	if err := oslo.Start(ctx); err != nil {
		t.Fatal(err)
	}
	bergenEvents.waitRemote(t, "ret-3", "completed")
	if got := bergenEvents.remoteStates("ret-3"); strings.Join(got, " ") != "queued accepted completed" {
		t.Errorf("bergen's events of ret-3: %v", got)
	}
	waitSaleAfter(t, ctx, oslo.Client(), osloSeq, ref, 5000)
	if got, err := oslo.Client().GetSale(ctx, ref); err != nil || got.Aggregate.Refunded != 5000 {
		t.Fatalf("oslo's sale after both refunds: %+v, %v", got, err)
	}

	// The owner killed (SIGKILL) while its refund is under way (Vipps
	// MobilePay refuses refunds with 5xx for now): back, it finishes it,
	// once, and the asker hears it completed.
	c.Sim().SetFault(sim.Fault{Endpoint: "refundPayment", Status5xx: 1})
	if sale, err := bergen.Client().RefundSale(ctx, ref, 1000, "ret-4"); err != nil || sale.Reference != ref {
		t.Fatalf("refund ret-4: %+v, %v", sale, err)
	}
	bergenEvents.waitRemote(t, "ret-4", "accepted")
	oslo.Kill()
	c.Sim().ClearFaults()
	if err := oslo.Start(ctx); err != nil {
		t.Fatal(err)
	}
	bergenEvents.waitRemote(t, "ret-4", "completed")
	if got := bergenEvents.remoteStates("ret-4"); strings.Join(got, " ") != "queued accepted completed" {
		t.Errorf("bergen's events of ret-4: %v", got)
	}
	if got, err := oslo.Client().GetSale(ctx, ref); err != nil || got.Aggregate.Refunded != 6000 {
		t.Fatalf("oslo's sale after the crash: %+v, %v", got, err)
	}
	checkRefundRows(t, ctx, db)
	refundsInBrowser(t, c)
}

// startRefundChain runs two stores of one box each, with a fleet page user.
func startRefundChain(t *testing.T, ctx context.Context) (*fleetdemo.Chain, *pgtest.Postgres) {
	t.Helper()
	tillbox, hqBin := fleetdemotest.Binaries(t)
	hash, err := technician.HashPassword(refundPagePassword)
	if err != nil {
		t.Fatal(err)
	}
	stores := []fleetdemo.Store{{ID: "oslo-1", MSN: "100001", Tills: []string{"t1"}}, {ID: "bergen-1", MSN: "100002", Tills: []string{"t1"}}}
	ns := natstest.Start(t, natstest.Options{TLS: true, Tills: fleetdemotest.Tills("kaffe", stores)})
	pg := pgtest.Start(t)
	c, err := fleetdemo.Start(ctx, fleetdemo.Options{
		Chain: "kaffe", Stores: stores, Dir: t.TempDir(), TillboxBin: tillbox, HQBin: hqBin,
		NATS: fleetdemotest.NATS([]string{ns.URL()}, ns, 1), PostgresDSN: pg.DSN(),
		Users: []fleetdemo.User{{Name: "it", PasswordHash: hash}}, Heartbeat: time.Second, NoScanner: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("headquarters:\n%s", c.HQ().Log())
			for _, b := range c.Boxes() {
				t.Logf("%s:\n%s", b.Name(), b.Log())
			}
		}
	})
	if err := c.WaitOnline(ctx); err != nil {
		t.Fatal(err)
	}
	return c, pg
}

const refundPagePassword = "refund-page-password-1"

// events is a box's event log as a POS reads it over the WebSocket.
type events struct {
	mu      sync.Mutex
	evs     []agent.Event
	changed chan struct{}
}

// streamEvents follows b's events from its newest on, over the WebSocket,
// until the test ends (or the box stops: follow again after a restart).
func streamEvents(t *testing.T, ctx context.Context, b *fleetdemo.Box) *events {
	t.Helper()
	st, err := b.Client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := &events{changed: make(chan struct{})}
	e.follow(t, ctx, b, st.LastSeq)
	return e
}

// follow streams b's events after after into e.
func (e *events) follow(t *testing.T, ctx context.Context, b *fleetdemo.Box, after uint64) {
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Client().StreamEvents(sctx, after, func(ev agent.Event) error {
			e.mu.Lock()
			e.evs = append(e.evs, ev)
			close(e.changed)
			e.changed = make(chan struct{})
			e.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { stop(); <-done })
}

// waitUntil waits until cond holds of the events.
func (e *events) waitUntil(t *testing.T, what string, cond func([]agent.Event) bool) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		e.mu.Lock()
		ok, ch := cond(e.evs), e.changed
		e.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			e.mu.Lock()
			defer e.mu.Unlock()
			t.Fatalf("no event says %s; the events: %s", what, show(e.evs))
		}
	}
}

func show(evs []agent.Event) string {
	b, _ := json.Marshal(evs)
	return string(b)
}

func (e *events) waitRemote(t *testing.T, id, state string) {
	t.Helper()
	e.waitUntil(t, "refund "+id+" "+state, func(evs []agent.Event) bool {
		for _, ev := range evs {
			if ev.RemoteRefund != nil && ev.RemoteRefund.RefundID == id && ev.RemoteRefund.State == state {
				return true
			}
		}
		return false
	})
}

func (e *events) remoteStates(id string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		if ev.RemoteRefund != nil && ev.RemoteRefund.RefundID == id {
			out = append(out, ev.RemoteRefund.State)
		}
	}
	return out
}

func (e *events) remote(id, state string) agent.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.evs {
		if ev.RemoteRefund != nil && ev.RemoteRefund.RefundID == id && ev.RemoteRefund.State == state {
			return ev
		}
	}
	return agent.Event{}
}

func (e *events) waitSale(t *testing.T, ref string, state agent.State, refunded int64) {
	t.Helper()
	e.waitUntil(t, fmt.Sprintf("%s %s with %d refunded", ref, state, refunded), func(evs []agent.Event) bool {
		for _, ev := range evs {
			if ev.RemoteRefund == nil && ev.Reference == ref && ev.State == state && ev.Sale.Aggregate.Refunded == refunded {
				return true
			}
		}
		return false
	})
}

func (e *events) lastSeq() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.evs) == 0 {
		return 0
	}
	return e.evs[len(e.evs)-1].Seq
}

// waitSaleAfter long-polls the box's events after seq until one says ref
// has refunded in all.
func waitSaleAfter(t *testing.T, ctx context.Context, c *posapi.Client, after uint64, ref string, refunded int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		page, err := c.Events(ctx, after, 5*time.Second, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			if ev.Reference == ref && ev.Sale.Aggregate.Refunded == refunded {
				return
			}
		}
		after = page.Next
	}
	t.Fatalf("no event of %s with %d refunded", ref, refunded)
}

// checkRefundRows reads headquarters' record of the refunds.
func checkRefundRows(t *testing.T, ctx context.Context, db *pgx.Conn) {
	t.Helper()
	rows, err := db.Query(ctx, "SELECT refund_id, state, owner_store, code FROM refunds ORDER BY refund_id")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, state, owner, code string
		if err := rows.Scan(&id, &state, &owner, &code); err != nil {
			t.Fatal(err)
		}
		got = append(got, id+" "+state+" "+owner+" "+code)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"ret-1 completed oslo-1 ", "ret-2 refused oslo-1 invalid_request", "ret-3 completed oslo-1 ",
		"ret-4 completed oslo-1 ", "ret-x refused  not_found", "ret-y refused oslo-1 not_found", "ret-z refused oslo-1 wrong_state"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("refunds at headquarters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// refundsInBrowser logs in to the fleet page and reads the cross-store
// refunds from its link.
func refundsInBrowser(t *testing.T, c *fleetdemo.Chain) {
	t.Helper()
	tab := browsertest.Open(t, browsertest.New(t), c.HQ().URL()+"/")
	browsertest.WaitJS(t, tab, "the login form", `document.getElementById('password') !== null`)
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#name"), "it"),
		chromedp.SendKeys(chromedp.CSS("#password"), refundPagePassword), browsertest.Click("button[type=submit]")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the fleet page's link to the refunds", `document.getElementById('refunds-link') !== null`)
	if err := chromedp.Do(tab, browsertest.Click("#refunds-link")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the refunds", `document.querySelectorAll('#refunds tr.refund').length === 7`)
	rows := browsertest.Eval[string](t, tab, `JSON.stringify(Object.fromEntries([...document.querySelectorAll('#refunds tr.refund')].map(
		r => [r.dataset.refundId, r.innerText.replace(/[ \t\r\n\u00a0]+/g, ' ')])))`)
	var seen map[string]string
	if err := json.Unmarshal([]byte(rows), &seen); err != nil {
		t.Fatal(err)
	}
	for id, wants := range map[string][]string{
		"ret-1": {"bergen-1/t1", "oslo-1/t1", "30,00 kr", "completed"},
		"ret-3": {"20,00 kr", "completed"},
		"ret-2": {"refused", "at most 7 000"},
		"ret-x": {"nobody-000001", "no till", "refused"},
		"ret-z": {"declined", "refused", "only captured sales can be refunded"},
	} {
		for _, want := range wants {
			if !strings.Contains(seen[id], want) {
				t.Errorf("the page's row of %s lacks %q: %q", id, want, seen[id])
			}
		}
	}
	browsertest.Screenshot(t, tab, "refunds")
}
