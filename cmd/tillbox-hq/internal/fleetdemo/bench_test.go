package fleetdemo_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/fleetdemo/fleetdemotest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
)

// BenchmarkApprovalToPOS measures, for boxes that receive no webhook
// directly (no webhook_url: behind NAT), the time from the simulated
// customer's approval (the AUTHORIZED event's timestamp at the simulator)
// to the POS reading the sale's change (its long-poll of /api/v1/events
// returning the first event after approval: authorized, capturing or
// completed), with the webhooks relayed through headquarters and with
// polling alone (the box's defaults: first poll 5 s after create, then
// every 2 s). Real `tillbox run` and `tillbox-hq run` processes, a TLS
// nats-server and PostgreSQL, on loopback; the customers approve after a
// random 0.5–6.5 s, so approvals fall anywhere in the polling schedule.
//
//	go test -run '^$' -bench ApprovalToPOS -benchtime 1x ./cmd/tillbox-hq/internal/fleetdemo/
//
// TILLBOX_BENCH_SALES (60) sets the number of sales of each kind, over
// five boxes.
func BenchmarkApprovalToPOS(b *testing.B) {
	n := 60
	if v, err := strconv.Atoi(os.Getenv("TILLBOX_BENCH_SALES")); err == nil && v > 0 {
		n = v
	}
	for _, relay := range []bool{true, false} {
		name := "relay"
		if !relay {
			name = "polling"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				lat := approvalToPOS(b, relay, n)
				p50, p95, max := quantile(lat, 0.50), quantile(lat, 0.95), lat[len(lat)-1]
				b.ReportMetric(ms(p50), "p50-ms")
				b.ReportMetric(ms(p95), "p95-ms")
				b.ReportMetric(ms(max), "max-ms")
				b.Logf("%s: %d sales, approval → POS event p50 %v, p95 %v, max %v", name, len(lat),
					p50.Round(100*time.Microsecond), p95.Round(100*time.Microsecond), max.Round(100*time.Microsecond))
			}
		})
	}
}

// approvalToPOS runs n sales on a chain of five boxes and returns their
// latencies, sorted.
func approvalToPOS(b *testing.B, relay bool, n int) []time.Duration {
	tillbox, hq := fleetdemotest.Binaries(b)
	stores := []fleetdemo.Store{{ID: "oslo-1", MSN: "100001", Tills: []string{"t1", "t2", "t3"}},
		{ID: "bergen-1", MSN: "100002", Tills: []string{"t1", "t2"}}}
	ns := natstest.Start(b, natstest.Options{TLS: true, Tills: fleetdemotest.Tills("kaffe", stores)})
	pg := pgtest.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := fleetdemo.Start(ctx, fleetdemo.Options{
		Chain: "kaffe", Stores: stores, Dir: b.TempDir(), TillboxBin: tillbox, HQBin: hq,
		NATS: fleetdemotest.NATS([]string{ns.URL()}, ns, 1), PostgresDSN: pg.DSN(),
		NoRelay: !relay, NoScanner: true, LogLevel: "warn",
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	perBox := (n + len(c.Boxes()) - 1) / len(c.Boxes())
	s := c.RunSales(ctx, fleetdemo.SalesOptions{Rate: 100, Max: perBox,
		BeforeCreate: func(_ *fleetdemo.Box, ref string) {
			delay := 500*time.Millisecond + rand.N(6*time.Second)
			c.Sim().SetApp("ref:"+ref, sim.AppPolicy{Action: sim.Approve, Delay: delay})
		}})
	b.ResetTimer()
	s.Wait()
	b.StopTimer()
	var lat []time.Duration
	for _, r := range s.Results() {
		if r.State != agent.Completed {
			b.Fatalf("%s ended %s", r.Reference, r.State)
		}
		lat = append(lat, latency(b, c, r))
	}
	if len(lat) < n {
		b.Fatalf("%d sales of %d reached their outcome", len(lat), n)
	}
	slices.Sort(lat)
	return lat
}

// latency is the time from the simulator's approval of r to the POS
// reading its first event after it.
func latency(b *testing.B, c *fleetdemo.Chain, r fleetdemo.SaleResult) time.Duration {
	b.Helper()
	msn := c.Box(r.Till).MSN
	p, ok := c.Sim().Payment(msn, r.Reference)
	if !ok {
		b.Fatalf("%s unknown to the simulator", r.Reference)
	}
	var approved time.Time
	for _, e := range p.Events {
		if e.Name == epayment.EventAuthorized {
			approved = e.Timestamp
		}
	}
	for _, s := range r.Seen {
		switch s.State {
		case agent.Authorized, agent.Capturing, agent.Completed:
			if approved.IsZero() || s.Arrived.Before(approved) {
				b.Fatalf("%s: approved %v, POS event %s at %v", r.Reference, approved, s.State, s.Arrived)
			}
			d := s.Arrived.Sub(approved)
			if os.Getenv("TILLBOX_BENCH_DEBUG") != "" && d > 100*time.Millisecond {
				b.Logf("%s: %v (%s); events %+v", r.Reference, d, s.State, p.Events)
			}
			return d
		}
	}
	b.Fatalf("%s: no event after the approval: %+v", r.Reference, r.Seen)
	return 0
}

// quantile is the q-quantile of sorted d (nearest rank).
func quantile(d []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(d)) + 0.5)
	return d[min(max(i-1, 0), len(d)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
