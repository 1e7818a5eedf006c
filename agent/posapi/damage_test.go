package posapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// threeEventsSecondBroken makes a database with events 1 to 3, event 2's
// JSON broken as a bad sector or a bug would leave it.
func threeEventsSecondBroken(t testing.TB, path string) {
	t.Helper()
	db := storetest.Open(t, path, store.Options{})
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range 3 {
		ref := "ref-0000000" + string(rune('1'+i))
		sale := `{"reference":"` + ref + `","till":"t1","amount":100,"currency":"NOK","description":"test","state":"waiting_for_customer",` +
			`"outcome":false,"aggregate":{"authorized":0,"captured":0,"refunded":0,"cancelled":0},"createdAt":"` + now + `","updatedAt":"` + now + `"}`
		if err := db.Update(func(tx *store.Tx) error {
			_, err := tx.AppendEvent(&store.Event{Reference: ref, Kind: "sale", State: "waiting_for_customer", At: time.Now(), Data: []byte(sale)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	storetest.DamageEvent(t, path, 2)
}

// TestDamagedEvent: an event whose record is broken makes /readyz 503
// naming it (found by the store's check at start, before a POS reads it);
// GET /api/v1/events answers the events before it, then an error naming
// its seq and what to do, and after=seq reads on past it.
func TestDamagedEvent(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true, before: threeEventsSecondBroken,
		store: store.Options{CheckRecords: true}})
	<-r.db.Checked()

	a := r.send(call{method: "GET", path: PathReadyz, auth: "-"})
	rd := decode[Readiness](t, a)
	if a.status != http.StatusServiceUnavailable || rd.Ready || rd.Checks[0].Name != "store" || rd.Checks[0].OK ||
		!strings.Contains(rd.Checks[0].Detail, "event 2") || !strings.Contains(rd.Checks[0].Detail, "tillbox doctor") {
		t.Fatalf("/readyz with a damaged event: %d %s", a.status, a.body)
	}

	a = r.send(call{method: "GET", path: "/api/v1/events?after=0"})
	page := decode[EventsPage](t, a)
	if a.status != http.StatusOK || len(page.Events) != 1 || page.Next != 1 {
		t.Fatalf("events after 0: %d %s", a.status, a.body)
	}
	a = r.send(call{method: "GET", path: "/api/v1/events?after=1"})
	e := a.error(t)
	if a.status != http.StatusInternalServerError || e.Code != codeRecordDamaged || e.Seq != 2 ||
		!strings.Contains(e.Message, "event 2") || !strings.Contains(e.Message, "after=2") {
		t.Fatalf("events after 1: %d %s", a.status, a.body)
	}
	a = r.send(call{method: "GET", path: "/api/v1/events?after=2"})
	page = decode[EventsPage](t, a)
	if a.status != http.StatusOK || len(page.Events) != 1 || page.Events[0].Seq != 3 {
		t.Fatalf("events after 2: %d %s", a.status, a.body)
	}
}

// TestDamagedEventStream: the WebSocket stream delivers the events before
// a damaged one, then closes 1011 naming it and the after that skips it;
// reconnecting there answers the HTTP error that names it.
func TestDamagedEventStream(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true, before: threeEventsSecondBroken})
	conn, _, _ := r.dial(t, "0", nil)
	if ev, _ := r.readEvent(t, conn); ev.Seq != 1 {
		t.Fatalf("first event %d", ev.Seq)
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, _, err := conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInternalServerErr || !strings.Contains(ce.Text, "event 2") || !strings.Contains(ce.Text, "after=2") {
		t.Fatalf("after event 1: %v, want close 1011 naming event 2", err)
	}
	_, resp, body := r.dial(t, "1", nil)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), `"record_damaged"`) {
		t.Fatalf("reconnect after 1: %d %s", resp.StatusCode, body)
	}
	conn, _, _ = r.dial(t, "2", nil)
	if ev, _ := r.readEvent(t, conn); ev.Seq != 3 {
		t.Fatalf("after 2: event %d", ev.Seq)
	}
}
