package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/spectest"
)

// receiver is a webhook endpoint on loopback that records what it gets and
// answers with status(n, event), n counting the deliveries of that event.
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	url string // the URL to register

	mu     sync.Mutex
	got    []received
	tries  map[string]int // pspReference -> deliveries
	status func(n int, ev epayment.WebhookEvent) int
}

type received struct {
	ev     epayment.WebhookEvent
	status int
	header http.Header
	body   []byte
	host   string
}

func newReceiver(t *testing.T, status func(n int, ev epayment.WebhookEvent) int) *receiver {
	rc := &receiver{t: t, tries: map[string]int{}, status: status}
	if rc.status == nil {
		rc.status = func(int, epayment.WebhookEvent) int { return http.StatusOK }
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	rc.url = rc.srv.URL + "/hooks/tillbox?box=till-4"
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev epayment.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("webhook body %s: %v", body, err)
	}
	rc.mu.Lock()
	rc.tries[ev.PSPReference]++
	st := rc.status(rc.tries[ev.PSPReference], ev)
	rc.got = append(rc.got, received{ev: ev, status: st, header: r.Header.Clone(), body: body, host: r.Host})
	rc.mu.Unlock()
	if st == dropConnection {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			rc.t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
		return
	}
	w.WriteHeader(st)
}

// dropConnection as a receiver's status closes the connection without an answer.
const dropConnection = -1

// delivered returns the events answered 2xx, in order.
func (rc *receiver) delivered() []epayment.WebhookEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []epayment.WebhookEvent
	for _, r := range rc.got {
		if r.status >= 200 && r.status < 300 {
			out = append(out, r.ev)
		}
	}
	return out
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func names(evs []epayment.WebhookEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Reference+":"+string(e.Name))
	}
	return strings.Join(s, ",")
}

func (g *rig) register(url string, events ...string) epayment.RegisterWebhookResponse {
	g.t.Helper()
	var rr epayment.RegisterWebhookResponse
	g.call("POST", "/webhooks/v1/webhooks", map[string]any{"url": url, "events": events}).want(http.StatusCreated).decode(&rr)
	return rr
}

var allPaymentEvents = []string{
	"epayments.payment.created.v1", "epayments.payment.authorized.v1", "epayments.payment.aborted.v1",
	"epayments.payment.expired.v1", "epayments.payment.cancelled.v1", "epayments.payment.captured.v1",
	"epayments.payment.refunded.v1", "epayments.payment.terminated.v1",
}

