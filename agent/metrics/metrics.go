// Package metrics serves /metrics in the Prometheus text exposition format
// (version 0.0.4), written by hand: the handful of series below do not
// justify a client library in a binary for a Raspberry Pi.
package metrics

import (
	"bufio"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet"
	"github.com/tillbox/tillbox/device"
)

// Buckets are the upper bounds, in seconds, of the latency histograms of
// ePayment calls.
var Buckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Calls counts the round trips of an epayment.Client: give Observe to
// epayment.Config.Observe. The zero value is ready; safe for concurrent use.
type Calls struct {
	mu      sync.Mutex
	counts  map[callKey]uint64
	latency map[string]*histogram // by operation
	tokens  uint64                // access tokens fetched
}

type callKey struct {
	op, status, code string
}

type histogram struct {
	buckets []uint64 // cumulative at write time; per bucket here
	count   uint64
	sum     float64
}

// Observe records one round trip.
func (c *Calls) Observe(ci epayment.CallInfo) {
	status := "none" // no answer: network error or timeout
	if ci.Status != 0 {
		status = strconv.Itoa(ci.Status)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts, c.latency = map[callKey]uint64{}, map[string]*histogram{}
	}
	c.counts[callKey{ci.Op, status, ci.Code}]++
	h := c.latency[ci.Op]
	if h == nil {
		h = &histogram{buckets: make([]uint64, len(Buckets))}
		c.latency[ci.Op] = h
	}
	s := ci.Duration.Seconds()
	if i, _ := slices.BinarySearch(Buckets, s); i < len(Buckets) {
		h.buckets[i]++
	}
	h.count++
	h.sum += s
	if ci.Op == "accessToken" && ci.Status >= 200 && ci.Status < 300 {
		c.tokens++
	}
}

// Sources are what the handler reads at each scrape.
type Sources struct {
	Agent *agent.Agent
	Calls *Calls
	// Scanners returns the configured scanners' states; nil for none.
	Scanners func() []device.Status
	// Displays returns the number of customer displays connected; nil when
	// the customer display is off.
	Displays func() int
	// Fleet returns the status of the link to headquarters; nil when the
	// link is off (fleet.go).
	Fleet func() fleet.Status
	// Version is this build's version, for tillbox_build_info.
	Version string
	Log     *slog.Logger
}

// Handler serves /metrics. It needs no token and shows no secret: counts,
// states, operation names and configured scanner names only.
func Handler(src Sources) http.Handler {
	if src.Calls == nil {
		src.Calls = &Calls{}
	}
	if src.Log == nil {
		src.Log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		bw := bufio.NewWriter(w)
		write(bw, src, time.Now())
		if err := bw.Flush(); err != nil {
			src.Log.Debug("metrics: writing", "err", err)
		}
	})
}

