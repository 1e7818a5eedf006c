package sim

import (
	"net/http"
	"testing"
	"time"
)

// freshConnections makes every request of g use a new connection: Go's
// Transport would otherwise silently retry a request with an Idempotency-Key
// whose reused connection is closed under it, hiding drops and lost answers.
func (g *rig) freshConnections() {
	tr := g.specs.Transport(g.t, &http.Transport{DisableKeepAlives: true})
	g.t.Cleanup(func() { recordCoverage(tr.Coverage()) })
	g.hc = &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestFaultLatency(t *testing.T) {
	g := newRig(t, Options{})
	g.create("latency-ref-01", 1000)
	// One second: the first answer takes at least that; the second,
	// without the fault, far less (a loopback GET, even on a loaded box).
	g.sim.SetFault(Fault{Endpoint: opGetPayment, LatencyMs: 1000, Count: 1})
	start := time.Now()
	g.get("latency-ref-01")
	if d := time.Since(start); d < time.Second {
		t.Fatalf("answer after %v, want >= 1s", d)
	}
	if f := g.sim.Faults(); len(f) != 0 {
		t.Fatalf("a count-1 fault is still in force: %+v", f)
	}
	start = time.Now()
	g.get("latency-ref-01")
	if d := time.Since(start); d >= time.Second {
		t.Fatalf("second answer after %v: the latency applied again", d)
	}
}

func TestFaultDrop(t *testing.T) {
	g := newRig(t, Options{})
	g.freshConnections()
	ref := "drop-ref-0001"
	g.create(ref, 1000)
	g.approve(ref)
	g.call("POST", "/sim/faults", map[string]any{"endpoint": "capturePayment", "drop": 1}).want(http.StatusNoContent)
	key := newKey()
	if r := g.capture(ref, key, 1000); r.Err == nil {
		t.Fatalf("a dropped connection answered %d", r.Status)
	}
	if info := g.info(ref); info.Ops.Capture != 0 || info.Aggregate.CapturedAmount.Value != 0 {
		t.Fatalf("a dropped capture was applied: %+v", info)
	}
	g.call("DELETE", "/sim/faults", nil).want(http.StatusNoContent)
	g.modification(g.capture(ref, key, 1000)) // the retry with the same key applies it once
	if ops := g.info(ref).Ops; ops.Capture != 1 {
		t.Fatalf("ops %+v", ops)
	}
}

func TestFaultLost(t *testing.T) {
	g := newRig(t, Options{})
	g.freshConnections()
	g.sim.SetFault(Fault{Endpoint: opCreatePayment, Lost: 1, Count: 1})
	ref := "lost-ref-0001"
	key := newKey()
	body := createBody(ref, 1000, phone("4712345678"))
	if r := g.call("POST", "/epayment/v1/payments", body, "Idempotency-Key", key); r.Err == nil {
		t.Fatalf("a lost answer arrived: %d", r.Status)
	}
	if info := g.info(ref); info.Ops.Create != 1 {
		t.Fatalf("the lost create was not applied: %+v", info.Ops)
	}
	g.call("POST", "/epayment/v1/payments", body, "Idempotency-Key", key).want(http.StatusCreated)
	g.approve(ref)

	g.sim.SetFault(Fault{Endpoint: opCapturePayment, Lost: 1})
	ck := newKey()
	for range 2 {
		if r := g.capture(ref, ck, 400); r.Err == nil {
			t.Fatalf("a lost answer arrived: %d", r.Status)
		}
	}
	info := g.info(ref)
	if info.Ops.Capture != 1 || info.Aggregate.CapturedAmount.Value != 400 {
		t.Fatalf("lost captures: ops %+v captured %d, want applied once", info.Ops, info.Aggregate.CapturedAmount.Value)
	}
	g.sim.ClearFaults()
	m := g.modification(g.capture(ref, ck, 400))
	wantAggregate(t, m.Aggregate, 1000, 400, 0, 0)
	if ops := g.info(ref).Ops; ops != (OpCounts{Create: 1, Capture: 1}) {
		t.Fatalf("ops %+v", ops)
	}
}

func TestFaultStatus5xx(t *testing.T) {
	g := newRig(t, Options{})
	g.sim.SetFault(Fault{Endpoint: opCreatePayment, Status5xx: 1})
	seen := map[int]bool{}
	for i := 0; i < 60 && len(seen) < 3; i++ {
		r := g.call("POST", "/epayment/v1/payments", createBody("fault5xx-ref-1", 1000, phone("4712345678")), "Idempotency-Key", newKey())
		r.problem()
		if r.Status != 500 && r.Status != 502 && r.Status != 503 {
			t.Fatalf("status %d", r.Status)
		}
		seen[r.Status] = true
	}
	if len(seen) != 3 {
		t.Fatalf("statuses seen %v, want 500, 502 and 503", seen)
	}
	if n := len(g.sim.Payments()); n != 0 {
		t.Fatalf("%d payments created through 5xx faults", n)
	}
}

func TestFaultTooManyAndLocked(t *testing.T) {
	g := newRig(t, Options{})
	ref := "fault-429-ref1"
	g.create(ref, 1000)
	g.approve(ref)
	g.sim.SetFault(Fault{Endpoint: opGetPayment, TooMany: 1, Count: 2})
	for range 2 {
		r := g.call("GET", "/epayment/v1/payments/"+ref, nil)
		r.wantError(http.StatusTooManyRequests, "")
		if r.Header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
	}
	g.get(ref) // count exhausted

	g.call("POST", "/sim/faults", map[string]any{"endpoint": "capturePayment", "locked": 1, "count": 1}).want(http.StatusNoContent)
	key := newKey()
	g.capture(ref, key, 500).wantError(http.StatusLocked, codeOrderProcessing)
	if ops := g.info(ref).Ops; ops.Capture != 0 {
		t.Fatal("a locked capture was applied")
	}
	g.modification(g.capture(ref, key, 500)) // the key was not used up by the fault
}

func TestFaultAllEndpointsAndProbability(t *testing.T) {
	g := newRig(t, Options{Seed: 42})
	g.create("fault-all-ref1", 1000)
	g.sim.SetFault(Fault{Endpoint: faultAllOps, Status5xx: 0.5})
	g.sim.SetFault(Fault{Endpoint: opGetEventLog}) // a fault for the op itself wins: none
	ok, failed := 0, 0
	for range 40 {
		r := g.call("GET", "/epayment/v1/payments/fault-all-ref1", nil)
		if r.Status == http.StatusOK {
			ok++
		} else {
			r.problem()
			failed++
		}
		g.events("fault-all-ref1")
	}
	if ok < 5 || failed < 5 {
		t.Fatalf("p=0.5 gave %d ok and %d failed of 40", ok, failed)
	}
	// "*" covers the token call too.
	g.sim.SetFault(Fault{Endpoint: faultAllOps, Status5xx: 1})
	r := g.call("POST", "/accesstoken/get", nil,
		"client_id", testClientID, "client_secret", testSecret, "Ocp-Apim-Subscription-Key", testSubKey, "Authorization", "-")
	if r.Status < 500 {
		t.Fatalf("token call answered %d under a * fault", r.Status)
	}
}

func TestFaultControlValidation(t *testing.T) {
	g := newRig(t, Options{})
	for _, body := range []map[string]any{
		{"endpoint": "noSuchOp", "drop": 1},
		{"endpoint": "getPayment", "drop": 1.5},
		{"endpoint": "getPayment", "latencyMs": -1},
		{"endpoint": "getPayment", "unknownField": 1},
	} {
		g.call("POST", "/sim/faults", body).want(http.StatusBadRequest)
	}
	g.call("POST", "/sim/faults", map[string]any{"endpoint": "refundPayment", "status5xx": 0.25, "count": 3}).want(http.StatusNoContent)
	var faults []Fault
	g.call("GET", "/sim/faults", nil).want(http.StatusOK).decode(&faults)
	if len(faults) != 1 || faults[0] != (Fault{Endpoint: "refundPayment", Status5xx: 0.25, Count: 3}) {
		t.Fatalf("faults %+v", faults)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("SetFault accepted an invalid fault")
		}
	}()
	g.sim.SetFault(Fault{Endpoint: "nope"})
}
