package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/posapi"
)

// TestRunMetrics: after a paid sale and a declined one, /metrics of `tillbox
// run` (no token) parses as the Prometheus text format and counts them, the
// ePayment calls with their latency, the token fetch and the outbox.
func TestRunMetrics(t *testing.T) {
	tl := startTill(t, "")
	paid, _, err := tl.client.CreateSale(t.Context(), agent.SaleRequest{Amount: 49900, Currency: "NOK",
		Description: "Groceries", Customer: &agent.Customer{PersonalQR: personalQR}})
	if err != nil {
		t.Fatal(err)
	}
	tl.waitState(paid.Reference, agent.Completed)
	// A personal QR code of the right form that no user has: Vipps
	// MobilePay refuses the create with a code (4060). A code of the wrong
	// form never leaves the box (the [[scan.pattern]]s refuse it).
	bad, _, err := tl.client.CreateSale(t.Context(), agent.SaleRequest{Amount: 1000, Currency: "NOK",
		Description: "Groceries", Customer: &agent.Customer{PersonalQR: "https://qr.vipps.no/p/NoSuchUserToken7"}})
	if err != nil {
		t.Fatal(err)
	}
	tl.waitState(bad.Reference, agent.Failed)

	// Two customer displays (the page's WebSocket).
	for range 2 {
		conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(tl.display, "http")+"ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, _, err := conn.ReadMessage(); err != nil { // the snapshot: subscribed
			t.Fatal(err)
		}
	}

	resp, err := http.Get(tl.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	value := func(name string, want map[string]string) float64 {
		t.Helper()
		f, ok := fams[name]
		if !ok {
			t.Fatalf("no family %s", name)
		}
		for _, m := range f.Metric {
			if matches(m, want) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount())
				}
			}
		}
		t.Fatalf("%s has no series %v", name, want)
		return 0
	}
	if v := value("tillbox_sales_finished_total", map[string]string{"state": "completed"}); v != 1 {
		t.Errorf("completed: %v", v)
	}
	if v := value("tillbox_sales_finished_total", map[string]string{"state": "failed"}); v != 1 {
		t.Errorf("failed: %v", v)
	}
	if v := value("tillbox_sales_finished_total", map[string]string{"state": "expired"}); v != 0 {
		t.Errorf("expired: %v", v)
	}
	if v := value("tillbox_epayment_requests_total", map[string]string{"endpoint": "accessToken", "status": "200", "code": ""}); v < 1 {
		t.Errorf("token calls: %v", v)
	}
	if v := value("tillbox_token_refreshes_total", nil); v < 1 {
		t.Errorf("token refreshes: %v", v)
	}
	if v := value("tillbox_epayment_request_duration_seconds", map[string]string{"endpoint": "createPayment"}); v < 2 {
		t.Errorf("createPayment latencies: %v", v)
	}
	refused := false
	for _, m := range fams["tillbox_epayment_requests_total"].Metric {
		if matches(m, map[string]string{"endpoint": "createPayment", "status": "400"}) && label(m, "code") != "" {
			refused = true
		}
	}
	if !refused {
		t.Errorf("no refused createPayment with its Vipps error code")
	}
	if v := value("tillbox_outbox_commands", nil); v != 0 {
		t.Errorf("outbox: %v", v)
	}
	value("tillbox_outbox_oldest_age_seconds", nil)
	if v := value("tillbox_display_clients", nil); v != 2 {
		t.Errorf("display clients: %v, want 2", v)
	}
	if v := value("tillbox_up", nil); v != 1 {
		t.Errorf("up: %v", v)
	}
	if f := fams["tillbox_epayment_request_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("latency is a %v", f.GetType())
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func matches(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		if label(m, k) != v {
			return false
		}
	}
	return true
}

// TestRunMetricsSection: [metrics] of `tillbox run`, over real HTTP.
// enabled = false serves no /metrics (the probes stay); listen serves it
// there, in plain HTTP, and not beside the POS API.
func TestRunMetricsSection(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	// The [metrics] table follows [vipps]'s keys in the test's file.
	t.Run("disabled", func(t *testing.T) {
		tl := startTill(t, "\n[metrics]\nenabled = false\n")
		if code, _ := get(tl.url + "/metrics"); code != http.StatusNotFound {
			t.Errorf("/metrics with enabled = false: %d, want 404", code)
		}
		if code, _ := get(tl.url + posapi.PathHealthz); code != http.StatusOK {
			t.Errorf("/healthz: %d", code)
		}
		if strings.Contains(tl.logs.String(), "metrics on") {
			t.Errorf("a metrics listener with enabled = false:\n%s", tl.logs)
		}
	})
	t.Run("listen", func(t *testing.T) {
		tl := startTill(t, "\n[metrics]\nlisten = \"127.0.0.1:0\"\n")
		url := waitPrinted(t, tl.logs, tl.done, `metrics on (http://127\.0\.0\.1:\d+)/metrics`)
		if url == tl.url {
			t.Fatalf("metrics on the POS API's address %s", url)
		}
		code, body := get(url + "/metrics")
		if code != http.StatusOK || !strings.Contains(body, "\ntillbox_up 1\n") {
			t.Errorf("/metrics on its listener: %d\n%s", code, body)
		}
		if code, _ := get(url + posapi.PathHealthz); code != http.StatusNotFound {
			t.Errorf("/healthz on the metrics listener: %d, want 404 (the probes stay with the POS API)", code)
		}
		if code, _ := get(tl.url + "/metrics"); code != http.StatusNotFound {
			t.Errorf("/metrics beside the POS API while it has its own listener: %d, want 404", code)
		}
		if code, _ := get(tl.url + posapi.PathReadyz); code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("/readyz: %d", code)
		}
	})
}
