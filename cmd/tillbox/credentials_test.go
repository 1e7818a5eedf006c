package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/display"
)

// The box's secrets in testConfig; the simulator below wants another.
var testSecrets = []string{"client-secret-of-the-tests", "subscription-key-of-the-tests", "the-right-secret"}

// TestRefusedCredentials: with every token call answered 401 (a wrong
// client secret), doctor fails the vipps check and says what to mend, and
// `tillbox run` shows the refusal everywhere: the status (auth, lastError),
// /readyz 503 naming the check, the metric, one ERROR in the log; the sale
// stays queued and is abandoned when its window ends.
func TestRefusedCredentials(t *testing.T) {
	simOpts := sim.Options{ClientSecret: "the-right-secret"}
	s := sim.New(simOpts)
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	cfg, _ := doctorBox(t, simHTTP.URL, true)
	out, err := runDoctorCmd(t, "--config", cfg)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "FAIL  vipps") ||
		!strings.Contains(out, "refuses the credentials (401)") || !strings.Contains(out, "client_secret") {
		t.Errorf("doctor with refused credentials: %v\n%s", err, out)
	}
	noSecrets(t, "doctor's report", out)

	tl := startTillSim(t, simOpts, "\n[sales]\ncustomer_present_window = \"3s\"")
	ctx := t.Context()
	sale, _, err := tl.client.CreateSale(ctx, agent.SaleRequest{Amount: 4990, Currency: "NOK", Customer: &agent.Customer{PersonalQR: personalQR}})
	if err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, tl.client, func(st agent.Status) bool { return st.Auth == agent.AuthRefused })
	if !st.Online || !strings.Contains(st.LastError, "401") {
		t.Errorf("status online=%v lastError=%q, want online and the 401", st.Online, st.LastError)
	}

	resp, err := http.Get(tl.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var rd posapi.Readiness
	err = json.NewDecoder(resp.Body).Decode(&rd)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable ||
		!slices.ContainsFunc(rd.Checks, func(c posapi.Check) bool { return c.Name == "credentials" && !c.OK }) {
		t.Errorf("/readyz %d %+v, want 503 with the credentials check failing", resp.StatusCode, rd)
	}

	if v := gauge(t, tl.url, "tillbox_epayment_auth_refused"); v != 1 {
		t.Errorf("tillbox_epayment_auth_refused = %v, want 1", v)
	}

	got := tl.waitState(sale.Reference, agent.Abandoned)
	if !strings.Contains(got.Message, "credentials") {
		t.Errorf("abandoned with %q, want the credentials named", got.Message)
	}
	if states := posStates(t, tl.client, sale.Reference); slices.Contains(states, agent.Requested) {
		t.Errorf("POS events %v: requested, though nothing was sent", states)
	}
	logs := tl.logs.String()
	if n := strings.Count(logs, "refuses this box's credentials"); n != 1 {
		t.Errorf("%d log lines of refused credentials, want 1 (then every 5 min):\n%s", n, logs)
	}
	noSecrets(t, "the log", logs)
}

// TestOfflineAbandonedWhileDown: the network down (every connection to
// Vipps MobilePay dropped), a sale's window ends: the POS gets `abandoned`
// and the customer display leaves "waiting for network", while the network
// is still down.
func TestOfflineAbandonedWhileDown(t *testing.T) {
	tl := startTill(t, "\n[sales]\ncustomer_present_window = \"3s\"")
	tl.sim.SetFault(sim.Fault{Endpoint: "*", Drop: 1})
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(tl.display, "http")+"ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	ctx := t.Context()
	sale, _, err := tl.client.CreateSale(ctx, agent.SaleRequest{Amount: 4990, Currency: "NOK", Customer: &agent.Customer{PersonalQR: personalQR}})
	if err != nil {
		t.Fatal(err)
	}
	screens := []display.Screen{}
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for !slices.Contains(screens, display.Cancelled) {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("display: %v after %v", err, screens)
		}
		var m struct{ View *display.View }
		if json.Unmarshal(b, &m) == nil && m.View != nil && (len(screens) == 0 || screens[len(screens)-1] != m.View.Screen) {
			screens = append(screens, m.View.Screen)
		}
	}
	t.Logf("display screens: %v", screens)
	states := posStates(t, tl.client, sale.Reference)
	if len(states) == 0 || states[len(states)-1] != agent.Abandoned || slices.Contains(states, agent.Requested) {
		t.Errorf("POS events %v, want abandoned, never requested", states)
	}
	if st, err := tl.client.Status(ctx); err != nil || st.Online {
		t.Errorf("status %+v %v: the network should still be down", st, err)
	}
}

// posStates are the states the POS's event stream told of ref, in order.
func posStates(t *testing.T, c *posapi.Client, ref string) []agent.State {
	t.Helper()
	page, err := c.Events(t.Context(), 0, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var states []agent.State
	for _, e := range page.Events {
		if e.Reference == ref {
			states = append(states, e.State)
		}
	}
	return states
}

// waitStatus polls the POS API's status until ok says so.
func waitStatus(t *testing.T, c *posapi.Client, ok func(agent.Status) bool) agent.Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v, never as wanted", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gauge scrapes /metrics for the value of an unlabelled gauge.
func gauge(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := fams[name]
	if !ok || len(f.Metric) != 1 || f.Metric[0].Gauge == nil {
		t.Fatalf("no gauge %s", name)
	}
	return f.Metric[0].Gauge.GetValue()
}

func noSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range testSecrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows a secret (%s)", where, s)
		}
	}
}

// TestDoctorWrongMSN: keys that get a token but an MSN that is not theirs
// (ePayment answers 403): doctor fails the vipps check naming the MSN.
func TestDoctorWrongMSN(t *testing.T) {
	s := sim.New(sim.Options{MSN: "999999"}) // the configuration says 123456
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	cfg, _ := doctorBox(t, simHTTP.URL, true)
	out, err := runDoctorCmd(t, "--config", cfg)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "FAIL  vipps") || !strings.Contains(out, "refuses MSN 123456") {
		t.Errorf("doctor with a wrong MSN: %v\n%s", err, out)
	}
	noSecrets(t, "doctor's report", out)
}
