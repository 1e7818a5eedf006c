package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/tillbox/tillbox/agent/agenttest"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/fleet/natstest"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/agent/posapi"
)

// TestRunFleet: `tillbox run` with [fleet] against a real nats-server
// (TLS, the box's own user) and a stand-in for headquarters that takes
// the simulator's webhooks, verifies them and relays them to the box.
// With polling slowed to a minute, a sale completes by the relayed
// webhook; its events reach headquarters' journal; /metrics shows the
// link; `tillbox doctor` connects and says how far behind.
// hqRig is a real nats-server (TLS) with headquarters' streams, a
// simulator, and a stand-in for headquarters' webhook endpoint that
// verifies the simulator's webhooks and relays them to till.
type hqRig struct {
	ns      *natstest.Server
	js      jetstream.JetStream
	ctx     context.Context
	simURL  string
	relayed chan string
}

func startHQ(t *testing.T, till wire.Till) *hqRig {
	t.Helper()
	ns := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{till}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	js, err := jetstream.New(ns.Connect(t, ns.URL(), ns.HQ()))
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []jetstream.StreamConfig{
		{Name: wire.JournalStream, Subjects: []string{"tillbox.*.journal.>"}, AllowDirect: true, Duplicates: time.Minute},
		{Name: wire.RelayStream, Subjects: []string{"tillbox.*.relay.>"}},
		{Name: wire.HeartbeatStream, Subjects: []string{"tillbox.*.heartbeat.>"}, MaxMsgsPerSubject: 1, AllowDirect: true},
	} {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Approve, Delay: 30 * time.Millisecond}})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	var secret string
	relayed := make(chan string, 16)
	hq := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := epayment.VerifyWebhook(secret, "http://"+r.Host+"/webhooks", r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if _, err := js.Publish(r.Context(), till.RelaySubject(), body); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		relayed <- string(body)
	}))
	t.Cleanup(hq.Close)
	vc, err := epayment.New(epayment.Config{BaseURL: simHTTP.URL, ClientID: "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d",
		ClientSecret: "client-secret-of-the-tests", SubscriptionKey: "subscription-key-of-the-tests", MSN: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := vc.RegisterWebhook(ctx, hq.URL+"/webhooks", []string{epayment.WebhookEventType(epayment.EventAuthorized)})
	if err != nil {
		t.Fatal(err)
	}
	secret = reg.Secret.Reveal()
	return &hqRig{ns: ns, js: js, ctx: ctx, simURL: simHTTP.URL, relayed: relayed}
}

func TestRunFleet(t *testing.T) {
	till := wire.Till{Chain: "acme", Store: "oslo-1", Till: "t1"}
	h := startHQ(t, till)
	ns, js, ctx := h.ns, h.js, h.ctx
	relayed := h.relayed

	dir := t.TempDir()
	cfg := testConfig(t, dir, h.simURL, "127.0.0.1:0", "")
	box := ns.Box(till)
	fleetCfg := fmt.Sprintf("\n[fleet]\nchain = %q\nstore = %q\nservers = [%q]\nuser = %q\npassword = %q\nca_file = %q\nheartbeat = \"1s\"\n",
		till.Chain, till.Store, ns.URL(), box.User, box.Password, ns.CAFile())
	editFile(t, cfg, func(s string) string {
		s = strings.Replace(s, `poll_delay = "20ms"`, `poll_delay = "1m"`, 1)
		s = strings.Replace(s, `poll_every = "20ms"`, `poll_every = "1m"`, 1)
		return s + fleetCfg
	})
	logs := &agenttest.Logs{}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(runCtx, []string{"run", "--config", cfg}, logs, logs) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("tillbox run did not stop\n%s", logs)
		}
	})
	url := waitPrinted(t, logs, done, `POS API on (http://127\.0\.0\.1:\d+)/api/v1/`)
	client := &posapi.Client{BaseURL: url, Token: testToken}

	sale, _, err := client.CreateSale(ctx, agent.SaleRequest{Amount: 12900, Currency: "NOK", Customer: &agent.Customer{PersonalQR: personalQR}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-relayed:
	case <-ctx.Done():
		t.Fatalf("no webhook reached headquarters\n%s", logs)
	}
	// Polling waits a minute: only the relayed webhook completes it
	// sooner. Follow the events as a POS does.
	soon, cancelSoon := context.WithTimeout(ctx, 30*time.Second)
	defer cancelSoon()
	for after, completed := uint64(0), false; !completed; {
		page, err := client.Events(soon, after, 10*time.Second, 100)
		if err != nil {
			t.Fatalf("the sale did not complete within 30 s (polling waits a minute): %v\n%s", err, logs)
		}
		for _, e := range page.Events {
			completed = completed || (e.Reference == sale.Reference && e.State == agent.Completed)
		}
		after = page.Next
	}
	if !strings.Contains(logs.String(), "relayed webhook") {
		t.Errorf("the log does not show the relayed webhook\n%s", logs)
	}

	// Every event of the box is at headquarters, and /metrics says so.
	page, err := client.Events(ctx, 0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	last := page.Events[len(page.Events)-1].Seq
	for {
		m := getText(t, url+"/metrics")
		if strings.Contains(m, "tillbox_fleet_connected 1\n") && strings.Contains(m, "tillbox_fleet_lag_events 0\n") &&
			strings.Contains(m, fmt.Sprintf("tillbox_fleet_shipped_seq %d\n", last)) && strings.Contains(m, "tillbox_fleet_relayed_total 1\n") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("metrics:\n%s", m)
		}
		time.Sleep(50 * time.Millisecond) // the link acknowledges within milliseconds
	}
	checkAtHQ(t, ctx, js, till, last)

	// Stopped, the doctor connects with the box's credentials and reads
	// its log.
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	done <- nil // for the cleanup
	var out agenttest.Logs
	_ = run(ctx, []string{"doctor", "--config", cfg, "--user", "root"}, &out, io.Discard)
	if !strings.Contains(out.String(), "ok    fleet") || !strings.Contains(out.String(), "none behind") {
		t.Errorf("doctor:\n%s", out.String())
	}
	if strings.Contains(logs.String()+out.String(), box.Password) {
		t.Error("the box's password is in the log or the doctor's report")
	}
}

