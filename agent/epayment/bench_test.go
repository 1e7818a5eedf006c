package epayment_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// The client's cost per call is measured against the raw loopback round trip
// of the same request to the same simulator: the difference is what the
// client adds (headers, JSON, token cache, error handling).
//
//	go test -run '^$' -bench . -benchmem ./agent/epayment/
//
// One iteration is four calls; B/op and allocs/op count the iteration, and
// B/call and allocs/call one call. Both include the simulator's side, which
// runs in the same process: compare the two benchmarks, not the figures alone.

var benchOps = []string{"create", "approve", "get", "capture"}

type latencies map[string][]time.Duration

func (l latencies) report(b *testing.B) {
	for _, op := range benchOps {
		d := l[op]
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds()), op+"-p50-µs")
		b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), op+"-p99-µs")
	}
}

// perCall measures the memory allocated while it runs, and reports it per
// call: an iteration of the benchmarks makes len(benchOps) calls.
type perCall struct{ before runtime.MemStats }

func startPerCall() *perCall {
	p := &perCall{}
	runtime.ReadMemStats(&p.before)
	return p
}

func (p *perCall) report(b *testing.B) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	calls := float64(b.N * len(benchOps))
	if calls == 0 {
		return
	}
	b.ReportMetric(float64(after.TotalAlloc-p.before.TotalAlloc)/calls, "B/call")
	b.ReportMetric(float64(after.Mallocs-p.before.Mallocs)/calls, "allocs/call")
}

func benchServer(b *testing.B) *httptest.Server {
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Ignore}})
	srv := httptest.NewServer(s)
	b.Cleanup(func() { srv.Close(); s.Close() })
	return srv
}

func BenchmarkClient(b *testing.B) {
	srv := benchServer(b)
	c, err := epayment.New(epayment.Config{BaseURL: srv.URL, ClientID: testClientID, ClientSecret: "s", SubscriptionKey: "k", MSN: "123456",
		HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.ListWebhooks(ctx); err != nil { // fetch and cache the token
		b.Fatal(err)
	}
	lat := latencies{}
	timed := func(op string, f func() error) {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(op, err)
		}
		lat[op] = append(lat[op], time.Since(t0))
	}
	approve := &epayment.ForceApproveRequest{Customer: &epayment.Customer{PhoneNumber: "4712345678"}}
	b.ReportAllocs()
	b.ResetTimer()
	mem := startPerCall()
	for i := 0; b.Loop(); i++ {
		ref := fmt.Sprintf("bench-client-%08d", i)
		timed("create", func() error { _, err := c.CreatePayment(ctx, ref+"-c", pushRequest(ref, 10000)); return err })
		timed("approve", func() error { return c.ForceApprove(ctx, ref, approve) })
		timed("get", func() error { _, err := c.GetPayment(ctx, ref); return err })
		timed("capture", func() error { _, err := c.CapturePayment(ctx, ref+"-k", ref, nok(10000)); return err })
	}
	b.StopTimer()
	mem.report(b)
	lat.report(b)
}

// BenchmarkRawRoundTrip sends the same four requests with net/http alone:
// bodies encoded once, headers set by hand, answers read and discarded.
func BenchmarkRawRoundTrip(b *testing.B) {
	srv := benchServer(b)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	tokReq, _ := http.NewRequest(http.MethodPost, srv.URL+"/accesstoken/get", nil)
	tokReq.Header.Set("client_id", testClientID)
	tokReq.Header.Set("client_secret", "s")
	tokReq.Header.Set("Ocp-Apim-Subscription-Key", "k")
	resp, err := hc.Do(tokReq)
	if err != nil {
		b.Fatal(err)
	}
	var tok epayment.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	header := http.Header{}
	for k, v := range map[string]string{
		"Authorization": "Bearer " + tok.AccessToken, "Ocp-Apim-Subscription-Key": "k", "Merchant-Serial-Number": "123456",
		"Content-Type": "application/json", "Vipps-System-Name": "tillbox", "Vipps-System-Version": "bench",
		"Vipps-System-Plugin-Name": "tillbox", "Vipps-System-Plugin-Version": "bench",
	} {
		header.Set(k, v)
	}
	approve, _ := json.Marshal(&epayment.ForceApproveRequest{Customer: &epayment.Customer{PhoneNumber: "4712345678"}})
	capture, _ := json.Marshal(&epayment.ModificationRequest{ModificationAmount: nok(10000)})
	lat := latencies{}
	do := func(op, method, path, key string, body []byte, want int) {
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		req.Header = header.Clone()
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(op, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat[op] = append(lat[op], time.Since(t0))
		if resp.StatusCode != want {
			b.Fatalf("%s: status %d", op, resp.StatusCode)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	mem := startPerCall()
	for i := 0; b.Loop(); i++ {
		ref := fmt.Sprintf("bench-raw-%08d", i)
		create, _ := json.Marshal(pushRequest(ref, 10000))
		do("create", http.MethodPost, "/epayment/v1/payments", ref+"-c", create, http.StatusCreated)
		do("approve", http.MethodPost, "/epayment/v1/test/payments/"+ref+"/approve", "", approve, http.StatusOK)
		do("get", http.MethodGet, "/epayment/v1/payments/"+ref, "", nil, http.StatusOK)
		do("capture", http.MethodPost, "/epayment/v1/payments/"+ref+"/capture", ref+"-k", capture, http.StatusOK)
	}
	b.StopTimer()
	mem.report(b)
	lat.report(b)
}
