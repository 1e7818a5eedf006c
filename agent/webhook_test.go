package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// TestWebhooksDriveOutcomes: polling is slowed to an hour, so only the
// simulator's signed webhook deliveries can tell the agent the outcome.
func TestWebhooksDriveOutcomes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookURL := "http://" + ln.Addr().String() + "/webhooks/vipps"
	o := fast()
	o.PollDelay, o.PollEvery = time.Hour, time.Hour
	o.WebhookURL = hookURL
	var secret epayment.Secret
	k := agenttest.New(t, agenttest.Options{Agent: o, Vipps: epayment.Config{ClientID: clientID},
		Before: func(k *agenttest.Rig, o *agent.Options) {
			secret = register(t, k.Vipps, hookURL, epayment.EventCreated, epayment.EventAuthorized, epayment.EventCaptured, epayment.EventAborted)
			o.WebhookSecret = secret
		}})
	a := k.Agent
	hooks := &http.Server{Handler: a.WebhookHandler()}
	go hooks.Serve(ln)
	defer hooks.Close()
	ctx := t.Context()

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

// TestWebhookDuringCreate: the simulator's AUTHORIZED webhook reaches the
// agent while the create's answer is held back (polling is off), so the
// agent hears of the approval before it knows the payment exists. The
// webhook is kept and applied once the create's answer is committed: the
// sale completes, with no error in the log.
func TestWebhookDuringCreate(t *testing.T) {
	hold := &holdCreate{next: http.DefaultTransport, until: make(chan struct{})}
	w := newWebhookRig(t, hold, sim.AppPolicy{Action: sim.Approve, Delay: 30 * time.Millisecond}, epayment.EventCreated, epayment.EventAuthorized, epayment.EventCaptured)
	ref := w.sale(t)
	w.waitAuthorized(t)
	close(hold.until)
	if hold.holds.Load() != 1 {
		t.Fatalf("the create's answer was held %d times, want 1: the interleaving was not forced", hold.holds.Load())
	}
	waitFor(t, w.agent, ref, agent.Completed)
	w.noErrors(t)
}

// TestCreateAnsweredAfterSettled: the first create's answer is lost (a 503
// after Vipps made the payment), so the sale is requested and its create
// goes again; while the second answer is held back, the customer approves
// and the webhook's GET settles the sale. The late answer then changes
// nothing and logs no error.
func TestCreateAnsweredAfterSettled(t *testing.T) {
	hold := &holdCreate{next: http.DefaultTransport, until: make(chan struct{}), failFirst: true}
	w := newWebhookRig(t, hold, sim.AppPolicy{Action: sim.Ignore}, epayment.EventAuthorized, epayment.EventCaptured)
	ref := w.sale(t)
	agenttest.Until(t, "the second create is on its way", func() bool { return hold.holds.Load() == 1 })
	if got := mustSale(t, w.agent, ref).State; got != agent.Requested {
		t.Fatalf("sale is %s while its create goes again, want requested", got)
	}
	w.sim.SetApp("ref:"+ref, sim.AppPolicy{Action: sim.Approve})
	w.waitAuthorized(t)
	agenttest.Until(t, "the webhook's GET settles the sale", func() bool { return mustSale(t, w.agent, ref).State != agent.Requested })
	close(hold.until)
	waitFor(t, w.agent, ref, agent.Completed)
	if got := mustSale(t, w.agent, ref); got.Aggregate.Captured != 1500 {
		t.Errorf("captured %d, want 1500", got.Aggregate.Captured)
	}
	w.noErrors(t)
}

func mustSale(t *testing.T, a *agent.Agent, ref string) agent.Sale {
	t.Helper()
	s, err := a.GetSale(ref)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// webhookRig is an agent that learns outcomes only from the simulator's
// signed webhooks (polling is slowed to an hour), with its ePayment calls
// going through rt.
type webhookRig struct {
	sim        *sim.Server
	agent      *agent.Agent
	logs       *agenttest.Logs
	authorized chan struct{} // closed once the agent has taken an AUTHORIZED webhook
}

func newWebhookRig(t *testing.T, rt http.RoundTripper, app sim.AppPolicy, events ...epayment.EventName) *webhookRig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookURL := "http://" + ln.Addr().String() + "/webhooks/vipps"
	w := &webhookRig{logs: agenttest.NewLogs(), authorized: make(chan struct{})}
	o := fast()
	o.PollDelay, o.PollEvery = time.Hour, time.Hour
	o.WebhookURL = hookURL
	o.Logger = w.logs.Logger()
	k := agenttest.New(t, agenttest.Options{Sim: sim.Options{App: app}, Agent: o,
		Vipps:  epayment.Config{ClientID: clientID, HTTPClient: &http.Client{Transport: rt}},
		Before: func(k *agenttest.Rig, o *agent.Options) { o.WebhookSecret = register(t, k.Vipps, hookURL, events...) }})
	w.sim, w.agent = k.Sim, k.Agent
	var once sync.Once
	hooks := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		w.agent.WebhookHandler().ServeHTTP(rw, r)
		if bytes.Contains(body, []byte(`"AUTHORIZED"`)) {
			once.Do(func() { close(w.authorized) })
		}
	})}
	go hooks.Serve(ln)
	t.Cleanup(func() { hooks.Close() })
	return w
}

// register registers hookURL for events with Vipps MobilePay (the
// simulator) and returns the webhook's secret.
func register(t testing.TB, c *epayment.Client, hookURL string, events ...epayment.EventName) epayment.Secret {
	t.Helper()
	var types []string
	for _, e := range events {
		types = append(types, epayment.WebhookEventType(e))
	}
	reg, err := c.RegisterWebhook(context.Background(), hookURL, types)
	if err != nil {
		t.Fatal(err)
	}
	return epayment.Secret(reg.Secret)
}

func (w *webhookRig) sale(t *testing.T) string {
	t.Helper()
	ref := ref()
	if _, err := w.agent.CreateSale(context.Background(), agent.SaleRequest{Reference: ref, Amount: 1500, Currency: "NOK", Customer: &agent.Customer{PersonalQR: vippsQR}}); err != nil {
		t.Fatal(err)
	}
	return ref
}

func (w *webhookRig) waitAuthorized(t *testing.T) {
	t.Helper()
	select {
	case <-w.authorized:
	case <-time.After(30 * time.Second):
		t.Fatal("no AUTHORIZED webhook reached the agent")
	}
}

func (w *webhookRig) noErrors(t *testing.T) {
	t.Helper()
	if strings.Contains(w.logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", w.logs.String())
	}
}

// holdCreate holds the answers of createPayment until until is closed;
// with failFirst, it answers the first create 503 after Vipps made the
// payment (an answer lost on the way back).
type holdCreate struct {
	next      http.RoundTripper
	until     chan struct{}
	failFirst bool
	creates   atomic.Int32
	holds     atomic.Int32
}

func (h *holdCreate) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(r)
	if err != nil || r.Method != http.MethodPost || r.URL.Path != "/epayment/v1/payments" {
		return resp, err
	}
	if h.creates.Add(1) == 1 && h.failFirst {
		resp.Body.Close()
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader("unavailable")), Request: r}, nil
	}
	h.holds.Add(1)
	select {
	case <-h.until:
	case <-r.Context().Done():
	}
	return resp, err
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
	agenttest.Until(t, fmt.Sprintf("sale %s to be %s", ref, want), func() bool {
		s, err := a.GetSale(ref)
		return err == nil && s.State == want
	})
}
