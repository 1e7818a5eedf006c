package posapi

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
)

// TestRefundElsewhere: a refund of a reference this box does not hold and
// whose prefix is not its own goes to the remote refunder (the link to
// headquarters; here a stand-in), with the amount and refundId as asked;
// its answers and refusals come as the same answers as a local refund's,
// checked against openapi.yaml. A reference of this box's own prefix that
// it does not hold stays a 404 here.
func TestRefundElsewhere(t *testing.T) {
	t.Parallel()
	remoteSale := agent.Sale{Reference: "oslo-1-t1-000001", Till: "t1", Amount: 10000, Currency: "NOK",
		Description: "Purchase in store", State: agent.Completed, Outcome: true,
		Aggregate: agent.Aggregate{Authorized: 10000, Captured: 10000}, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	var mu sync.Mutex
	var asked []string
	answers := map[string]error{
		"nobody-000001":    &RemoteRefusal{Code: codeNotFound, Message: "no such sale: no till of the chain has a sale nobody-000001"},
		"oslo-1-t1-000002": &RemoteRefusal{Code: codeInvalidRequest, Field: "amount", Reason: "at most 5 000 can be refunded", Message: "amount: at most 5 000 can be refunded"},
		"oslo-1-t1-000003": &RemoteRefusal{Code: codeWrongState, Message: "not possible in the sale's state: sale is declined"},
		"oslo-1-t1-000004": fmt.Errorf("%w: not connected", ErrHQUnreachable),
		"oslo-1-t1-000005": fmt.Errorf("%w: refundId r5", ErrRefundPending),
		"oslo-1-t1-000006": &RemoteRefusal{Code: "refund_failed", Message: "Vipps MobilePay did not make the refund"},
	}
	r := newRig(t, rigOptions{noRun: true, server: func(s *server) {
		s.remote = func(_ context.Context, ref string, amount int64, refundID string) (agent.Sale, error) {
			mu.Lock()
			asked = append(asked, fmt.Sprintf("%s %d %s", ref, amount, refundID))
			mu.Unlock()
			if err, ok := answers[ref]; ok {
				return agent.Sale{}, err
			}
			return remoteSale, nil
		}
	}})

	a := r.send(call{method: "POST", path: "/api/v1/sales/oslo-1-t1-000001/refund", body: []byte(`{"amount":3000,"refundId":"ret-1"}`)})
	if a.status != http.StatusAccepted || a.header.Get("Location") != "/api/v1/sales/oslo-1-t1-000001" {
		t.Fatalf("refund of another till's sale: %d %s", a.status, a.body)
	}
	if s := decode[agent.Sale](t, a); s.Reference != remoteSale.Reference || s.Aggregate.Captured != 10000 {
		t.Errorf("the answer's sale: %+v", s)
	}
	for _, c := range []struct {
		ref    string
		status int
		code   string
		field  string
	}{
		{"nobody-000001", http.StatusNotFound, codeNotFound, ""},
		{"oslo-1-t1-000002", http.StatusBadRequest, codeInvalidRequest, "amount"},
		{"oslo-1-t1-000003", http.StatusConflict, codeWrongState, ""},
		{"oslo-1-t1-000004", http.StatusServiceUnavailable, codeHQUnreachable, ""},
		{"oslo-1-t1-000005", http.StatusServiceUnavailable, codeRefundPending, ""},
		{"oslo-1-t1-000006", http.StatusConflict, codeWrongState, ""},
		{r.agent.Options().ReferencePrefix + "-000099", http.StatusNotFound, codeNotFound, ""}, // its own prefix: not asked elsewhere
	} {
		a := r.send(call{method: "POST", path: "/api/v1/sales/" + c.ref + "/refund", body: []byte(`{"amount":100,"refundId":"r5"}`)})
		if e := a.error(t); a.status != c.status || e.Code != c.code || e.Field != c.field {
			t.Errorf("%s: %d %+v, want %d %s", c.ref, a.status, e, c.status, c.code)
		}
		if c.status == http.StatusServiceUnavailable && a.header.Get("Retry-After") != "5" {
			t.Errorf("%s: Retry-After %q", c.ref, a.header.Get("Retry-After"))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 7 || asked[0] != "oslo-1-t1-000001 3000 ret-1" {
		t.Errorf("asked elsewhere: %q", asked)
	}
}

// TestRemoteRefundEvents: the statuses of a refund asked elsewhere are
// events of the POS's log with a remoteRefund member, each step once
// however often it is recorded, checked against openapi.yaml.
func TestRemoteRefundEvents(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noRun: true})
	ctx := context.Background()
	st, err := r.client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sale := &agent.Sale{Reference: "oslo-1-t1-000001", Till: "t1", Amount: 10000, Currency: "NOK", Description: "Purchase in store",
		State: agent.Completed, Outcome: true, Aggregate: agent.Aggregate{Authorized: 10000, Captured: 10000},
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	rr := agent.RemoteRefund{RefundID: "ret-1", Amount: 3000, State: "queued", Store: "oslo-1", Till: "t1"}
	for range 2 { // a redelivery
		if err := r.agent.RecordRemoteRefund("k1", 1, sale, rr); err != nil {
			t.Fatal(err)
		}
	}
	// Step 2 never came; step 3 says it is done.
	done := *sale
	done.State, done.Aggregate.Refunded = agent.PartiallyRefunded, 3000
	rr.State = "completed"
	if err := r.agent.RecordRemoteRefund("k1", 3, &done, rr); err != nil {
		t.Fatal(err)
	}
	if err := r.agent.RecordRemoteRefund("k1", 2, sale, agent.RemoteRefund{RefundID: "ret-1", State: "accepted"}); err != nil {
		t.Fatal(err)
	}
	// A refusal of a reference nobody has carries no sale: no event.
	if err := r.agent.RecordRemoteRefund("k2", 1, nil, agent.RemoteRefund{RefundID: "ret-2", State: "refused", Error: "not_found"}); err != nil {
		t.Fatal(err)
	}
	page, err := r.client.Events(ctx, st.LastSeq, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 2 {
		t.Fatalf("events: %+v", page.Events)
	}
	first, last := page.Events[0], page.Events[1]
	if first.RemoteRefund == nil || first.RemoteRefund.State != "queued" || first.State != agent.Completed || first.Sale.Reference != sale.Reference ||
		last.RemoteRefund == nil || last.RemoteRefund.State != "completed" || last.Sale.Aggregate.Refunded != 3000 || last.Reference != sale.Reference {
		t.Errorf("events: %+v", page.Events)
	}
}
