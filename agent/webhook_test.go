package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/store"
)

// TestWebhooksDriveOutcomes: polling is slowed to an hour, so only the
// simulator's signed webhook deliveries can tell the agent the outcome.
func TestWebhooksDriveOutcomes(t *testing.T) {
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Approve, Delay: 30 * time.Millisecond}})
	srv := newServer(t, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookURL := "http://" + ln.Addr().String() + "/webhooks/vipps"
	c, err := epayment.New(epayment.Config{BaseURL: srv, ClientID: clientID, ClientSecret: "s", SubscriptionKey: "k", MSN: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, n := range []epayment.EventName{epayment.EventCreated, epayment.EventAuthorized, epayment.EventCaptured, epayment.EventAborted} {
		events = append(events, epayment.WebhookEventType(n))
	}
	reg, err := c.RegisterWebhook(context.Background(), hookURL, events)
	if err != nil {
		t.Fatal(err)
	}
	secret := epayment.Secret(reg.Secret)

	db, err := store.Open(filepath.Join(t.TempDir(), "tillbox.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o := fast()
	o.PollDelay, o.PollEvery = time.Hour, time.Hour
	o.WebhookURL, o.WebhookSecret = hookURL, secret
	a, err := agent.New(db, c, o)
	if err != nil {
		t.Fatal(err)
	}
	hooks := &http.Server{Handler: a.WebhookHandler()}
	go hooks.Serve(ln)
	defer hooks.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	ref := ref()
	if _, err := a.CreateSale(ctx, agent.SaleRequest{Reference: ref, Amount: 1500, Currency: "NOK", Customer: &agent.Customer{PersonalQR: vippsQR}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, ref, agent.Completed)

	// A forged delivery: 401, and nothing changes.
	before, _ := a.Events(ctx, 0, 1000, 0)
	body := []byte(`{"msn":"123456","reference":"` + ref + `","pspReference":"x","name":"ABORTED","amount":{"currency":"NOK","value":1500},"timestamp":"2026-11-23T10:00:00Z","success":true}`)
	forged, _ := epayment.SignWebhook("not-the-secret", hookURL, http.TimeFormat, body)
	if code := post(t, hookURL, body, forged); code != http.StatusUnauthorized {
		t.Errorf("forged webhook: %d, want 401", code)
	}
	unsigned, _ := http.Post(hookURL, "application/json", bytes.NewReader(body))
	unsigned.Body.Close()
	if unsigned.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned webhook: %d", unsigned.StatusCode)
	}

	// A genuine but stale event (CREATED after completion), twice: harmless.
	stale := []byte(strings.Replace(string(body), `"ABORTED"`, `"CREATED"`, 1))
	sig, _ := epayment.SignWebhook(secret.Reveal(), hookURL, time.Now().UTC().Format(http.TimeFormat), stale)
	for range 2 {
		if code := post(t, hookURL, stale, sig); code != http.StatusOK {
			t.Errorf("genuine stale webhook: %d", code)
		}
	}
	time.Sleep(100 * time.Millisecond)
	after, _ := a.Events(ctx, 0, 1000, 0)
	if len(after) != len(before) {
		t.Errorf("events changed from %d to %d after forged and stale webhooks", len(before), len(after))
	}
	if got, _ := a.GetSale(ref); got.State != agent.Completed || got.Aggregate.Captured != 1500 {
		t.Errorf("sale after webhooks: %+v", got)
	}
}

func newServer(t *testing.T, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func post(t *testing.T, url string, body []byte, sig epayment.WebhookSignature) int {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	sig.Apply(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitFor(t *testing.T, a *agent.Agent, ref string, want agent.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _ := a.GetSale(ref)
		if s.State == want {
			return
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(s)
			t.Fatalf("sale is %s, want %s: %s", s.State, want, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
