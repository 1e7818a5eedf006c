package sim

import (
	"net/http"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

// TestRetentionEvictsFinalPayments: final payments, with their idempotency
// records, are forgotten Retention after their last event; payments still
// active, or active recently, stay.
func TestRetentionEvictsFinalPayments(t *testing.T) {
	g := newRig(t, Options{Retention: time.Hour})
	g.create("ret-authorized", 5000) // authorised, captured, then idle
	g.approve("ret-authorized")
	capKey := newKey()
	g.modification(g.capture("ret-authorized", capKey, 1000))
	g.create("ret-expired-01", 1000) // ignored by the app: EXPIRED after 10 min
	refusedKey := newKey()           // a refused create names no payment
	g.call("POST", "/epayment/v1/payments", createBody("ret-refused-01", 1, phone("4712345678")), "Idempotency-Key", refusedKey).
		wantError(http.StatusBadRequest, codeAmountTooSmall)
	g.create("ret-busy-0001", 5000) // authorised, then captured shortly before the sweep
	g.approve("ret-busy-0001")

	g.clock.Advance(50 * time.Minute)
	g.modification(g.capture("ret-busy-0001", newKey(), 1000))
	g.clock.Advance(20 * time.Minute) // 70 min: the others' last events are older than 1 h
	g.token = g.fetchToken()
	g.create("ret-new-0001", 1000) // a create runs the sweep

	for ref, want := range map[string]bool{"ret-authorized": false, "ret-expired-01": false, "ret-busy-0001": true, "ret-new-0001": true} {
		if _, ok := g.sim.Payment(testMSN, ref); ok != want {
			t.Errorf("payment %s kept = %v, want %v", ref, ok, want)
		}
	}
	g.sim.mu.Lock()
	_, capKept := g.sim.idem[idemKey{testMSN, capKey}]
	_, refusedKept := g.sim.idem[idemKey{testMSN, refusedKey}]
	refs := len(g.sim.refs)
	g.sim.mu.Unlock()
	if capKept || refusedKept {
		t.Errorf("idempotency records kept: capture %v, refused create %v", capKept, refusedKept)
	}
	if refs != 2 {
		t.Errorf("reference index holds %d references, want 2", refs)
	}
	// A forgotten payment is unknown: 404, and its old key replays nothing.
	g.call("GET", "/epayment/v1/payments/ret-authorized", nil).wantError(http.StatusNotFound, codeReferenceNotFound)
	g.capture("ret-authorized", capKey, 1000).wantError(http.StatusNotFound, codeReferenceNotFound)
	if n := len(g.sim.Payments()); n != 2 {
		t.Errorf("%d payments listed, want 2", n)
	}

	// Only a create sweeps, at most once per eighth of the retention.
	g.clock.Advance(time.Hour) // 130 min: ret-busy idle for 80 min, ret-new expired 50 min ago
	g.token = g.fetchToken()
	if _, ok := g.sim.Payment(testMSN, "ret-busy-0001"); !ok {
		t.Fatal("swept without a create")
	}
	g.create("ret-newer-0001", 1000)
	if _, ok := g.sim.Payment(testMSN, "ret-busy-0001"); ok {
		t.Error("ret-busy kept 80 min after its last event")
	}
	if p, ok := g.sim.Payment(testMSN, "ret-new-0001"); !ok || p.State != epayment.StateExpired {
		t.Errorf("ret-new = %q, %v; want it kept, EXPIRED 50 min ago", p.State, ok)
	}
	g.clock.Advance(5 * time.Minute) // ret-new now 55 min idle; no sweep before 7.5 min anyway
	g.create("ret-newest-001", 1000)
	g.sim.mu.Lock()
	swept := g.sim.swept
	g.sim.mu.Unlock()
	if !swept.Equal(testStart.Add(130 * time.Minute)) {
		t.Errorf("last sweep at %v, want at 130 min only", swept.Sub(testStart))
	}
}

// TestRetentionNegativeKeepsAll: a negative Retention turns eviction off.
func TestRetentionNegativeKeepsAll(t *testing.T) {
	g := newRig(t, Options{Retention: -1})
	g.create("keep-ref-0001", 1000)
	g.clock.Advance(1000 * time.Hour)
	g.token = g.fetchToken()
	g.create("keep-ref-0002", 1000)
	if _, ok := g.sim.Payment(testMSN, "keep-ref-0001"); !ok {
		t.Fatal("payment evicted with Retention < 0")
	}
}

func TestPaymentsFilters(t *testing.T) {
	g := newRig(t, Options{})
	for _, ref := range []string{"flt-ref-00001", "flt-ref-00002", "flt-ref-00003", "flt-ref-00004"} {
		g.create(ref, 1000)
		g.clock.Advance(time.Second)
	}
	g.approve("flt-ref-00002")
	g.approve("flt-ref-00004")
	list := func(query string) []string {
		t.Helper()
		var ps []PaymentInfo
		g.call("GET", "/sim/payments"+query, nil).want(http.StatusOK).decode(&ps)
		var refs []string
		for _, p := range ps {
			refs = append(refs, p.Reference)
		}
		return refs
	}
	for query, want := range map[string]string{
		"":                                       "flt-ref-00001 flt-ref-00002 flt-ref-00003 flt-ref-00004",
		"?state=AUTHORIZED":                      "flt-ref-00002 flt-ref-00004",
		"?state=created":                         "flt-ref-00001 flt-ref-00003",
		"?reference=flt-ref-00003":               "flt-ref-00003",
		"?reference=flt-ref-00003&state=ABORTED": "",
		"?limit=3":                               "flt-ref-00001 flt-ref-00002 flt-ref-00003",
		"?state=AUTHORIZED&limit=1":              "flt-ref-00002",
		"?msn=999999":                            "",
		"?reference=nope":                        "",
	} {
		if got := joined(list(query)); got != want {
			t.Errorf("GET /sim/payments%s = %q, want %q", query, got, want)
		}
	}
	g.call("GET", "/sim/payments?state=DONE", nil).want(http.StatusBadRequest)
	g.call("GET", "/sim/payments?limit=-1", nil).want(http.StatusBadRequest)
	g.call("GET", "/sim/payments?limit=many", nil).want(http.StatusBadRequest)
}

func joined(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}
