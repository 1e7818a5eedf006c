package reportapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the simulator's Europe/Oslo ledger dates on any machine

	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/agent/epayment/spectest"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/reportapi"
)

const (
	msnA     = "112233"
	msnB     = "445566"
	clientID = "00000000-0000-0000-0000-00000000000a"
	secret   = epayment.Secret("client-secret-of-the-unit")
	subKey   = epayment.Secret("subscription-key-of-the-unit")
)

// rig is the simulator on loopback (a fake clock: 2026-03-02 10:00 UTC, 11:00
// in Oslo), headquarters' token source (an epayment.Client of the unit) and a
// Report API client whose every request and answer is checked against
// report-api.yaml.
type rig struct {
	sim    *sim.Server
	clock  *clock.Fake
	srv    *httptest.Server
	vipps  *epayment.Client
	report *reportapi.Client
	tokens []string // every token handed to the client
}

func newRig(t *testing.T) *rig {
	t.Helper()
	g := &rig{clock: clock.NewFake(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))}
	g.sim = sim.New(sim.Options{
		Clock: g.clock, SubscriptionKey: subKey.Reveal(), ClientSecret: secret.Reveal(),
		TokenLifetime: 30 * 24 * time.Hour, App: sim.AppPolicy{Action: sim.Ignore}, Seed: 7,
		ReportPageSize: 2, ReportFee: &sim.ReportFee{BasisPoints: 100},
	})
	g.srv = httptest.NewServer(g.sim)
	t.Cleanup(func() { g.srv.Close(); _ = g.sim.Close() })
	var err error
	g.vipps, err = epayment.New(epayment.Config{BaseURL: g.srv.URL, ClientID: clientID, ClientSecret: secret, SubscriptionKey: subKey, MSN: msnA})
	if err != nil {
		t.Fatal(err)
	}
	g.report = g.client(t, reportapi.Config{SubscriptionKey: subKey})
	return g
}

