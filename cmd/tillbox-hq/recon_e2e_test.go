package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/recon"
	"github.com/tillbox/tillbox/display/browsertest"
	"github.com/tillbox/tillbox/display/technician"
	"github.com/tillbox/tillbox/store"
)

const reconPassword = "recon-password-1"

// reconShop is the sales unit's side of the test: the simulator (its
// clock steered by the test) and a client of its ePayment API.
type reconShop struct {
	t      *testing.T
	sim    *sim.Server
	clock  *clock.Fake
	url    string
	client *epayment.Client
	n      int
}

// pay makes a sale of amount at the simulator's time and captures it all.
func (s *reconShop) pay(ref string, amount int64) time.Time {
	s.t.Helper()
	ctx := context.Background()
	s.n++
	amt := epayment.Amount{Currency: "NOK", Value: amount}
	_, err := s.client.CreatePayment(ctx, fmt.Sprintf("create-%d", s.n), &epayment.CreatePaymentRequest{Amount: amt,
		Customer: &epayment.Customer{PhoneNumber: "4712345678"}, PaymentMethod: epayment.PaymentMethod{Type: "WALLET"},
		Reference: ref, UserFlow: "PUSH_MESSAGE", PaymentDescription: "recon test"})
	if err == nil {
		err = s.client.ForceApprove(ctx, ref, &epayment.ForceApproveRequest{Customer: &epayment.Customer{PhoneNumber: "4712345678"}})
	}
	if err == nil {
		_, err = s.client.CapturePayment(ctx, fmt.Sprintf("capture-%d", s.n), ref, amt)
	}
	if err != nil {
		s.t.Fatalf("sale %s: %v", ref, err)
	}
	return s.clock.Now()
}

// refund refunds amount of ref at the simulator's time.
func (s *reconShop) refund(ref string, amount int64) time.Time {
	s.t.Helper()
	s.n++
	if _, err := s.client.RefundPayment(context.Background(), fmt.Sprintf("refund-%d", s.n), ref,
		epayment.Amount{Currency: "NOK", Value: amount}); err != nil {
		s.t.Fatalf("refund %s: %v", ref, err)
	}
	return s.clock.Now()
}

// until moves the simulator's clock to t.
func (s *reconShop) until(t time.Time) {
	if d := t.Sub(s.clock.Now()); d > 0 {
		s.clock.Advance(d)
	}
}

func (s *reconShop) plant(p sim.ReportPlant) {
	s.t.Helper()
	p.MSN = testMSN
	if _, err := s.sim.PlantReport(p); err != nil {
		s.t.Fatalf("plant %+v: %v", p, err)
	}
}

// journal adds a "sale" event to the box's log: ref's money as of at.
func (b *box) journal(t testing.TB, ref string, amount, captured, refunded int64, created, at time.Time) {
	t.Helper()
	state := agent.Completed
	if refunded > 0 {
		state = agent.Refunded
	}
	s := agent.Sale{Reference: ref, Till: b.till.Till, Amount: amount, Currency: "NOK", Description: "recon test",
		State: state, Outcome: true, Aggregate: agent.Aggregate{Authorized: amount, Captured: captured, Refunded: refunded},
		CreatedAt: created, UpdatedAt: at, FinishedAt: at}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(store.Event{Seq: uint64(len(b.events) + 1), Reference: ref, Kind: "sale",
		State: string(state), Data: data, At: at})
	if err != nil {
		t.Fatal(err)
	}
	b.events = append(b.events, body)
}

// startReconHQ is startHQ with the reconciliation's token source.
func startReconHQ(t *testing.T, path string, token ReconToken) *hq {
	t.Helper()
	c, err := hqconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	m := &Main{Config: c, Stdout: io.Discard, LogOut: log, ready: make(chan struct{}), ReconToken: token}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("tillbox-hq did not start: %v\n%s", err, log.String())
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("tillbox-hq: %v", err)
		}
		if t.Failed() {
			t.Logf("tillbox-hq's log:\n%s", log.String())
		}
	})
	return &hq{m: m, log: log, stop: stop}
}

