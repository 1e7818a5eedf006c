package crashtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// The faults the simulator injects while the agent is being killed: on
// each of these operations, a request is dropped (connection closed, not
// applied), answered 5xx or 429 (not applied), or applied and its answer
// lost, each with this probability.
const faultShare = 0.05

var faultyOps = []string{"createPayment", "capturePayment", "getPayment", "cancelPayment"}

// faultsOn injects the faults of the kill phase.
func faultsOn(s *sim.Server) {
	for _, op := range faultyOps {
		s.SetFault(sim.Fault{Endpoint: op, Drop: faultShare, Status5xx: faultShare, TooMany: faultShare, Lost: faultShare})
	}
	s.SetFault(sim.Fault{Endpoint: "token", Drop: faultShare, Status5xx: faultShare})
}

// slowCreates makes every create take d, faults as usual besides.
func slowCreates(s *sim.Server, d time.Duration) {
	s.SetFault(sim.Fault{Endpoint: "createPayment", LatencyMs: d.Milliseconds(),
		Drop: faultShare, Status5xx: faultShare, TooMany: faultShare, Lost: faultShare})
}

// unreachable makes Vipps MobilePay unreachable: every call is dropped.
func unreachable(s *sim.Server) {
	for _, op := range append(faultyOps, "token") {
		s.SetFault(sim.Fault{Endpoint: op, Drop: 1})
	}
}

// simCounter is the simulator's logger: it counts, from its debug records,
// the faults injected and the 5xx and 429 answers, by operation.
type simCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func newSimCounter() *simCounter { return &simCounter{n: map[string]int{}} }

func (c *simCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *simCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *simCounter) WithGroup(string) slog.Handler            { return c }

func (c *simCounter) Handle(_ context.Context, r slog.Record) error {
	var op string
	var status int64
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "op":
			op = a.Value.String()
		case "status":
			status = a.Value.Int64()
		}
		return true
	})
	var key string
	switch {
	case r.Message == "fault: dropping connection":
		key = op + " dropped"
	case r.Message == "fault: losing the answer":
		key = op + " answer lost"
	case r.Message == "request" && (status >= 500 || status == http.StatusTooManyRequests):
		key = fmt.Sprintf("%s %d", op, status)
	default:
		return nil
	}
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
	return nil
}

// figures lists the counts, e.g. "createPayment 429 12, createPayment dropped 9".
func (c *simCounter) figures() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.n))
	total := 0
	for k, n := range c.n {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, c.n[k])
	}
	return fmt.Sprintf("%d in all: %s", total, strings.Join(parts, ", "))
}

// webhookForwarder is the webhook URL registered with the simulator: a
// fixed loopback address that hands each delivery, as received, to the
// agent process running at the time (503 while there is none, and the
// simulator delivers again later). The signature stays valid: it covers
// the registered URL, not the address the agent listens on.
type webhookForwarder struct {
	ep *endpoint
	hc *http.Client

	mu sync.Mutex
	n  map[string]int // outcomes, for the figures
}

func (f *webhookForwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	url, _ := f.ep.get()
	if url == "" {
		f.count("agent down")
		http.Error(w, "no agent running", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, url+"/webhooks/vipps", bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := f.hc.Do(req)
	if err != nil {
		f.count("agent killed meanwhile")
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	f.count(fmt.Sprintf("agent answered %d", resp.StatusCode))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (f *webhookForwarder) count(what string) {
	f.mu.Lock()
	f.n[what]++
	f.mu.Unlock()
}

// counts returns a copy of the outcomes.
func (f *webhookForwarder) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.n))
	for k, v := range f.n {
		out[k] = v
	}
	return out
}
