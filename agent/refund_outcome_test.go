package agent_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

// TestRefundOutcomeIsItsOwn: a refund Vipps MobilePay refused, then
// another it made: RefundOutcome (what a refund asked at another till
// reports) says the second was made and the first was not, each from its
// own outcome, not from the sum of the refunds before it.
func TestRefundOutcomeIsItsOwn(t *testing.T) {
	r := idleRig(t, sim.Options{}, fast(), store.Options{})
	var refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/refund") && refused.Add(1) == 1 {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"type":"about:blank","title":"Bad Request","status":400,"detail":"Refund refused","extraDetails":[]}`))
			return
		}
		r.sim.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.start(srv.URL)
	ctx := context.Background()
	ref := ref()
	r.sale(agent.SaleRequest{Reference: ref, Amount: 1000, Customer: &agent.Customer{PersonalQR: vippsQR}})
	r.waitState(ref, agent.Completed)

	over := func(id string) (made bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			done, made, _, err := r.agent.RefundOutcome(ref, id)
			if err != nil {
				t.Fatal(err)
			}
			if done {
				return made
			}
			if time.Now().After(deadline) {
				t.Fatalf("refund %s never over", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if _, err := r.agent.RefundSale(ctx, ref, 300, "local-1"); err != nil {
		t.Fatal(err)
	}
	if over("local-1") {
		t.Error("the refused refund reported made")
	}
	if _, err := r.agent.RefundSale(ctx, ref, 200, "rr-2"); err != nil {
		t.Fatal(err)
	}
	if !over("rr-2") {
		s, _ := r.agent.GetSale(ref)
		t.Errorf("the refund made reported refused (refunded %d)", s.Aggregate.Refunded)
	}
	if !over("rr-2") || over("local-1") {
		t.Error("asked again, the outcomes changed")
	}
	if p, _ := r.simPayment(ref); p.Aggregate.RefundedAmount.Value != 200 {
		t.Errorf("refunded at Vipps MobilePay: %d, want 200", p.Aggregate.RefundedAmount.Value)
	}
}