// webhookEventSchema is the WebhookEvent schema of the ePayment spec.
func webhookEventSchema(t *testing.T) *openapi3.Schema {
	t.Helper()
	dir, err := spectest.SpecsDir()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(dir, "epayment-api.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return doc.Components.Schemas["WebhookEvent"].Value
}

func TestWebhookRegistrations(t *testing.T) {
	g := newRig(t, Options{})
	var list epayment.WebhookList
	g.call("GET", "/webhooks/v1/webhooks", nil).want(http.StatusOK).decode(&list)
	if len(list.Webhooks) != 0 {
		t.Fatalf("fresh simulator lists %+v", list)
	}
	a := g.register("https://example.com/hook", "epayments.payment.captured.v1")
	b := g.register("http://127.0.0.1:9/hook", "epayments.payment.created.v1", "epayments.payment.created.v1")
	if !uuidPattern.MatchString(a.ID) || len(a.Secret) < 32 || a.Secret == b.Secret {
		t.Fatalf("registration answers %+v %+v", a, b)
	}
	g.call("GET", "/webhooks/v1/webhooks", nil).want(http.StatusOK).decode(&list)
	if len(list.Webhooks) != 2 || list.Webhooks[1].ID != b.ID || !slices.Equal(list.Webhooks[1].Events, []string{"epayments.payment.created.v1"}) {
		t.Fatalf("list %+v", list)
	}
	for _, tc := range []struct {
		name string
		body any
		raw  bool
	}{
		{"http to a remote host", map[string]any{"url": "http://example.com/hook", "events": []string{"epayments.payment.created.v1"}}, false},
		{"ftp", map[string]any{"url": "ftp://example.com/hook", "events": []string{"epayments.payment.created.v1"}}, false},
		{"relative url", map[string]any{"url": "/hook", "events": []string{"epayments.payment.created.v1"}}, true},
		{"no events", map[string]any{"url": "https://example.com/hook", "events": []string{}}, false},
		{"bad event", map[string]any{"url": "https://example.com/hook", "events": []string{"payment created"}}, false},
		{"no url", map[string]any{"events": []string{"epayments.payment.created.v1"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := g.sub(t)
			if tc.raw {
				g.rawCall("POST", "/webhooks/v1/webhooks", tc.body).want(http.StatusBadRequest).problem()
			} else {
				g.call("POST", "/webhooks/v1/webhooks", tc.body).want(http.StatusBadRequest).problem()
			}
		})
	}
	// At most 25 per event type.
	for range 24 {
		g.register("https://example.com/many", "epayments.payment.created.v1")
	}
	g.call("POST", "/webhooks/v1/webhooks", map[string]any{"url": "https://example.com/one-more", "events": []string{"epayments.payment.created.v1"}}).
		want(http.StatusBadRequest)
	g.register("https://example.com/other-event", "epayments.payment.refunded.v1")

	g.call("DELETE", "/webhooks/v1/webhooks/"+a.ID, nil).want(http.StatusNoContent)
	g.call("DELETE", "/webhooks/v1/webhooks/"+a.ID, nil).want(http.StatusNotFound).problem()
	g.rawCall("DELETE", "/webhooks/v1/webhooks/not-a-uuid", nil).want(http.StatusBadRequest).problem()
	g.call("GET", "/webhooks/v1/webhooks", nil).want(http.StatusOK).decode(&list)
	if len(list.Webhooks) != 26 || slices.ContainsFunc(list.Webhooks, func(w epayment.Webhook) bool { return w.ID == a.ID }) {
		t.Fatalf("after delete: %d registrations", len(list.Webhooks))
	}
}

func TestWebhookDeliverySigned(t *testing.T) {
	g := newRig(t, Options{})
	rc := newReceiver(t, nil)
	reg := g.register(rc.url, allPaymentEvents...)
	ref := "hook-ref-0001"
	key := newKey()
	g.call("POST", "/epayment/v1/payments", createBody(ref, 5000, phone("4712345678")), "Idempotency-Key", key).want(http.StatusCreated)
	g.approve(ref)
	g.modification(g.capture(ref, newKey(), 5000))
	g.modification(g.refund(ref, newKey(), 1000))
	eventually(t, "4 deliveries", func() bool { return len(rc.delivered()) == 4 })

	schema := webhookEventSchema(t)
	evs := g.events(ref)
	for i, r := range rc.all() {
		if err := epayment.VerifyWebhook(reg.Secret, rc.url, r.header, r.body); err != nil {
			t.Fatalf("delivery %d does not verify: %v", i, err)
		}
		if err := epayment.VerifyWebhook("wrong-secret", rc.url, r.header, r.body); err == nil {
			t.Fatal("a wrong secret verifies")
		}
		var v any
		_ = json.Unmarshal(r.body, &v)
		if err := schema.VisitJSON(v, openapi3.VisitAsResponse()); err != nil {
			t.Fatalf("delivery %d does not match the spec's WebhookEvent: %v", i, err)
		}
		if date, err := http.ParseTime(r.header.Get("X-Ms-Date")); err != nil || !date.Equal(testStart) {
			t.Fatalf("x-ms-date %q, want the sim clock", r.header.Get("X-Ms-Date"))
		}
		if !strings.HasPrefix(rc.url, "http://"+r.host) {
			t.Fatalf("Host %q is not the registered URL's", r.host)
		}
		want := evs[i]
		if r.ev.MSN != testMSN || r.ev.Reference != ref || r.ev.PSPReference != want.PSPReference || r.ev.Name != want.Name ||
			r.ev.Amount != want.Amount || !r.ev.Timestamp.Equal(want.Timestamp) || !r.ev.Success {
			t.Fatalf("delivery %d is %+v, the event log says %+v", i, r.ev, want)
		}
	}
	got := rc.all()
	if got[0].ev.IdempotencyKey == nil || *got[0].ev.IdempotencyKey != key || got[1].ev.IdempotencyKey != nil {
		t.Fatalf("idempotencyKey: created %v, authorized %v", got[0].ev.IdempotencyKey, got[1].ev.IdempotencyKey)
	}
	if strings.Contains(string(got[1].body), "idempotencyKey") {
		t.Fatalf("authorized event carries an idempotencyKey: %s", got[1].body)
	}
}

func TestWebhookRetryKeepsOrderPerPayment(t *testing.T) {
	g := newRig(t, Options{})
	// The receiver refuses payment A's CREATED twice, then drops the
	// connection once, then takes it.
	rc := newReceiver(t, func(n int, ev epayment.WebhookEvent) int {
		if ev.Reference != "retry-ref-aaa" || ev.Name != epayment.EventCreated {
			return http.StatusOK
		}
		switch n {
		case 1, 2:
			return http.StatusServiceUnavailable
		case 3:
			return dropConnection
		}
		return http.StatusNoContent
	})
	reg := g.register(rc.url, "epayments.payment.created.v1", "epayments.payment.authorized.v1")

	g.create("retry-ref-aaa", 1000)
	eventually(t, "first attempt", func() bool { return len(g.sim.Deliveries()) == 1 })
	g.approve("retry-ref-aaa") // AUTHORIZED waits behind the failing CREATED
	g.create("retry-ref-bbb", 1000)
	g.approve("retry-ref-bbb") // another payment is not held back
	eventually(t, "payment B delivered", func() bool { return names(rc.delivered()) == "retry-ref-bbb:CREATED,retry-ref-bbb:AUTHORIZED" })

	g.clock.Advance(2 * time.Second) // retry 1: 503
	eventually(t, "second attempt", func() bool { return countAttempts(g.sim, "retry-ref-aaa") == 2 })
	g.clock.Advance(time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := countAttempts(g.sim, "retry-ref-aaa"); n != 2 {
		t.Fatalf("%d attempts 1 s into a 2 s back-off", n)
	}
	g.clock.Advance(time.Second) // retry 2: connection dropped
	eventually(t, "third attempt", func() bool { return countAttempts(g.sim, "retry-ref-aaa") == 3 })
	g.clock.Advance(2 * time.Second) // retry 3: 200, then AUTHORIZED follows at once
	eventually(t, "payment A delivered", func() bool { return len(rc.delivered()) == 4 })
	// The receiver counts a delivery when it arrives; the simulator logs the
	// attempt once it has the answer.
	eventually(t, "every attempt logged", func() bool { return countAttempts(g.sim, "retry-ref-aaa") == 5 })
	if got := names(rc.delivered()); got != "retry-ref-bbb:CREATED,retry-ref-bbb:AUTHORIZED,retry-ref-aaa:CREATED,retry-ref-aaa:AUTHORIZED" {
		t.Fatalf("delivered in order %s", got)
	}

	var log []DeliveryAttempt
	g.call("GET", "/sim/webhooks/deliveries", nil).want(http.StatusOK).decode(&log)
	var a []string
	for _, d := range log {
		if d.Reference == "retry-ref-aaa" {
			if d.WebhookID != reg.ID {
				t.Fatalf("attempt for webhook %s", d.WebhookID)
			}
			a = append(a, fmt.Sprintf("%s#%d:%d", d.Event, d.Attempt, d.Status))
		}
	}
	if got := strings.Join(a, " "); got != "CREATED#1:503 CREATED#2:503 CREATED#3:0 CREATED#4:204 AUTHORIZED#1:200" {
		t.Fatalf("attempts %s", got)
	}
	if log[len(log)-1].At.Sub(testStart) != 6*time.Second {
		t.Fatalf("last attempt at %v by the sim clock", log[len(log)-1].At)
	}
}

func countAttempts(s *Server, ref string) int {
	n := 0
	for _, d := range s.Deliveries() {
		if d.Reference == ref {
			n++
		}
	}
	return n
}

func TestWebhookBackoffScheduleAndGiveUp(t *testing.T) {
	want := []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second, time.Minute, 2 * time.Minute}
	for i, w := range want {
		if got := deliveryBackoff(i + 1); got != w {
			t.Fatalf("back-off after %d failures = %v, want %v", i+1, got, w)
		}
	}
	if deliveryBackoff(7) != time.Hour || deliveryBackoff(28) != time.Hour || deliveryBackoff(29) != 24*time.Hour {
		t.Fatal("hourly then daily back-off")
	}
	var total time.Duration
	for n := 1; n < maxDeliveryAttempts; n++ {
		total += deliveryBackoff(n)
	}
	if total < 6*24*time.Hour || total > 8*24*time.Hour {
		t.Fatalf("retries span %v, want about 7 days", total)
	}

	g := newRig(t, Options{TokenLifetime: 30 * 24 * time.Hour})
	rc := newReceiver(t, func(int, epayment.WebhookEvent) int { return http.StatusInternalServerError })
	g.register(rc.url, "epayments.payment.created.v1", "epayments.payment.expired.v1")
	g.create("giveup-ref-01", 1000)
	for n := 1; n <= maxDeliveryAttempts; n++ {
		eventually(t, fmt.Sprintf("attempt %d", n), func() bool { return countAttempts(g.sim, "giveup-ref-01") >= n })
		if n < maxDeliveryAttempts {
			g.clock.Advance(deliveryBackoff(n))
		}
	}
	// Then the CREATED event is given up and the queued EXPIRED goes next.
	eventually(t, "expired attempted", func() bool {
		d := g.sim.Deliveries()
		return len(d) > maxDeliveryAttempts && d[len(d)-1].Event == epayment.EventExpired
	})
	d := g.sim.Deliveries()
	if !d[maxDeliveryAttempts-1].GaveUp || d[maxDeliveryAttempts-2].GaveUp || d[maxDeliveryAttempts-1].Attempt != maxDeliveryAttempts {
		t.Fatalf("last CREATED attempt %+v", d[maxDeliveryAttempts-1])
	}
}

func TestWebhookScopeAndSafety(t *testing.T) {
	g := newRig(t, Options{})
	rc := newReceiver(t, nil)
	other := newReceiver(t, nil)
	g.register(rc.url, "epayments.payment.created.v1")
	// Registered for another MSN: never gets this MSN's events.
	g.call("POST", "/webhooks/v1/webhooks", map[string]any{"url": other.url, "events": []string{"epayments.payment.created.v1"}},
		"Merchant-Serial-Number", "777777").want(http.StatusCreated)
	// A remote https URL may be registered, but nothing is sent to it.
	remote := g.register("https://webhook.example/hook", "epayments.payment.created.v1")
	// A deleted registration gets nothing more.
	gone := newReceiver(t, nil)
	del := g.register(gone.url, "epayments.payment.created.v1")
	g.call("DELETE", "/webhooks/v1/webhooks/"+del.ID, nil).want(http.StatusNoContent)

	g.create("scope-ref-0001", 1000)
	eventually(t, "delivery", func() bool { return len(rc.delivered()) == 1 })
	eventually(t, "remote refused", func() bool {
		for _, d := range g.sim.Deliveries() {
			if d.WebhookID == remote.ID {
				return d.Status == 0 && d.GaveUp && strings.Contains(d.Error, "loopback")
			}
		}
		return false
	})
	time.Sleep(20 * time.Millisecond)
	if len(other.all()) != 0 || len(gone.all()) != 0 {
		t.Fatalf("other MSN got %d, deleted got %d deliveries", len(other.all()), len(gone.all()))
	}
}

// TestWebhookEventTypesAndPorts: only the known event types register, a typo
// is a 400 naming it; https URLs use 443, 80 or 8080, loopback URLs any port.
func TestWebhookEventTypesAndPorts(t *testing.T) {
	g := newRig(t, Options{})
	g.register("https://example.com/all", allPaymentEvents...)
	g.register("https://example.com/qr", checkInEventType)
	for _, e := range []string{"epayments.payment.capturd.v1", "epayments.payment.captured.v2", "user.checked-in.v2", "recurring.agreement-activated.v1"} {
		p := g.call("POST", "/webhooks/v1/webhooks", map[string]any{"url": "https://example.com/hook", "events": []string{"epayments.payment.created.v1", e}}).
			wantError(http.StatusBadRequest, "")
		if !strings.Contains(fmt.Sprint(p.ExtraDetails), e) {
			t.Errorf("event %s refused without naming it: %+v", e, p.ExtraDetails)
		}
	}
	for url, ok := range map[string]bool{
		"https://example.com:443/hook":  true,
		"https://example.com:80/hook":   true,
		"https://example.com:8080/hook": true,
		"https://example.com:8443/hook": false,
		"https://example.com:9000/hook": false,
		"http://example.com:8080/hook":  false,
		"http://127.0.0.1:54321/hook":   true,
		"https://127.0.0.1:54321/hook":  true,
		"http://[::1]:1234/hook":        true,
		"http://localhost:4321/hook":    true,
	} {
		r := g.call("POST", "/webhooks/v1/webhooks", map[string]any{"url": url, "events": []string{"epayments.payment.created.v1"}})
		if got := r.Status == http.StatusCreated; got != ok {
			t.Errorf("%s: status %d, want accepted %v: %s", url, r.Status, ok, r.Body)
		}
	}
}
