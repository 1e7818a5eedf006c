package display_test

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/device/classify"
	"github.com/tillbox/tillbox/display"
)

const (
	clearQR   = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"
	clearMSN  = "4712345678"                             // the phone number in clearQR: never on a page
	tokenQR   = "https://qr.vipps.no/p/Dk9Mp2Xc7Vb4Nq1W" // a test user of the simulator
	barcode   = "7038010055512"
	testMSN   = "123456"
	testCliID = "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"
)

// box is a till box as tillbox run makes it, on loopback: the till of
// agent/agenttest (a real bbolt file, the agent against the simulator,
// whose clock the test moves so that a payment expires at once), webhooks,
// and the display served over real HTTP. Only the simulator is a fake.
type box struct {
	t     testing.TB
	clock *clock.Fake // the simulator's
	sim   *sim.Server
	agent *agent.Agent
	hub   *display.Hub
	till  *display.Till
	url   string // of the display page
	logs  *agenttest.Logs
}

type boxOptions struct {
	lang     string
	currency epayment.Currency
	realSim  bool // the simulator on the real clock
	hub      display.Options
}

func newBox(t testing.TB, o boxOptions) *box {
	t.Helper()
	if o.lang == "" {
		o.lang = "en"
	}
	if o.currency == "" {
		o.currency = epayment.NOK
	}
	b := &box{t: t}
	so := sim.Options{Currency: o.currency, App: sim.AppPolicy{Action: sim.Ignore}}
	if !o.realSim {
		b.clock = clock.NewFake(time.Now())
		so.Clock = b.clock
	}
	// The box's server: the display and the webhook endpoint.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	boxURL := "http://" + ln.Addr().String()
	hookURL := boxURL + "/webhooks/vipps"
	personalQR := classify.Default()
	t.Cleanup(func() { // last, once everything stopped
		if b.logs != nil && b.logs.Contains(clearMSN) {
			t.Errorf("the log holds the customer's phone number")
		}
	})
	k := agenttest.New(t, agenttest.Options{Sim: so,
		Agent: agent.Options{Till: "till1", MSN: testMSN, Currency: o.currency, WebhookURL: hookURL,
			// Webhooks bring the outcomes; polls are the slow safety net.
			PollDelay: 2 * time.Second, PollEvery: 2 * time.Second,
			RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
			CheckScan: func(code string) error { _, err := personalQR.Classify(code); return err }},
		Vipps: epayment.Config{ClientID: testCliID},
		Before: func(k *agenttest.Rig, ao *agent.Options) {
			reg, err := k.Vipps.RegisterWebhook(context.Background(), hookURL, []string{
				epayment.WebhookEventType(epayment.EventAuthorized), epayment.WebhookEventType(epayment.EventAborted),
				epayment.WebhookEventType(epayment.EventExpired), epayment.WebhookEventType(epayment.EventCancelled),
				epayment.WebhookEventType(epayment.EventCaptured), epayment.WebhookEventType(epayment.EventTerminated)})
			if err != nil {
				t.Fatal(err)
			}
			ao.WebhookSecret = reg.Secret
		}})
	b.sim, b.agent, b.logs = k.Sim, k.Agent, k.Logs
	log := k.Log
	ho := o.hub
	ho.ScanWindow = b.agent.Options().ScanWindow
	ho.Logger = log.With("part", "display")
	b.hub = display.NewHub(ho)
	if b.till, err = b.hub.AddTill("till1", o.lang); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(display.Path, b.hub.Handler())
	mux.Handle("/webhooks/vipps", b.agent.WebhookHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	b.url = boxURL + display.Path

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	wg.Go(func() {
		if err := display.Follow(ctx, b.till, b.agent, personalQR, log.With("part", "display")); err != nil {
			t.Errorf("Follow: %v", err)
		}
	})
	t.Cleanup(func() {
		b.hub.Close()
		_ = srv.Close()
		cancel()
		wg.Wait()
	})
	return b
}

// sale rings up a sale as the POS does.
func (b *box) sale(amount int64, customer string) agent.Sale {
	b.t.Helper()
	req := agent.SaleRequest{Amount: amount, Currency: string(b.agent.Options().Currency)}
	if customer != "" {
		req.Customer = &agent.Customer{PersonalQR: customer}
	}
	s, err := b.agent.CreateSale(context.Background(), req)
	if err != nil {
		b.t.Fatalf("sale: %v", err)
	}
	return s
}

// scan hands a code to the agent as a scanner does.
func (b *box) scan(code string) agent.ScanResult {
	b.t.Helper()
	res, _ := b.agent.Scan(code)
	return res
}

// app makes the simulated customer act on ref now.
func (b *box) app(ref string, action sim.Action) {
	b.sim.SetApp("ref:"+ref, sim.AppPolicy{Action: action})
	if b.clock != nil {
		b.clock.Advance(0)
	}
}
