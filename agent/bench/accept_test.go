package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/store"
)

// BenchmarkPOSAccept is the POS API's accept latency, durable: POST
// /api/v1/sales over loopback HTTP (a kept-alive connection, as a POS
// keeps it) to posapi.New over an agent whose store is a bbolt file in the
// benchmark's temporary directory with fsync on, until the 201 has arrived.
// The sale has the POS's own reference, a customer and three receipt lines.
// The timed part is exactly what the POS waits for.
//
// Beside each accept, untimed, the raw baseline on the same disk: append
// 1 KiB to a file in the same directory and fdatasync it. Measured in turn,
// so that other load on the disk affects both alike. accept-µs and raw-µs
// are the means, ×raw their ratio (the goal is at most 2), and
// accept-p50-µs / accept-p99-µs the accept's percentiles. Also beside each
// accept, untimed, the floor of the HTTP part: the same client POSTs the
// same body to a handler on loopback that reads it and answers 201 with a
// sale's JSON, doing nothing else (http-µs, its mean).
//
// Vipps MobilePay is the simulator, in a child process, on loopback; its
// customer app ignores payment requests and the agent's polling is an hour
// away. The accept commits before any call, but the outbox sends the
// createPayment right after it, with three commits of its own (its check
// for a queued cancel, which commits even when there is none; the command
// marked possibly sent; the payment created). Between accepts, untimed,
// the benchmark waits for that sale to reach awaiting_approval, so that
// the outbox's commits never compete with the timed accept for bbolt's
// single writer: what is measured is a till taking a sale while it has
// nothing else to write. (With a dead URL instead, every queued create is
// retried with back-off, three commits an attempt, and the background
// writes grow with the number of accepts.)
//
//	go test -run '^$' -bench POSAccept -benchtime 2000x ./agent/bench/
func BenchmarkPOSAccept(b *testing.B) {
	if !supported {
		b.Skip(errUnsupported)
	}
	dir := b.TempDir()
	_, simURL := startSim(b, "ignore")
	x := openBox(b, filepath.Join(dir, "tillbox.db"), store.Options{}, simURL,
		agent.Options{PollDelay: time.Hour, PollEvery: time.Hour})
	x.start()
	base := serve(b, posapi.New(x.agent, posToken, nil))
	client := loopbackClient()
	answer := []byte(`{"reference":"tb-bench-000001","state":"awaiting_approval","amount":49800,"currency":"NOK"}`)
	noop := serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(answer)
	}))

	raw, err := os.OpenFile(filepath.Join(dir, "raw"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	buf := make([]byte, 1024)
	var seq uint64 // the last event seen
	waitSent := func(ref string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for {
			evs, err := x.agent.Events(ctx, seq, 1000, 10*time.Second)
			if err != nil {
				b.Fatalf("waiting for %s to be sent: %v", ref, err)
			}
			for _, e := range evs {
				seq = e.Seq
				if e.Reference != ref {
					continue
				}
				switch {
				case e.State == agent.AwaitingApproval:
					return
				case e.State.Outcome():
					b.Fatalf("sale %s: %s (%s)", ref, e.State, e.Sale.Message)
				}
			}
		}
	}

	// The first sale fetches the access token and opens the connections.
	waitSent(postSale(b, client, base, liveSale(0)))
	var acceptTime, rawTime, httpTime time.Duration
	var lat []time.Duration
	i := 1
	for b.Loop() {
		b.StopTimer()
		start := time.Now()
		if _, err := raw.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := fdatasync(raw); err != nil {
			b.Fatal(err)
		}
		rawTime += time.Since(start)
		body := liveSale(i)
		start = time.Now()
		httpFloor(b, client, noop, body)
		httpTime += time.Since(start)
		b.StartTimer()

		start = time.Now()
		ref := postSale(b, client, base, body)
		d := time.Since(start)

		b.StopTimer()
		acceptTime += d
		lat = append(lat, d)
		waitSent(ref)
		i++
		b.StartTimer()
	}
	slices.Sort(lat)
	n := float64(len(lat))
	b.ReportMetric(float64(acceptTime.Microseconds())/n, "accept-µs")
	b.ReportMetric(float64(rawTime.Microseconds())/n, "raw-µs")
	b.ReportMetric(float64(httpTime.Microseconds())/n, "http-µs")
	b.ReportMetric(float64(acceptTime)/float64(rawTime), "×raw")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "accept-p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "accept-p99-µs")
}

// httpFloor POSTs body as postSale does, to a handler that does nothing.
func httpFloor(tb testing.TB, client *http.Client, url string, body []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/api/v1/sales", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+posToken.Reveal())
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("no-op handler answered %s", resp.Status)
	}
}