// reconRig is TestReconciliation's chain: the simulator, NATS,
// PostgreSQL and headquarters, with a reconciled day and the one before.
type reconRig struct {
	h           *hq
	rs          recon.Store
	path        string // headquarters' configuration
	token       ReconToken
	tokens      *sync.Map // every token handed out
	day, before string    // YYYY-MM-DD
}

// TestReconciliation: a chain's day against the simulator's Report API, on
// loopback with real parts — the simulator's ePayment and Report APIs,
// NATS, PostgreSQL, headquarters' journal ingest and its periodic
// reconciliation — with planted differences: a capture the ledger lacks,
// a ledger entry no till journaled, an amount off by one øre and a refund
// on another day than its capture. Each is found, nothing else is
// flagged; the fee and the payout are the ledger's; the fleet page shows
// it on a phone and a desktop with the drill-down to the sale; the CSV
// parses back; /metrics has the unmatched series; `tillbox-hq recon
// --day` runs the day again with the same result; no token in the log.
func TestReconciliation(t *testing.T) {
	x := startReconRig(t)
	t.Run("periodic", x.checkDay)
	t.Run("metrics", x.checkMetrics)
	t.Run("csv", x.checkCSV)
	for _, width := range []int64{390, 1280} {
		t.Run(fmt.Sprintf("page at %d px", width), func(t *testing.T) { reconPage(t, x.h.URL(), x.day, width) })
	}
	t.Run("command", x.checkCommand)
	t.Run("secrets", x.checkSecrets)
}

// startReconRig makes the chain and its days, ships the tills' journals
// and waits for headquarters' periodic reconciliation of both days.
func startReconRig(t *testing.T) *reconRig {
	loc, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	// The day is yesterday in Oslo, its capture's day the one before: both
	// in the past, so the periodic run (on the real clock) sees them; four
	// days back, should midnight pass during the test.
	now := time.Now().In(loc)
	day := time.Date(now.Year(), now.Month(), now.Day()-1, 0, 0, 0, 0, loc)
	before := day.AddDate(0, 0, -1)
	x := &reconRig{day: day.Format(time.DateOnly), before: before.Format(time.DateOnly), tokens: &sync.Map{}}

	fake := clock.NewFake(before.Add(13 * time.Hour))
	simSrv := sim.New(sim.Options{Clock: fake, MSN: testMSN, TokenLifetime: 30 * 24 * time.Hour, Retention: -1,
		ReportLag: -1, ClientSecret: "recon-client-secret"})
	hs := httptest.NewServer(simSrv)
	t.Cleanup(func() { hs.Close(); _ = simSrv.Close() })
	client, err := epayment.New(epayment.Config{BaseURL: hs.URL, ClientID: "0f2b6c1e-3d4a-4b5c-8d9e-0a1b2c3d4e5f",
		ClientSecret: "recon-client-secret", SubscriptionKey: "recon-subscription-key", MSN: testMSN})
	if err != nil {
		t.Fatal(err)
	}
	shop := &reconShop{t: t, sim: simSrv, clock: fake, url: hs.URL, client: client}

	t1, t2 := tillOf("oslo", "t1"), tillOf("oslo", "t2")
	pg, ns := startPG(t), startNATS(t, t1, t2)
	hash, err := technician.HashPassword(reconPassword)
	if err != nil {
		t.Fatal(err)
	}
	x.path = writeConfig(t, pg.DSN(), ns, 1, fmt.Sprintf(`[recon]
every = "1s"
grace = "1h"
days = 4
base_url = %q

[[user]]
name = "accountant"
password_hash = %q
`, hs.URL, hash))
	var open atomic.Bool // the Report API's token is handed out once the journal is in
	x.token = func(ctx context.Context, msn, refused string) (string, error) {
		if !open.Load() {
			return "", errors.New("not yet: the journal is on its way")
		}
		if msn != testMSN {
			return "", fmt.Errorf("no credentials for %s", msn)
		}
		tok, _, err := client.AccessToken(ctx, epayment.Secret(refused))
		x.tokens.Store(tok.Reveal(), true)
		return tok.Reveal(), err
	}
	x.h = startReconHQ(t, x.path, x.token)
	_, js := ns.hqClient(t)
	waitStreams(t, js)
	b1, b2 := newBox(t, ns, t1), newBox(t, ns, t2)
	b1.heartbeat(t, 0)
	b2.heartbeat(t, 0)
	reconDays(shop, b1, b2, day)

	b1.mustShip(t, 1)
	b2.mustShip(t, 1)
	db := pgConn(t, pg.DSN())
	waitFor(t, 30*time.Second, "the journal at headquarters", func() bool {
		return countEvents(db, t1) == len(b1.events) && countEvents(db, t2) == len(b2.events)
	})
	opened := time.Now()
	open.Store(true)
	x.rs = recon.Store{Pool: pgxPool(t, pg.DSN()), Chain: testChain}
	waitFor(t, 30*time.Second, "the periodic reconciliation of the day", func() bool {
		ss, err := x.rs.Summaries(context.Background(), x.before, x.day, "")
		return err == nil && len(ss) == 2 && ss[0].RunAt.After(opened) && ss[1].RunAt.After(opened)
	})
	return x
}

