package sim

import (
	"fmt"
	"net/http"
	"time"
)

// Fault injection. A Fault applies to one operation (or to all, "*"; a fault
// for the operation itself takes precedence). For each request it may add
// latency, then, with the given probabilities (drawn once, in this order):
//   - Drop: close the connection without applying the operation;
//   - Status5xx: answer 500, 502 or 503 without applying it;
//   - TooMany: answer 429 with Retry-After without applying it;
//   - Locked: answer 423 (ePayment: error 6160) without applying it;
//   - Lost: apply the operation, then close the connection so the answer
//     never arrives.
//
// Count, when positive, is how many requests the fault may still affect.
//
// Beware: Go's http.Transport silently retries a request that has
// Idempotency-Key (or is a GET) when a reused keep-alive connection is closed
// under it, so a client may never see a Drop or Lost on such a connection.
type Fault struct {
	Endpoint  string  `json:"endpoint"`
	LatencyMs int64   `json:"latencyMs,omitempty"`
	Drop      float64 `json:"drop,omitempty"`
	Status5xx float64 `json:"status5xx,omitempty"`
	TooMany   float64 `json:"tooMany,omitempty"`
	Locked    float64 `json:"locked,omitempty"`
	Lost      float64 `json:"lost,omitempty"`
	Count     int     `json:"count,omitempty"`
}

// faultAllOps is the Endpoint of a fault for every operation.
const faultAllOps = "*"

// Validate reports what is wrong with f.
func (f Fault) Validate() error {
	if !knownOps()[f.Endpoint] {
		return fmt.Errorf("sim: unknown endpoint %q for a fault", f.Endpoint)
	}
	if f.LatencyMs < 0 || f.Count < 0 {
		return fmt.Errorf("sim: latencyMs and count must not be negative")
	}
	for _, p := range []float64{f.Drop, f.Status5xx, f.TooMany, f.Locked, f.Lost} {
		if p < 0 || p > 1 {
			return fmt.Errorf("sim: fault probabilities must be between 0 and 1")
		}
	}
	return nil
}

type faultState struct {
	Fault
	remaining int // -1 = unlimited
}

// SetFault injects f from now on, replacing any fault for the same endpoint.
// It panics if f is invalid (see Fault.Validate): that is a bug in the test.
func (s *Server) SetFault(f Fault) {
	if err := f.Validate(); err != nil {
		panic(err)
	}
	st := &faultState{Fault: f, remaining: -1}
	if f.Count > 0 {
		st.remaining = f.Count
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[f.Endpoint] = st
}

// ClearFaults stops every fault injection.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

// Faults returns the faults in force, with Count the requests each may still affect.
func (s *Server) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, st := range s.faults {
		f := st.Fault
		f.Count = max(st.remaining, 0)
		out = append(out, f)
	}
	return out
}

type faultKind int

const (
	faultNone faultKind = iota
	faultDrop
	fault5xx
	faultTooMany
	faultLocked
	faultLost
)

type injection struct {
	latency time.Duration
	kind    faultKind
}

// takeFault decides what the faults do to one request of op.
func (s *Server) takeFault(op string) injection {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.faults[op]
	if st == nil {
		st = s.faults[faultAllOps]
	}
	if st == nil {
		return injection{}
	}
	in := injection{latency: time.Duration(st.LatencyMs) * time.Millisecond}
	r := s.random()
	for _, k := range []struct {
		p    float64
		kind faultKind
	}{{st.Drop, faultDrop}, {st.Status5xx, fault5xx}, {st.TooMany, faultTooMany}, {st.Locked, faultLocked}, {st.Lost, faultLost}} {
		if r < k.p {
			in.kind = k.kind
			break
		}
		r -= k.p
	}
	if (in.latency > 0 || in.kind != faultNone) && st.remaining > 0 {
		st.remaining--
		if st.remaining == 0 {
			delete(s.faults, st.Endpoint)
		}
	}
	return in
}

// faultReply is the answer of an injected 5xx, 429 or 423.
func (s *Server) faultReply(c *call, kind faultKind) *reply {
	switch kind {
	case fault5xx:
		status := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[s.randomN(3)]
		return c.problem(status, "", http.StatusText(status), "Injected fault: the server failed. Retry with the same Idempotency-Key.")
	case faultTooMany:
		return c.tooManyRequests(defaultRetryAfterSeconds)
	case faultLocked:
		code := ""
		if c.api() == apiEPayment {
			code = codeOrderProcessing
		}
		return c.problem(http.StatusLocked, code, "Order processing", "Another operation holds the payment. Retry shortly.")
	}
	return nil
}
