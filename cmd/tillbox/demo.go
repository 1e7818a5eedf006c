package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// runDemo runs the simulator on loopback and takes one in-store payment
// through the client, printing each step: scan, create (push), poll and
// webhooks, capture, event log. Later the agent takes over this flow.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tillbox demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address of the embedded simulator")
	qr := fs.String("qr", "https://qr.vipps.no/28/2/01/031/4712345678?v=1", "the scanned personal QR code")
	amount := fs.Int64("amount", 49900, "amount in øre")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d := &demo{out: stdout}
	return d.run(ctx, *listen, *qr, *amount)
}

type demo struct {
	out  io.Writer
	step int

	mu       sync.Mutex
	secret   epayment.Secret
	hookURL  string
	received []epayment.EventName
	arrived  chan struct{}
}

func (d *demo) say(what, format string, a ...any) {
	d.step++
	fmt.Fprintf(d.out, "%2d. %-10s %s\n", d.step, what, fmt.Sprintf(format, a...))
}

func (d *demo) note(what, format string, a ...any) {
	fmt.Fprintf(d.out, "    %-10s %s\n", what, fmt.Sprintf(format, a...))
}

func (d *demo) run(ctx context.Context, listen, qr string, amount int64) error {
	fmt.Fprintln(d.out, "tillbox demo: one in-store Vipps MobilePay payment against the embedded simulator")

	// The simulator, with the simulated customer approving after 2 s.
	simLn, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	s := sim.New(sim.Options{})
	defer s.Close()
	stopSim := serve(simLn, s)
	defer stopSim()
	simURL := "http://" + simLn.Addr().String()
	d.say("simulator", "%s (every payment it holds: %s/sim/payments)", simURL, simURL)

	// A webhook receiver on loopback, as the agent will have.
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.arrived = make(chan struct{}, 16)
	stopHook := serve(hookLn, http.HandlerFunc(d.webhook))
	defer stopHook()
	d.hookURL = "http://" + hookLn.Addr().String() + "/webhooks/vipps"

	c, err := epayment.New(epayment.Config{
		BaseURL: simURL, ClientID: "00000000-0000-4000-8000-000000000001", ClientSecret: "demo-secret",
		SubscriptionKey: "demo-subscription-key", MSN: "123456",
	})
	if err != nil {
		return err
	}
	var events []string
	for _, n := range []epayment.EventName{epayment.EventCreated, epayment.EventAuthorized, epayment.EventAborted,
		epayment.EventExpired, epayment.EventCancelled, epayment.EventCaptured, epayment.EventRefunded, epayment.EventTerminated} {
		events = append(events, epayment.WebhookEventType(n))
	}
	reg, err := c.RegisterWebhook(ctx, d.hookURL, events)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.secret = reg.Secret
	d.mu.Unlock()
	d.say("webhook", "registered %s for %d event types (id %s); deliveries are checked with the HMAC-SHA256 signature", d.hookURL, len(events), reg.ID)

	// The customer scans their personal QR code.
	who := "a Vipps MobilePay user"
	if x, err := c.ExchangeQR(ctx, qr); err == nil {
		who = maskMSISDN(x.MSISDN) + " (QR format " + x.Version + ")"
	}
	// The scanned text goes to Vipps whole; it is never printed, since a
	// clear-text code holds the phone number.
	d.say("scan", "a personal QR code (%d characters) → %s", len(qr), who)

	// The till sends the sale: createPayment with a push to the customer.
	ref := fmt.Sprintf("tillbox-demo-%d", time.Now().Unix())
	key := ref + "-create"
	req := &epayment.CreatePaymentRequest{
		Amount:              epayment.Amount{Currency: epayment.NOK, Value: amount},
		Customer:            &epayment.Customer{PersonalQR: qr},
		CustomerInteraction: epayment.CustomerPresent,
		PaymentMethod:       epayment.PaymentMethod{Type: "WALLET"},
		Reference:           ref,
		UserFlow:            epayment.FlowPushMessage,
		PaymentDescription:  "Kjøp i butikk, demo",
		Receipt: &epayment.Receipt{
			OrderLines: []epayment.OrderLine{{Name: "Kaffe og bolle", ID: "1", TotalAmount: amount,
				TotalAmountExcludingTax: amount * 100 / 115, TotalTaxAmount: amount - amount*100/115, TaxRate: ptr[int64](1500)}},
			BottomLine: epayment.BottomLine{Currency: epayment.NOK, PosID: "till-1", ReceiptNumber: "1"},
		},
	}
	created := time.Now()
	if _, err := c.CreatePayment(ctx, key, req); err != nil {
		return err
	}
	d.say("create", "reference %s, %s NOK, PUSH_MESSAGE to the customer's app, CUSTOMER_PRESENT, Idempotency-Key %s", ref, kroner(amount), key)

	// Learn the outcome by polling (5 s after create, then every 2 s) and webhooks.
	d.say("wait", "the simulated customer approves in the app after about 2 s; polling starts 5 s after create")
	var p *epayment.Payment
	next := created.Add(5 * time.Second)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(next)):
		}
		if p, err = c.GetPayment(ctx, ref); err != nil {
			return err
		}
		d.note("poll", "t+%.0fs state %s", time.Since(created).Seconds(), p.State)
		if p.State.Final() {
			break
		}
		next = time.Now().Add(2 * time.Second)
	}
	if p.State != epayment.StateAuthorized {
		return fmt.Errorf("payment ended %s, not AUTHORIZED", p.State)
	}

	m, err := c.CapturePayment(ctx, ref+"-capture", ref, p.Amount)
	if err != nil {
		return err
	}
	if m.Aggregate.CapturedAmount.Value != amount {
		return fmt.Errorf("captured %d øre, expected %d", m.Aggregate.CapturedAmount.Value, amount)
	}
	d.say("capture", "aggregate.capturedAmount %s NOK: the whole amount", kroner(m.Aggregate.CapturedAmount.Value))

	log, err := c.PaymentEvents(ctx, ref)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range log {
		names = append(names, string(e.Name))
	}
	d.say("event log", "%s", strings.Join(names, " → "))

	// Wait a moment for the captured webhook, then show what arrived.
	deadline := time.After(3 * time.Second)