// reconDays makes the sales at the simulator and journals them at the
// tills: the day before, sale x captured; on the day, sales a, b (the
// ledger loses it), c (the ledger says one øre less), x's refund, and a
// ledger row of a reference no till made. The simulator's clock ends now.
func reconDays(shop *reconShop, b1, b2 *box, day time.Time) {
	t := shop.t
	x := shop.pay("oslo-t1-1", 3000)
	b1.journal(t, "oslo-t1-1", 3000, 3000, 0, x, x)
	shop.until(day.Add(10 * time.Hour))
	a := shop.pay("oslo-t1-2", 10000)
	b1.journal(t, "oslo-t1-2", 10000, 10000, 0, a, a)
	shop.until(day.Add(10*time.Hour + 30*time.Minute))
	bt := shop.pay("oslo-t1-3", 5000)
	b1.journal(t, "oslo-t1-3", 5000, 5000, 0, bt, bt)
	shop.until(day.Add(11 * time.Hour))
	ct := shop.pay("oslo-t2-1", 2500)
	b2.journal(t, "oslo-t2-1", 2500, 2500, 0, ct, ct)
	shop.until(day.Add(12 * time.Hour))
	r := shop.refund("oslo-t1-1", 1000)
	b1.journal(t, "oslo-t1-1", 3000, 3000, 1000, x, r)
	added := day.Add(12*time.Hour + 30*time.Minute)
	shop.plant(sim.ReportPlant{Action: "drop", Reference: "oslo-t1-3"})
	shop.plant(sim.ReportPlant{Action: "amount", Reference: "oslo-t2-1", EntryType: "capture", Amount: 2499})
	shop.plant(sim.ReportPlant{Action: "add", Reference: "oslo-t1-99", EntryType: "capture", Amount: 700, Time: &added})
	shop.until(time.Now()) // the day closes
}

