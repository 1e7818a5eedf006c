package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/store"
)

// RSS benchmark: the queue a child holds, the sales it takes live through
// the POS API, and how long it works on the queue before it reports.
const (
	rssQueued = 100_000
	rssLive   = 1000
	rssWork   = 5 * time.Second
)

// BenchmarkPeakRSS100kQueued is the peak RSS (VmHWM) of a till box holding
// 100 000 queued commands while Vipps MobilePay is out of reach.
//
// The fixture is 100 000 sales with a customer and a three-line receipt,
// made through agent.CreateSale (without fsync, for time), each leaving its
// createPayment queued. A child process (the test binary wired as `tillbox
// run`: durable store, agent, POS API) opens it with MaxQueued 200 000 and a
// customer-present window of an hour (so that the creates stay queued rather
// than being abandoned after the default 2 minutes), its Vipps URL dead
// (connection refused), and:
//
//  1. starts: agent.Run reconciles, then its outbox tries the queue; the
//     first failed send turns the status offline, which marks the end of
//     the start (start-ms). start-peak-RSS-MB is VmHWM then.
//  2. once its RSS has settled (the store releases the mapped file pages
//     and Go returns the heap it no longer needs within seconds), has its
//     VmHWM reset (clear_refs), takes 1000 more sales through POST
//     /api/v1/sales and works on the queue for 5 s; work-peak-RSS-MB is
//     VmHWM since the reset, end-RSS-MB VmRSS and heap-MB the Go heap in use
//     at the end.
//
// peak-RSS-MB is the larger peak: the figure for the 64 MB goal.
// attempts/s are the sends the outbox attempted per second of the child's
// life (each costs three durable commits while offline), counted from the
// commands' Attempts once the child has stopped.
//
//	go test -run '^$' -bench PeakRSS -benchtime 1x ./agent/bench/
func BenchmarkPeakRSS100kQueued(b *testing.B) {
	if !supported {
		b.Skip(errUnsupported)
	}
	fixture := filepath.Join(b.TempDir(), "fixture.db")
	buildQueuedFixture(b, fixture, rssQueued)
	if fc := countFixture(b, fixture); fc.Commands != rssQueued {
		b.Fatalf("the fixture has %d commands", fc.Commands)
	}
	dead := deadURL(b)
	var sum struct{ peak, startPeak, workPeak, end, heap, startMs, attempts float64 }
	for b.Loop() {
		b.StopTimer()
		path := copyFixture(b, fixture)
		b.StartTimer()
		began := time.Now()
		c := startChild(b, roleAgent, dbEnv+"="+path, vippsEnv+"="+dead,
			maxQueuedEnv+"=200000", windowEnv+"=1h")
		url, _, _ := strings.Cut(c.expect(b, "ready", time.Minute), " ")
		waitOffline(b, url)
		sum.startMs += ms(time.Since(began))
		startPeak, _, _ := childMem(b, c)
		settle(b, c)
		c.send(b, "reset")
		if got := c.expect(b, "reset", time.Minute); got != "ok" {
			b.Fatalf("reset: %s", got)
		}
		client := loopbackClient()
		for i := range rssLive {
			postSale(b, client, url, liveSale(i))
		}
		time.Sleep(rssWork)
		workPeak, end, heap := childMem(b, c)
		if err := c.stop(); err != nil {
			b.Fatal(err)
		}
		lived := time.Since(began)
		b.StopTimer()
		sum.peak += max(startPeak, workPeak)
		sum.startPeak += startPeak
		sum.workPeak += workPeak
		sum.end += end
		sum.heap += heap
		sum.attempts += float64(sumAttempts(b, path, rssQueued+rssLive)) / lived.Seconds()
		if err := os.Remove(path); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(sum.peak/n, "peak-RSS-MB")
	b.ReportMetric(sum.startPeak/n, "start-peak-RSS-MB")
	b.ReportMetric(sum.workPeak/n, "work-peak-RSS-MB")
	b.ReportMetric(sum.end/n, "end-RSS-MB")
	b.ReportMetric(sum.heap/n, "heap-MB")
	b.ReportMetric(sum.startMs/n, "start-ms")
	b.ReportMetric(sum.attempts/n, "attempts/s")
}

// childMem asks the agent child for its memory: VmHWM, VmRSS and the Go
// heap in use, in MB.
func childMem(tb testing.TB, c *child) (peak, rss, heap float64) {
	tb.Helper()
	c.send(tb, "mem")
	line := c.expect(tb, "mem", time.Minute)
	var h, r, hp, sys int
	if _, err := fmt.Sscan(line, &h, &r, &hp, &sys); err != nil {
		tb.Fatalf("the child said mem %q", line)
	}
	return float64(h) / 1024, float64(r) / 1024, float64(hp) / 1024
}

// settle waits until the child's RSS stops shrinking: no lower for a second.
func settle(tb testing.TB, c *child) {
	tb.Helper()
	_, low, _ := childMem(tb, c)
	steady := 0
	for deadline := time.Now().Add(30 * time.Second); steady < 4 && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		_, rss, _ := childMem(tb, c)
		if rss < low-1 {
			low, steady = rss, 0
		} else {
			steady++
		}
	}
}

// waitOffline polls the POS API's status at base until the agent reports
// itself offline: its outbox has tried a send, so Run has reconciled.
func waitOffline(tb testing.TB, base string) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var st agent.Status
		getJSON(tb, base+"/api/v1/status", &st)
		if !st.Online {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("the agent did not go offline within 2 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// getJSON GETs url from the POS API and decodes its 200 answer into v.
func getJSON(tb testing.TB, url string, v any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+posToken.Reveal())
	resp, err := loopbackClient().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
}

// liveSale is a sale the POS sends with its own reference.
func liveSale(i int) []byte {
	r := queuedSale(i)
	body, err := json.Marshal(struct {
		Reference string `json:"reference"`
		Amount    int64  `json:"amount"`
		Currency  string `json:"currency"`
		Customer  any    `json:"customer"`
		Lines     any    `json:"lines"`
	}{fmt.Sprintf("pos-%d-%08d", os.Getpid(), i), r.Amount, r.Currency, r.Customer, r.Lines})
	if err != nil {
		panic(err)
	}
	return body
}

// postSale sends a sale to the POS API at base, reads the whole of its 201
// answer and returns the sale's reference (from the Location).
func postSale(tb testing.TB, client *http.Client, base string, body []byte) string {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/sales", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+posToken.Reveal())
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("POST /api/v1/sales: %s %s", resp.Status, answer)
	}
	ref, ok := strings.CutPrefix(resp.Header.Get("Location"), "/api/v1/sales/")
	if !ok {
		tb.Fatalf("Location %q", resp.Header.Get("Location"))
	}
	return ref
}

// sumAttempts opens the store at path after its agent stopped, checks that
// it holds want queued commands and returns their attempts.
func sumAttempts(tb testing.TB, path string, want int) int {
	tb.Helper()
	// Not storetest: this runs in the benchmark's loop, which removes the
	// file right after it.
	db, err := store.Open(path, store.Options{NoSync: true, CompactMinFree: -1})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *store.Tx) error {
		cmds, err := tx.Commands(0, 0)
		if len(cmds) != want {
			return fmt.Errorf("%d commands queued, want %d", len(cmds), want)
		}
		for _, c := range cmds {
			n += c.Attempts
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