wait:
	for {
		d.mu.Lock()
		n := len(d.received)
		d.mu.Unlock()
		if n >= len(log) {
			break
		}
		select {
		case <-d.arrived:
		case <-deadline:
			break wait
		}
	}
	d.mu.Lock()
	got := d.received
	d.mu.Unlock()
	d.say("webhooks", "%d verified deliveries: %v", len(got), got)

	resp, err := http.Get(simURL + "/sim/payments/" + ref)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var info map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return err
	}
	ops, _ := json.Marshal(info["ops"])
	d.say("simulator", "holds %s in state %v, operations applied %s", ref, info["state"], ops)
	fmt.Fprintln(d.out, "done: the payment was requested, approved, captured and confirmed by both polling and webhooks.")
	return nil
}

// webhook receives the simulator's deliveries and verifies each signature.
func (d *demo) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	secret, url := d.secret, d.hookURL
	d.mu.Unlock()
	if err := epayment.VerifyWebhook(secret.Reveal(), url, r.Header, body); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		fmt.Fprintf(d.out, "    %-10s refused: %v\n", "webhook", err)
		return
	}
	var ev epayment.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	d.received = append(d.received, ev.Name)
	d.mu.Unlock()
	d.note("webhook", "%s %s, signature verified", ev.Name, ev.Reference)
	select {
	case d.arrived <- struct{}{}:
	default:
	}
}

// serve runs an HTTP server on ln until the returned stop is called.
func serve(ln net.Listener, h http.Handler) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("serve:", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}

// maskMSISDN shows a phone number as +47 ••• •• 678.
func maskMSISDN(msisdn string) string {
	if len(msisdn) < 5 {
		return "•••"
	}
	cc := msisdn[:2]
	if strings.HasPrefix(msisdn, "358") {
		cc = "358"
	}
	return "+" + cc + " ••• •• " + msisdn[len(msisdn)-3:]
}

// kroner formats minor units as 499.00.
func kroner(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

func ptr[T any](v T) *T { return &v }