// checkDay: the day's lines, the day before's, and the ledger's figures.
func (x *reconRig) checkDay(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ls, err := x.rs.Lines(ctx, x.day, "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := "oslo-t1-1:matched:0 oslo-t1-2:matched:0 oslo-t1-3:missing_on_ledger:5000 " +
		"oslo-t1-99:missing_in_journal:-700 oslo-t2-1:amount_differs:1"
	if got := reconLines(ls); got != want {
		t.Errorf("the day's lines:\n got %s\nwant %s", got, want)
	}
	ls, err = x.rs.Lines(ctx, x.before, "", "")
	if got := reconLines(ls); err != nil || got != "oslo-t1-1:matched:0" {
		t.Errorf("the day before: %s %v", got, err)
	}
	ss, err := x.rs.Summaries(ctx, x.day, x.day, "oslo")
	if err != nil || len(ss) != 1 {
		t.Fatalf("%+v %v", ss, err)
	}
	s, fee := ss[0], func(a int64) int64 { return (a*175 + 5000) / 10000 }
	if !s.Closed || s.LedgerCaptured != 10000+2499+700 || s.LedgerRefunded != 1000 ||
		s.Fee != fee(10000)+fee(2500)+fee(700) || s.Payout != s.Net() {
		t.Errorf("the day's ledger: %+v (fee %d)", s, fee(10000)+fee(2500)+fee(700))
	}
}

func (x *reconRig) checkMetrics(t *testing.T) {
	_, body := get(t, x.h.URL()+"/metrics")
	for _, want := range []string{
		`tillbox_hq_recon_unmatched{kind="missing_on_ledger",store="oslo"} 1`,
		`tillbox_hq_recon_unmatched{kind="missing_in_journal",store="oslo"} 1`,
		`tillbox_hq_recon_unmatched{kind="amount_differs",store="oslo"} 1`,
		`tillbox_hq_recon_unmatched_amount{kind="missing_on_ledger",store="oslo"} 5000`,
		`tillbox_hq_recon_unmatched_amount{kind="missing_in_journal",store="oslo"} 700`,
		`tillbox_hq_recon_unmatched_amount{kind="amount_differs",store="oslo"} 1`,
		`tillbox_hq_recon_scrape_ok 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "tillbox_hq_recon_last_run_timestamp_seconds 0\n") {
		t.Error("the last run's time is 0")
	}
}

func (x *reconRig) checkCSV(t *testing.T) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(x.h.URL()+"/login", url.Values{"name": {"accountant"}, "password": {reconPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.Get(x.h.URL() + "/recon.csv?" + url.Values{"day": {x.day}, "store": {"oslo"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 || !slices.Equal(recs[0], recon.CSVHeader) {
		t.Fatalf("%q", recs)
	}
	byRef := map[string][]string{}
	for _, r := range recs[1:] {
		byRef[r[4]] = r
	}
	if r := byRef["oslo-t2-1"]; r[5] != recon.AmountDiffers || r[7] != "2500" || r[9] != "2499" || r[11] != "1" || r[14] != "0.01" {
		t.Errorf("the amount off by one øre: %q", r)
	}
	if r := byRef["oslo-t1-99"]; r[5] != recon.MissingInJournal || r[13] != "7.00" || r[14] != "-7.00" {
		t.Errorf("the ledger row no till journaled: %q", r)
	}
	if r := byRef["oslo-t1-1"]; r[5] != recon.Matched || r[8] != "1000" || r[10] != "1000" || r[12] != "-10.00" {
		t.Errorf("the refund on another day: %q", r)
	}
}

// checkCommand: `tillbox-hq recon --day` runs the day again, same result.
func (x *reconRig) checkCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runReconCmd(context.Background(), []string{"--config", x.path, "--day", x.day}, &out, &errOut, x.token); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"missing_on_ledger oslo-t1-3 oslo/t1 difference 50.00",
		"missing_in_journal oslo-t1-99 oslo/t1 difference -7.00", "amount_differs oslo-t2-1 oslo/t2 difference 0.01"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the command's output lacks %q:\n%s", want, out.String())
		}
	}
	x.checkDay(t) // replaced by the same
}

// checkSecrets: no token handed out and not the client secret is in
// headquarters' log.
func (x *reconRig) checkSecrets(t *testing.T) {
	n := 0
	x.tokens.Range(func(k, _ any) bool {
		n++
		if s := k.(string); s != "" && strings.Contains(x.h.log.String(), s) {
			t.Error("a Report API token is in headquarters' log")
		}
		return true
	})
	if n == 0 {
		t.Error("no token was handed out")
	}
	if strings.Contains(x.h.log.String(), "recon-client-secret") {
		t.Error("the client secret is in headquarters' log")
	}
}

// reconLines is lines as "reference:kind:difference", sorted.
func reconLines(ls []recon.Line) string {
	var s []string
	for _, l := range ls {
		s = append(s, fmt.Sprintf("%s:%s:%d", l.Reference, l.Kind, l.Difference))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

func pgxPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	db, err := hqdb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db.Pool()
}

// reconSeen is what the browser shows of the reconciliation.
type reconSeen struct {
	Days        map[string]map[string]string // day → kind → count
	Lines       map[string]string            // reference → kind
	ScrollWidth int
	Outside     []string
}

const reconSeenJS = `JSON.stringify((() => {
  const s = {Days: {}, Lines: {}, ScrollWidth: document.documentElement.scrollWidth, Outside: []};
  for (const el of document.querySelectorAll('section.recon-day')) {
    const k = {};
    for (const li of el.querySelectorAll('li[data-kind]')) k[li.dataset.kind] = li.dataset.count;
    s.Days[el.dataset.day] = k;
  }
  for (const el of document.querySelectorAll('article.recon-line')) s.Lines[el.dataset.reference] = el.dataset.kind;
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.left < -0.5 || r.right > innerWidth + 0.5)) s.Outside.push(el.tagName + '.' + el.className);
  }
  return s;
})())`

func readReconSeen(t *testing.T, tab context.Context, width int64) reconSeen {
	t.Helper()
	var s reconSeen
	if err := json.Unmarshal([]byte(browsertest.Eval[string](t, tab, reconSeenJS)), &s); err != nil {
		t.Fatal(err)
	}
	if s.ScrollWidth > int(width) || len(s.Outside) > 0 {
		t.Errorf("wider than %d px: %d, %v", width, s.ScrollWidth, s.Outside)
	}
	return s
}

// reconPage logs in at width px, opens the reconciliation from the menu,
// the day's lines and a sale.
func reconPage(t *testing.T, base, day string, width int64) {
	var opts []chromedp.Action[chromedp.Void]
	if width < 500 {
		opts = append(opts, chromedp.EmulateViewport(width, 844, chromedp.EmulateMobile))
	} else {
		opts = append(opts, chromedp.EmulateViewport(width, 900))
	}
	tab := browsertest.Open(t, browsertest.New(t), base+"/", opts...)
	browsertest.WaitJS(t, tab, "the login form", `document.getElementById('password') !== null`)
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#name"), "accountant"),
		chromedp.SendKeys(chromedp.CSS("#password"), reconPassword), browsertest.Click("button[type=submit]")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the menu", `document.getElementById('recon-link') !== null`)
	if err := chromedp.Do(tab, browsertest.Click("#recon-link")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the days", `document.querySelector('section.recon-day[data-day="`+day+`"]') !== null`)
	s := readReconSeen(t, tab, width)
	if got := s.Days[day]; got["matched"] != "2" || got["missing_on_ledger"] != "1" || got["missing_in_journal"] != "1" ||
		got["amount_differs"] != "1" || got["pending"] != "0" {
		t.Errorf("the day's counts: %v", got)
	}
	if err := chromedp.Do(tab, browsertest.Click(`section.recon-day[data-day="`+day+`"] a.lines-link`)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the lines", `document.getElementById('lines') !== null`)
	s = readReconSeen(t, tab, width)
	want := map[string]string{"oslo-t1-1": "matched", "oslo-t1-2": "matched", "oslo-t1-3": "missing_on_ledger",
		"oslo-t1-99": "missing_in_journal", "oslo-t2-1": "amount_differs"}
	if fmt.Sprint(s.Lines) != fmt.Sprint(want) {
		t.Errorf("lines %v, want %v", s.Lines, want)
	}
	if err := chromedp.Do(tab, browsertest.Click(`article.recon-line[data-reference="oslo-t2-1"] h3 a`)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, tab, "the sale", `document.getElementById('sale') !== null`)
	readReconSeen(t, tab, width)
	text := browsertest.Eval[string](t, tab, `document.querySelector('main').innerText`)
	if !strings.Contains(text, "oslo-t2-1") || !strings.Contains(text, "25,00") {
		t.Errorf("the sale's page: %s", text)
	}
}