// client is a Report API client of the rig with cfg's other fields.
func (g *rig) client(t *testing.T, cfg reportapi.Config) *reportapi.Client {
	t.Helper()
	cfg.BaseURL = g.srv.URL
	if cfg.Token == nil {
		cfg.Token = func(ctx context.Context) (string, error) {
			tok, _, err := g.vipps.AccessToken(ctx, "")
			g.tokens = append(g.tokens, tok.Reveal())
			return tok.Reveal(), err
		}
	}
	cfg.HTTP = &http.Client{Transport: spectest.Load(t).Transport(t, g.srv.Client().Transport), Timeout: 10 * time.Second}
	c, err := reportapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sale makes a paid (and maybe partly refunded) payment on msn through the
// box's own client, as a till would.
func (g *rig) sale(t *testing.T, msn, ref string, amount, refund int64) {
	t.Helper()
	ctx := context.Background()
	c, err := epayment.New(epayment.Config{BaseURL: g.srv.URL, ClientID: clientID, ClientSecret: secret, SubscriptionKey: subKey, MSN: msn})
	if err != nil {
		t.Fatal(err)
	}
	nok := func(v int64) epayment.Amount { return epayment.Amount{Currency: epayment.NOK, Value: v} }
	_, err = c.CreatePayment(ctx, ref+"-create", &epayment.CreatePaymentRequest{
		Amount: nok(amount), PaymentMethod: epayment.PaymentMethod{Type: "WALLET"}, Reference: ref,
		UserFlow: "PUSH_MESSAGE", CustomerInteraction: "CUSTOMER_PRESENT", PaymentDescription: "Kjøp i butikk",
		Customer: &epayment.Customer{PhoneNumber: "4712345678"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ForceApprove(ctx, ref, &epayment.ForceApproveRequest{Customer: &epayment.Customer{PhoneNumber: "4712345678"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CapturePayment(ctx, ref+"-capture", ref, nok(amount)); err != nil {
		t.Fatal(err)
	}
	if refund > 0 {
		if _, err := c.RefundPayment(ctx, ref+"-refund", ref, nok(refund)); err != nil {
			t.Fatal(err)
		}
	}
}

// noSecret fails if err's text holds a token or a key.
func (g *rig) noSecret(t *testing.T, err error) {
	t.Helper()
	for _, s := range append([]string{secret.Reveal(), subKey.Reveal()}, g.tokens...) {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error text holds a credential: %v", err)
		}
	}
}

func TestReportAPI(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	g.sale(t, msnA, "till-1-0001", 10000, 2500)
	g.sale(t, msnA, "till-1-0002", 20000, 0)
	g.sale(t, msnA, "till-1-0003", 30000, 0)
	g.sale(t, msnB, "till-2-0001", 5000, 0)
	g.sale(t, "778899", "till-3-0001", 5000, 0) // a third ledger: two pages of two

	var ledgerA string
	t.Run("ledgers, every page", func(t *testing.T) {
		ls, err := g.report.Ledgers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 3 || ls[2].MSNs[0] != "778899" || ls[0].Currency != "NOK" || len(ls[0].MSNs) != 1 || ls[0].MSNs[0] != msnA || ls[1].MSNs[0] != msnB || ls[0].ID == ls[1].ID {
			t.Fatalf("ledgers: %+v", ls)
		}
		ledgerA = ls[0].ID
	})

	t.Run("a date not available yet", func(t *testing.T) {
		rows, closed, err := g.report.Day(ctx, ledgerA, reportapi.TopicFunds, "2026-03-03")
		if err != nil || closed || len(rows) != 0 {
			t.Fatalf("tomorrow: rows %v closed %v err %v", rows, closed, err)
		}
	})

	t.Run("an open date: the rows so far", func(t *testing.T) {
		rows, closed, err := g.report.Day(ctx, ledgerA, reportapi.TopicFunds, "2026-03-02")
		if err != nil || closed || len(rows) != 0 {
			t.Fatalf("within the lag: rows %v closed %v err %v", rows, closed, err)
		}
		g.clock.Advance(2 * time.Hour)
		rows, closed, err = g.report.Day(ctx, ledgerA, reportapi.TopicFunds, "2026-03-02")
		if err != nil || closed || len(rows) != 4 {
			t.Fatalf("after the lag: rows %+v closed %v err %v", rows, closed, err)
		}
	})

	t.Run("a closed date, every page", func(t *testing.T) {
		g.clock.Advance(15 * time.Hour) // 2026-03-03 03:00 UTC: closed at 01:00
		rows, closed, err := g.report.Day(ctx, ledgerA, reportapi.TopicFunds, "2026-03-02")
		if err != nil || !closed {
			t.Fatalf("closed %v err %v", closed, err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.EntryType+" "+r.Reference)
		}
		want := "capture till-1-0001,refund till-1-0001,capture till-1-0002,capture till-1-0003,fees-retained ,scheduled-for-payout "
		if strings.Join(got, ",") != want {
			t.Fatalf("rows: %q, want %q", strings.Join(got, ","), want)
		}
		refund := rows[1]
		if refund.Amount != -2500 || refund.BalanceBefore != 10000 || refund.BalanceAfter != 7500 || refund.Currency != "NOK" ||
			refund.LedgerDate != "2026-03-02" || refund.RecipientHandle != "api:"+msnA || refund.PSPReference == "" ||
			refund.Time.IsZero() || refund.Time.Location() != time.UTC {
			t.Fatalf("refund row: %+v", refund)
		}
		// 1 % of 100 + 200 + 300 kr = 6 kr in fees; 600 - 25 - 6 = 569 kr paid out.
		if rows[4].Amount != -600 || rows[5].Amount != -56900 || rows[5].BalanceAfter != 0 {
			t.Fatalf("fees and payout: %+v %+v", rows[4], rows[5])
		}
		fees, closed, err := g.report.Day(ctx, ledgerA, reportapi.TopicFees, "2026-03-02")
		if err != nil || !closed || len(fees) != 4 || fees[0].EntryType != "capture-fee" || fees[0].Amount != 100 || fees[0].Reference != "till-1-0001" {
			t.Fatalf("fees: %+v closed %v err %v", fees, closed, err)
		}
	})

	t.Run("a 500 names the operation and status", func(t *testing.T) { serverErrors(t, g, ledgerA) })

	t.Run("a 401 names the operation and status, never the token", func(t *testing.T) { refusals(t, g, ledgerA) })
}

func TestNew(t *testing.T) {
	tok := func(context.Context) (string, error) { return "t", nil }
	for _, c := range []reportapi.Config{
		{BaseURL: "", Token: tok},
		{BaseURL: "http://api.vipps.no", Token: tok},
		{BaseURL: "https://user:pw@api.vipps.no", Token: tok},
		{BaseURL: "https://api.vipps.no"},
	} {
		if _, err := reportapi.New(c); err == nil {
			t.Errorf("New(%q) accepted", c.BaseURL)
		}
	}
	for _, u := range []string{"https://api.vipps.no", "https://apitest.vipps.no/", "http://127.0.0.1:8080", "http://localhost:1"} {
		if _, err := reportapi.New(reportapi.Config{BaseURL: u, Token: tok}); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	c, _ := reportapi.New(reportapi.Config{BaseURL: "https://api.vipps.no", Token: tok})
	if _, _, err := c.Day(context.Background(), "1", "payouts", "2026-03-02"); err == nil {
		t.Error("topic payouts accepted")
	}
	if _, _, err := c.Day(context.Background(), "1", "funds", "2.3.2026"); err == nil {
		t.Error("date 2.3.2026 accepted")
	}
}

// serverErrors: a 5xx is an *Error naming the operation and status.
func serverErrors(t *testing.T, g *rig, ledgerA string) {
	ctx := context.Background()
	for i := 0; ; i++ { // an injected 5xx is 500, 502 or 503: until a 500
		g.sim.SetFault(sim.Fault{Endpoint: "getReportByDate", Status5xx: 1, Count: 1})
		_, _, err := g.report.Day(ctx, ledgerA, reportapi.TopicFunds, "2026-03-02")
		var e *reportapi.Error
		if !errors.As(err, &e) || e.Op != reportapi.OpDay || e.Status < 500 || i > 50 {
			t.Fatalf("want an *Error with a 5xx, got %v", err)
		}
		g.noSecret(t, err)
		if e.Status == http.StatusInternalServerError {
			if !strings.Contains(err.Error(), "getReportByDate: HTTP 500") {
				t.Fatalf("error text: %v", err)
			}
			break
		}
	}
	g.sim.SetFault(sim.Fault{Endpoint: "getLedgers", Status5xx: 1, Count: 1})
	if _, err := g.report.Ledgers(ctx); err == nil || !strings.Contains(err.Error(), "getLedgers: HTTP 5") {
		t.Fatalf("ledgers under a fault: %v", err)
	}
}

// refusals: a 401 names the operation and status, never the token; Refused
// renews a refused token; a token source's error is passed on.
func refusals(t *testing.T, g *rig, ledgerA string) {
	ctx := context.Background()
	g.sim.RevokeTokens() // the cached token is now refused
	_, _, err := g.report.Day(ctx, ledgerA, reportapi.TopicFunds, "2026-03-02")
	var e *reportapi.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "getReportByDate: HTTP 401") {
		t.Fatalf("want a 401, got %v", err)
	}
	g.noSecret(t, err)
	_, err = g.report.Ledgers(ctx)
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Fatalf("ledgers: want a 401, got %v", err)
	}
	g.noSecret(t, err)
	wrongKey := g.client(t, reportapi.Config{SubscriptionKey: "another-key-entirely"})
	_, _, err = wrongKey.Day(ctx, ledgerA, reportapi.TopicFunds, "2026-03-02")
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || strings.Contains(err.Error(), "another-key-entirely") {
		t.Fatalf("wrong subscription key: %v", err)
	}
	renewing := g.client(t, reportapi.Config{SubscriptionKey: subKey, Refused: func(tok string) {
		_, _, _ = g.vipps.AccessToken(ctx, epayment.Secret(tok)) // drops it, fetches a new one
	}})
	if rows, closed, err := renewing.Day(ctx, ledgerA, reportapi.TopicFunds, "2026-03-02"); err != nil || !closed || len(rows) != 6 {
		t.Fatalf("with Refused, a refused token is renewed: %d rows, closed %v, err %v", len(rows), closed, err)
	}
	noToken := g.client(t, reportapi.Config{Token: func(context.Context) (string, error) { return "", errors.New("broker down") }})
	if _, err := noToken.Ledgers(ctx); err == nil || !strings.Contains(err.Error(), "broker down") {
		t.Fatalf("token error: %v", err)
	}
}