// write puts every family, in a fixed order, each series sorted.
func write(w *bufio.Writer, src Sources, now time.Time) {
	e := expo{w: w}
	e.family("tillbox_build_info", "gauge", "The version of this build.")
	e.sample("tillbox_build_info", labels{"version", src.Version}, 1)

	fin := src.Agent.Finished()
	e.family("tillbox_sales_finished_total", "counter", "Sales that became final since start, by final state.")
	for _, s := range agent.States {
		if s.Outcome() {
			e.sample("tillbox_sales_finished_total", labels{"state", string(s)}, float64(fin[s]))
		}
	}

	e.family("tillbox_up", "gauge", "1 when the store could be read for this scrape.")
	st, err := src.Agent.Status()
	if err != nil {
		src.Log.Error("metrics: status", "err", err)
		e.sample("tillbox_up", nil, 0)
	} else {
		e.sample("tillbox_up", nil, 1)
		e.family("tillbox_outbox_commands", "gauge", "Commands queued for ePayment.")
		e.sample("tillbox_outbox_commands", nil, float64(st.Queued))
		e.family("tillbox_outbox_max_commands", "gauge", "The cap on queued commands.")
		e.sample("tillbox_outbox_max_commands", nil, float64(st.MaxQueued))
		e.family("tillbox_outbox_oldest_age_seconds", "gauge", "Age of the oldest queued command; 0 when none.")
		age := 0.0
		if !st.OldestQueued.IsZero() {
			age = max(0, now.Sub(st.OldestQueued).Seconds())
		}
		e.sample("tillbox_outbox_oldest_age_seconds", nil, age)
		e.family("tillbox_outbox_full", "gauge", "1 while the outbox is over its caps and new sales are refused.")
		e.sample("tillbox_outbox_full", nil, b2f(st.QueueFull))
		e.family("tillbox_sales_unfinished", "gauge", "Sales not final.")
		e.sample("tillbox_sales_unfinished", nil, float64(st.Unfinished))
		e.family("tillbox_epayment_online", "gauge", "1 when ePayment answered the last call.")
		e.sample("tillbox_epayment_online", nil, b2f(st.Online))
		e.family("tillbox_epayment_auth_refused", "gauge", "1 while Vipps MobilePay refuses the box's credentials (401/403): no payment can be sent.")
		e.sample("tillbox_epayment_auth_refused", nil, b2f(st.Auth == agent.AuthRefused))
	}

	c := src.Calls
	c.mu.Lock()
	keys := make([]callKey, 0, len(c.counts))
	for k := range c.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b callKey) int {
		return strings.Compare(a.op+"\x00"+a.status+"\x00"+a.code, b.op+"\x00"+b.status+"\x00"+b.code)
	})
	e.family("tillbox_epayment_requests_total", "counter", "Calls to Vipps MobilePay by endpoint, HTTP status (none: no answer) and Vipps error code.")
	for _, k := range keys {
		e.sample("tillbox_epayment_requests_total", labels{"endpoint", k.op, "status", k.status, "code", k.code}, float64(c.counts[k]))
	}
	ops := make([]string, 0, len(c.latency))
	for op := range c.latency {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	e.family("tillbox_epayment_request_duration_seconds", "histogram", "Latency of calls to Vipps MobilePay by endpoint.")
	for _, op := range ops {
		h := c.latency[op]
		var cum uint64
		for i, le := range Buckets {
			cum += h.buckets[i]
			e.sample("tillbox_epayment_request_duration_seconds_bucket", labels{"endpoint", op, "le", formatFloat(le)}, float64(cum))
		}
		e.sample("tillbox_epayment_request_duration_seconds_bucket", labels{"endpoint", op, "le", "+Inf"}, float64(h.count))
		e.sample("tillbox_epayment_request_duration_seconds_sum", labels{"endpoint", op}, h.sum)
		e.sample("tillbox_epayment_request_duration_seconds_count", labels{"endpoint", op}, float64(h.count))
	}
	tokens := c.tokens
	c.mu.Unlock()
	e.family("tillbox_token_refreshes_total", "counter", "Access tokens fetched from Vipps MobilePay.")
	e.sample("tillbox_token_refreshes_total", nil, float64(tokens))

	var scanners []device.Status
	if src.Scanners != nil {
		scanners = src.Scanners()
	}
	e.family("tillbox_scanner_connected", "gauge", "1 while the scanner is open.")
	for _, s := range scanners {
		e.sample("tillbox_scanner_connected", labels{"scanner", s.Name}, b2f(s.Connected))
	}
	e.family("tillbox_scanner_scans_total", "counter", "Scans read by the scanner since start.")
	for _, s := range scanners {
		e.sample("tillbox_scanner_scans_total", labels{"scanner", s.Name}, float64(s.Scans))
	}
	e.family("tillbox_scanner_reconnects_total", "counter", "Times the scanner was opened again after it was lost.")
	for _, s := range scanners {
		e.sample("tillbox_scanner_reconnects_total", labels{"scanner", s.Name}, float64(s.Reconnects))
	}

	if src.Displays != nil {
		e.family("tillbox_display_clients", "gauge", "Customer displays connected (WebSocket).")
		e.sample("tillbox_display_clients", nil, float64(src.Displays()))
	}
	writeFleet(e, src.Fleet) // fleet.go
}

// labels are name, value pairs.
type labels []string

// expo writes the text format.
type expo struct{ w *bufio.Writer }

func (e expo) family(name, typ, help string) {
	fmt.Fprintf(e.w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

func (e expo) sample(name string, l labels, v float64) {
	e.w.WriteString(name)
	if len(l) > 0 {
		e.w.WriteByte('{')
		for i := 0; i+1 < len(l); i += 2 {
			if i > 0 {
				e.w.WriteByte(',')
			}
			fmt.Fprintf(e.w, "%s=\"%s\"", l[i], escapeLabel(l[i+1]))
		}
		e.w.WriteByte('}')
	}
	e.w.WriteByte(' ')
	e.w.WriteString(formatFloat(v))
	e.w.WriteByte('\n')
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
