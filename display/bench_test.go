package display_test

import (
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/display"
)

// reportPercentiles reports the p50, p99 and max of ds in milliseconds,
// their units named with prefix.
func reportPercentiles(b *testing.B, prefix string, ds []time.Duration) {
	b.Helper()
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		i := int(q*float64(len(ds))+0.5) - 1
		return float64(ds[max(0, min(i, len(ds)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), prefix+"p50-ms")
	b.ReportMetric(at(0.99), prefix+"p99-ms")
	b.ReportMetric(at(1), prefix+"max-ms")
}

// BenchmarkApprovalToPaid measures what the customer waits for: from the
// simulated app's approval (the simulator then delivers the signed
// webhook, the agent GETs the payment, settles it durably, the display
// feed reads the event log and the hub pushes the view) until the page in
// headless Chromium shows "paid" (the animation frame after the DOM
// update, timed by the page on the same wall clock). Goal: p99 < 50 ms.
//
//	go test -run '^$' -bench ApprovalToPaid -benchtime 200x ./display/
func BenchmarkApprovalToPaid(b *testing.B) {
	browser := newBrowser(b)
	box := newBox(b, boxOptions{lang: "nb", realSim: true})
	tb := openTab(b, browser, 800, 480, box.url)
	tb.waitScreen(b, "idle")
	// Beside the page, a subscription to the till tells when the hub sent
	// "paid": the box's part of the wait.
	_, sub := box.till.Subscribe()
	defer sub.Close()
	hubPaid := make(chan time.Time, 1)
	go func() {
		for msg := range sub.C() {
			if strings.Contains(string(msg), `"screen":"paid"`) {
				hubPaid <- time.Now()
			}
		}
	}()
	var lat, dom, hub []time.Duration
	b.ResetTimer()
	for range b.N {
		s := box.sale(49800, clearQR)
		tb.wait(b, "confirm", `document.body.dataset.shownScreen === 'confirm'`)
		t0 := time.Now()
		box.sim.SetApp("ref:"+s.Reference, sim.AppPolicy{Action: sim.Approve})
		hub = append(hub, (<-hubPaid).Sub(t0))
		tb.wait(b, "paid", `document.body.dataset.shownScreen === 'paid'`)
		at, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[2]float64](`[Number(document.body.dataset.renderedAt), Number(document.body.dataset.shownAt)]`))
		if err != nil {
			b.Fatal(err)
		}
		since := func(ms float64) time.Duration {
			return time.Duration((ms - float64(t0.UnixNano())/1e6) * float64(time.Millisecond))
		}
		dom = append(dom, since(at[0]))
		lat = append(lat, since(at[1]))
	}
	b.StopTimer()
	reportPercentiles(b, "", lat)
	reportPercentiles(b, "dom-", dom)
	reportPercentiles(b, "hub-", hub)
}

// BenchmarkFanout50 measures one change of a till's view reaching 50
// connected displays over real WebSockets on loopback: from the change
// until the last of the 50 has read it.
//
//	go test -run '^$' -bench Fanout50 -benchtime 2000x ./display/
func BenchmarkFanout50(b *testing.B) {
	const displays = 50
	hub := display.NewHub(display.Options{QueueLen: 64})
	till, err := hub.AddTill("t1", "nb")
	if err != nil {
		b.Fatal(err)
	}
	url := serveHub(b, hub)
	arrived := make(chan time.Time, displays*4)
	var wg sync.WaitGroup
	var conns []*websocket.Conn
	for range displays {
		conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+display.Path+"ws", nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, conn)
		if _, _, err := conn.ReadMessage(); err != nil { // the snapshot
			b.Fatal(err)
		}
		wg.Go(func() {
			for {
				_, msg, err := conn.ReadMessage()
				if err != nil {
					return
				}
				if strings.Contains(string(msg), `"change"`) {
					arrived <- time.Now()
				}
			}
		})
	}
	for till.Displays() != displays {
		time.Sleep(time.Millisecond)
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		till.SetOnline(i%2 == 1)
		var last time.Time
		for range displays {
			if t := <-arrived; t.After(last) {
				last = t
			}
		}
		lat = append(lat, last.Sub(t0))
	}
	b.StopTimer()
	reportPercentiles(b, "", lat)
	hub.Close()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}

// serveHub serves hub's handler on loopback until the benchmark ends.
func serveHub(b *testing.B, hub *display.Hub) string {
	srv := httptest.NewServer(hub.Handler())
	b.Cleanup(srv.Close)
	b.Cleanup(hub.Close)
	return srv.URL
}
