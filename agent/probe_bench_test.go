package agent_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// BenchmarkRecovery measures how long a queued payment request waits after
// an outage: the network is down for the outage's length while a sale waits
// (its create tried and backed off as the defaults say: 1 s doubling to
// 1 min), then Vipps MobilePay answers again; the figure is the time from
// the listener's return to the create's arrival at the simulator
// ("ms/recovery"). Real clock, default options, loopback.
//
//	go test -run '^$' -bench Recovery -benchtime 1x ./agent/
func BenchmarkRecovery(b *testing.B) {
	for _, outageLen := range []time.Duration{5 * time.Second, 30 * time.Second} {
		b.Run(fmt.Sprintf("outage=%v", outageLen), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				total += recoverOnce(b, outageLen)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/recovery")
		})
	}
}

func recoverOnce(b *testing.B, outageLen time.Duration) time.Duration {
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Ignore}})
	defer s.Close()
	var mu sync.Mutex
	var arrived time.Time
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/epayment/v1/payments" {
			mu.Lock()
			if arrived.IsZero() {
				arrived = time.Now()
			}
			mu.Unlock()
		}
		s.ServeHTTP(w, r)
	})
	vipps := newOutage(b, h)
	vipps.down()
	db := storetest.Open(b, filepath.Join(b.TempDir(), "tillbox.db"), store.Options{})
	defer db.Close()
	c, err := epayment.New(epayment.Config{BaseURL: vipps.url(), ClientID: clientID, ClientSecret: "s",
		SubscriptionKey: "k", MSN: "123456"})
	if err != nil {
		b.Fatal(err)
	}
	a, err := agent.New(db, c, agent.Options{Till: "t1", CustomerPresentWindow: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := a.CreateSale(ctx, agent.SaleRequest{Reference: ref(), Amount: 100, Currency: "NOK",
		Customer: &agent.Customer{PersonalQR: vippsQR}}); err != nil {
		b.Fatal(err)
	}
	time.Sleep(outageLen)
	b.ResetTimer()
	back := time.Now()
	vipps.up()
	deadline := back.Add(3 * time.Minute)
	for {
		mu.Lock()
		at := arrived
		mu.Unlock()
		if !at.IsZero() {
			b.StopTimer()
			return at.Sub(back)
		}
		if time.Now().After(deadline) {
			b.Fatal("the queued create did not arrive within 3 minutes of the outage's end")
		}
		time.Sleep(time.Millisecond)
	}
}