// TestDoctorFleetFails: a wrong password is a FAIL with the reason.
func TestDoctorFleetFails(t *testing.T) {
	till := wire.Till{Chain: "acme", Store: "oslo-1", Till: "t1"}
	ns := natstest.Start(t, natstest.Options{TLS: true, Tills: []wire.Till{till}})
	dir := t.TempDir()
	cfg := testConfig(t, dir, "http://127.0.0.1:1", "127.0.0.1:0", "")
	editFile(t, cfg, func(s string) string {
		return s + fmt.Sprintf("\n[fleet]\nchain = \"acme\"\nstore = \"oslo-1\"\nservers = [%q]\nuser = %q\npassword = \"wrong-password-of-the-test\"\nca_file = %q\n",
			ns.URL(), ns.Box(till).User, ns.CAFile())
	})
	var out agenttest.Logs
	_ = run(t.Context(), []string{"doctor", "--config", cfg, "--user", "root", "--timeout", "5s"}, &out, io.Discard)
	if !strings.Contains(out.String(), "FAIL  fleet") || !strings.Contains(strings.ToLower(out.String()), "authorization") {
		t.Errorf("doctor with a wrong password:\n%s", out.String())
	}
	if strings.Contains(out.String(), "wrong-password-of-the-test") {
		t.Error("the doctor shows the password")
	}
}

func editFile(t *testing.T, path string, edit func(string) string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(edit(string(b))), 0o600); err != nil {
		t.Fatal(err)
	}
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestRunFleetDown: with headquarters out of reach, the box sells as
// before and stays ready; /metrics shows the link down and the lag.
func TestRunFleetDown(t *testing.T) {
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Approve, Delay: 30 * time.Millisecond}})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	dir := t.TempDir()
	cfg := testConfig(t, dir, simHTTP.URL, "127.0.0.1:0", "")
	editFile(t, cfg, func(s string) string {
		return s + "\n[fleet]\nchain = \"acme\"\nstore = \"oslo-1\"\nservers = [\"nats://127.0.0.1:1\"]\nuser = \"t1\"\npassword = \"password-of-the-test\"\n"
	})
	logs := &agenttest.Logs{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, logs, logs) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("tillbox run did not stop\n%s", logs)
		}
	})
	url := waitPrinted(t, logs, done, `POS API on (http://127\.0\.0\.1:\d+)/api/v1/`)
	tl := &till{t: t, client: &posapi.Client{BaseURL: url, Token: testToken}, logs: logs}
	sale, _, err := tl.client.CreateSale(t.Context(), agent.SaleRequest{Amount: 4990, Currency: "NOK", Customer: &agent.Customer{PersonalQR: personalQR}})
	if err != nil {
		t.Fatal(err)
	}
	tl.waitState(sale.Reference, agent.Completed)
	resp, err := http.Get(url + posapi.PathReadyz)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz with headquarters down: %s", resp.Status)
	}
	m := getText(t, url+"/metrics")
	if !strings.Contains(m, "tillbox_fleet_connected 0\n") || strings.Contains(m, "tillbox_fleet_lag_events 0\n") {
		t.Errorf("metrics with headquarters down:\n%s", m)
	}
	if strings.Contains(logs.String(), "password-of-the-test") {
		t.Error("the log shows the fleet password")
	}
}

// checkAtHQ checks that headquarters' journal ends with the box's event
// last, and waits for the box's heartbeat to say what routing and the
// fleet page need: the MSN, the reference prefix, the version, Vipps
// MobilePay reachable, the log's position.
func checkAtHQ(t *testing.T, ctx context.Context, js jetstream.JetStream, till wire.Till, last uint64) {
	t.Helper()
	journal, err := js.Stream(ctx, wire.JournalStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := journal.GetLastMsgForSubject(ctx, till.JournalSubject())
	if err != nil || m.Header.Get(wire.HeaderSeq) != fmt.Sprint(last) {
		t.Errorf("headquarters' last event: %v %v, want %d", m, err, last)
	}
	hb, err := js.Stream(ctx, wire.HeartbeatStream)
	if err != nil {
		t.Fatal(err)
	}
	var h wire.Heartbeat
	for {
		if m, err := hb.GetLastMsgForSubject(ctx, till.HeartbeatSubject()); err == nil {
			if err := json.Unmarshal(m.Data, &h); err != nil {
				t.Fatal(err)
			}
		}
		if h.Till == till && h.MSN == "123456" && h.ReferencePrefix == "tb-t1" && h.Version != "" && h.Online && h.LastSeq == last && h.Shipped == last {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the last heartbeat: %+v", h)
		}
		time.Sleep(100 * time.Millisecond) // heartbeats come every second
	}
}
