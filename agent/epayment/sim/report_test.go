package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Oslo also on a machine without the zone database
)

func init() {
	wantCoverage[opGetLedgers] = []int{200, 401}
	wantCoverage["GET /report/v2/ledgers/{ledgerId}/{topic}/dates/{ledgerDate}"] = []int{200, 400, 401, 403, 404, 500}
	wantCoverage["GET /report/v2/ledgers/{ledgerId}/{topic}/feed"] = []int{200, 401}
}

// reportDay fetches every page of a ledger date and checks each page's shape;
// it returns the rows, whether any page said tryLater, and the page count.
func (g *rig) reportDay(ledger, topic, date string) (rows []bookRow, tryLater bool, pages int) {
	g.t.Helper()
	path := "/report/v2/ledgers/" + ledger + "/" + topic + "/dates/" + date
	cursor := ""
	for {
		q := ""
		if cursor != "" {
			q = "?cursor=" + url.QueryEscape(cursor)
		}
		var p reportPage
		g.call("GET", path+q, nil).want(http.StatusOK).decode(&p)
		pages++
		rows = append(rows, p.Items...)
		tryLater = tryLater || p.TryLater
		if p.HasMore == nil {
			g.t.Fatalf("%s: no hasMore", path)
		}
		if !*p.HasMore {
			if p.Cursor != "" {
				g.t.Fatalf("%s: a cursor without hasMore", path)
			}
			return rows, tryLater, pages
		}
		cursor = p.Cursor
	}
}

// plant posts a planted difference through the control API.
func (g *rig) plant(p ReportPlant) ReportPlanted {
	g.t.Helper()
	b, _ := json.Marshal(p)
	resp, err := g.raw.Post(g.srv.URL+"/sim/report/plant", "application/json", bytes.NewReader(b))
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out ReportPlanted
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		g.t.Fatalf("plant %+v: status %d", p, resp.StatusCode)
	}
	return out
}

// sale creates, approves and captures a payment; refund > 0 refunds part.
func (g *rig) sale(ref string, amount, refund int64) {
	g.t.Helper()
	g.create(ref, amount)
	g.approve(ref)
	g.capture(ref, newKey(), amount).want(http.StatusOK)
	if refund > 0 {
		g.refund(ref, newKey(), refund).want(http.StatusOK)
	}
}

func (g *rig) advanceTo(t time.Time) {
	g.t.Helper()
	if d := t.Sub(g.clock.Now()); d > 0 {
		g.clock.Advance(d)
	}
}

// summary renders rows as "type reference amount before>after" lines.
func summary(rows []bookRow) string {
	var b bytes.Buffer
	for _, r := range rows {
		fmt.Fprintf(&b, "%s %s %d %d>%d %s\n", r.EntryType, r.Reference, r.Amount, r.BalanceBefore, r.BalanceAfter, r.LedgerDate)
	}
	return b.String()
}

func TestReportAPI(t *testing.T) {
	// testStart is 2026-03-02 10:00 UTC, 11:00 in Oslo (CET): the ledger date
	// 2026-03-02 ends at 23:00 UTC and, with the 2 h lag, closes at 01:00 UTC.
	g := newRig(t, Options{TokenLifetime: 30 * 24 * time.Hour, ReportPageSize: 2, ReportFee: &ReportFee{BasisPoints: 175, Fixed: 100}})
	g.sale("report-a-0001", 10000, 400)
	g.clock.Advance(time.Minute)
	g.sale("report-b-0002", 25000, 0)
	for _, msn := range []string{"223344", "334455"} { // two more MSNs, two more ledgers
		g.call("POST", "/epayment/v1/payments", createBody("report-x-"+msn, 1000, phone("4712345678")),
			"Idempotency-Key", newKey(), "Merchant-Serial-Number", msn).want(http.StatusCreated)
	}
	ledger := ""
	for _, l := range g.sim.Ledgers() {
		if l.MSN == testMSN {
			ledger = l.LedgerID
		}
	}
	day := "/report/v2/ledgers/" + ledger + "/funds/dates/"

	t.Run("ledgers, every page", func(t *testing.T) {
		g := g.sub(t)
		var p1, p2 ledgersPage
		g.call("GET", "/settlement/v1/ledgers", nil).want(http.StatusOK).decode(&p1)
		if len(p1.Items) != 2 || p1.Cursor == "" {
			t.Fatalf("first page: %+v", p1)
		}
		g.call("GET", "/settlement/v1/ledgers?cursor="+url.QueryEscape(p1.Cursor), nil).want(http.StatusOK).decode(&p2)
		if len(p2.Items) != 1 || p2.Cursor != "" {
			t.Fatalf("second page: %+v", p2)
		}
		if h := p1.Items[0].SettlesForRecipientHandles; p1.Items[0].LedgerID != ledger || len(h) != 1 || h[0] != "api:"+testMSN || p1.Items[0].Currency != "NOK" {
			t.Fatalf("first ledger: %+v", p1.Items[0])
		}
		var f ledgersPage
		g.call("GET", "/settlement/v1/ledgers?settlesForRecipientHandles=api:334455", nil).want(http.StatusOK).decode(&f)
		if len(f.Items) != 1 || f.Items[0].SettlesForRecipientHandles[0] != "api:334455" {
			t.Fatalf("filtered: %+v", f)
		}
	})

	t.Run("lag, open date, future date", func(t *testing.T) {
		g := g.sub(t)
		rows, tryLater, _ := g.reportDay(ledger, "funds", "2026-03-02")
		if len(rows) != 0 || !tryLater {
			t.Fatalf("before the lag: rows %d, tryLater %v", len(rows), tryLater)
		}
		g.call("GET", day+"2026-03-03", nil).want(http.StatusNotFound)
		g.clock.Advance(2 * time.Hour)
		rows, tryLater, pages := g.reportDay(ledger, "funds", "2026-03-02")
		want := "capture report-a-0001 10000 0>10000 2026-03-02\nrefund report-a-0001 -400 10000>9600 2026-03-02\ncapture report-b-0002 25000 9600>34600 2026-03-02\n"
		if got := summary(rows); got != want || !tryLater || pages != 2 {
			t.Fatalf("open date after the lag (tryLater %v, %d pages):\n%s\nwant\n%s", tryLater, pages, got, want)
		}
		if rows[0].PSPReference == "" || rows[0].RecipientHandle != "api:"+testMSN || rows[0].Currency != "NOK" {
			t.Fatalf("row: %+v", rows[0])
		}
	})

	t.Run("closed date: fees and payout", func(t *testing.T) { reportClosed(t, g.sub(t), ledger) })

	t.Run("feed", func(t *testing.T) {
		g := g.sub(t)
		var rows []bookRow
		cursor := ""
		for i := 0; ; i++ {
			var p reportPage
			g.call("GET", "/report/v2/ledgers/"+ledger+"/funds/feed?cursor="+url.QueryEscape(cursor), nil).want(http.StatusOK).decode(&p)
			if p.Cursor == "" || p.HasMore != nil {
				t.Fatalf("feed page: %+v", p)
			}
			rows = append(rows, p.Items...)
			cursor = p.Cursor
			if p.TryLater {
				break
			}
			if i > 10 {
				t.Fatal("the feed does not end")
			}
		}
		if len(rows) != 5 || rows[4].EntryType != entryPayout {
			t.Fatalf("feed:\n%s", summary(rows))
		}
	})

	t.Run("planted differences", func(t *testing.T) { reportPlanted(t, g.sub(t), ledger) })

	t.Run("errors", func(t *testing.T) { reportErrors(t, g.sub(t), ledger, day) })

	t.Run("the ledger outlives the payments", func(t *testing.T) {
		g := g.sub(t)
		g.clock.Advance(48 * time.Hour)
		g.sale("report-e-0005", 1000, 0) // a call, so the retention sweep runs
		if len(g.sim.ListPayments(PaymentFilter{Reference: "report-a-0001"})) != 0 {
			t.Fatal("the payment was kept past its retention")
		}
		if rows, _, _ := g.reportDay(ledger, "funds", "2026-03-02"); len(rows) != 5 {
			t.Fatalf("after retention:\n%s", summary(rows))
		}
	})
}

func TestLedgerZone(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range []ledgerZone{{loc: oslo}, {}} { // the database and the built-in rule agree
		for _, c := range []struct{ at, date string }{
			{"2026-03-02T22:59:59Z", "2026-03-02"}, {"2026-03-02T23:00:00Z", "2026-03-03"},
			{"2026-07-01T21:59:59Z", "2026-07-01"}, {"2026-07-01T22:00:00Z", "2026-07-02"},
			{"2026-03-29T00:59:00Z", "2026-03-29"}, {"2026-10-25T22:30:00Z", "2026-10-25"},
		} {
			at, _ := time.Parse(time.RFC3339, c.at)
			if got := z.date(at); got != c.date {
				t.Errorf("zone %v: date(%s) = %s, want %s", z.loc, c.at, got, c.date)
			}
		}
		for d, want := range map[string]string{
			"2026-03-02": "2026-03-01T23:00:00Z", "2026-07-02": "2026-07-01T22:00:00Z",
			"2026-03-29": "2026-03-28T23:00:00Z", "2026-03-30": "2026-03-29T22:00:00Z",
			"2026-10-26": "2026-10-25T23:00:00Z",
		} {
			if got := z.start(d).Format(time.RFC3339); got != want {
				t.Errorf("zone %v: start(%s) = %s, want %s", z.loc, d, got, want)
			}
		}
	}
}

func TestReportLedgerKeepsDays(t *testing.T) {
	g := newRig(t, Options{MSN: testMSN, TokenLifetime: 30 * 24 * time.Hour, ReportKeepDays: 2, ReportLag: -1, ReportFee: &ReportFee{}})
	g.sale("keep-a-0001", 1000, 0)
	// A refund bigger than the day's captures: the balance goes negative and
	// is carried, not paid out.
	g.plant(ReportPlant{Action: "add", Reference: "keep-z-0001", EntryType: "refund", Amount: -5000})
	if rows, tryLater, _ := g.reportDay(g.sim.Ledgers()[0].LedgerID, "funds", "2026-03-02"); len(rows) != 2 || !tryLater || rows[1].BalanceAfter != -4000 {
		t.Fatalf("first day:\n%s", summary(rows))
	}
	g.clock.Advance(4 * 24 * time.Hour)
	g.sale("keep-b-0002", 3000, 0) // the day's first row prunes the old dates
	ledger := g.sim.Ledgers()[0].LedgerID
	if rows, tryLater, _ := g.reportDay(ledger, "funds", "2026-03-02"); len(rows) != 0 || tryLater {
		t.Fatalf("a pruned date: tryLater %v\n%s", tryLater, summary(rows))
	}
	g.sim.mu.Lock()
	n := len(g.sim.report.entries)
	g.sim.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d entries kept, want 1", n)
	}
	rows, _, _ := g.reportDay(ledger, "funds", "2026-03-06")
	if len(rows) != 1 || rows[0].BalanceBefore != -4000 || rows[0].BalanceAfter != -1000 {
		t.Fatalf("the carried balance:\n%s", summary(rows))
	}
}

// reportPlanted: each planted difference shows on the ledger.
func reportPlanted(t *testing.T, g *rig, ledger string) {
	g.sale("report-c-0003", 5000, 0)
	g.sale("report-d-0004", 7000, 700)
	g.plant(ReportPlant{MSN: testMSN, Action: "drop", Reference: "report-c-0003"})
	added := g.plant(ReportPlant{MSN: testMSN, Action: "add", Reference: "report-z-9999", Amount: 1234})
	g.plant(ReportPlant{MSN: testMSN, Action: "amount", Reference: "report-d-0004", EntryType: "capture", Amount: 6999})
	g.plant(ReportPlant{MSN: testMSN, Action: "move", Reference: "report-d-0004", EntryType: "refund", LedgerDate: "2026-03-04"})
	if added.PSPReference == "" || added.LedgerID != ledger {
		t.Fatalf("added: %+v", added)
	}
	g.advanceTo(time.Date(2026, 3, 5, 2, 0, 0, 0, time.UTC))
	rows, _, _ := g.reportDay(ledger, "funds", "2026-03-03")
	got := summary(rows)
	want := "capture report-d-0004 6999 0>6999 2026-03-03\ncapture report-z-9999 1234 6999>8233 2026-03-03\n"
	if len(rows) < 2 || summary(rows[:2]) != want {
		t.Fatalf("planted day:\n%s\nwant first\n%s", got, want)
	}
	moved, _, _ := g.reportDay(ledger, "funds", "2026-03-04")
	if len(moved) != 1 || moved[0].EntryType != entryRefund || moved[0].Amount != -700 || moved[0].BalanceBefore != 0 {
		t.Fatalf("moved refund:\n%s", summary(moved))
	}
}

// reportErrors: 401, 403, 400 and an injected 500, each in the spec's shape.
func reportErrors(t *testing.T, g *rig, ledger, day string) {
	g.rawCall("GET", day+"2026-03-02", nil, "Authorization", "Bearer not-a-token").want(http.StatusUnauthorized)
	g.rawCall("GET", "/report/v2/ledgers/"+ledger+"/fees/feed", nil, "Authorization", "-").want(http.StatusUnauthorized)
	g.rawCall("GET", "/settlement/v1/ledgers", nil, "Authorization", "Bearer not-a-token").want(http.StatusUnauthorized)
	g.call("GET", "/report/v2/ledgers/999/funds/dates/2026-03-02", nil).want(http.StatusForbidden)
	g.call("GET", day+"2026-03-02?cursor=bm90LWEtY3Vyc29y", nil).want(http.StatusBadRequest)
	g.call("GET", day+"2026-03-02", nil, "Ocp-Apim-Subscription-Key", "-").want(http.StatusOK)
	for i := 0; ; i++ { // an injected 5xx is 500, 502 or 503: until a 500
		g.sim.SetFault(Fault{Endpoint: opReportByDate, Status5xx: 1, Count: 1})
		if r := g.call("GET", day+"2026-03-02", nil); r.Status == http.StatusInternalServerError {
			break
		} else if r.Status < 500 || i > 50 {
			t.Fatalf("fault: %d", r.Status)
		}
	}
}

// reportClosed: a closed date has the day's fees and payout, in funds and fees.
func reportClosed(t *testing.T, g *rig, ledger string) {
	g.advanceTo(time.Date(2026, 3, 3, 0, 59, 0, 0, time.UTC))
	if _, tryLater, _ := g.reportDay(ledger, "funds", "2026-03-02"); !tryLater {
		t.Fatal("closed before cutoff + lag")
	}
	g.advanceTo(time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC))
	rows, tryLater, _ := g.reportDay(ledger, "funds", "2026-03-02")
	// fees: 10000*1.75% + 1 kr = 275, 25000*1.75% + 1 kr = 538 (437.5 rounded up + 100)
	want := "capture report-a-0001 10000 0>10000 2026-03-02\nrefund report-a-0001 -400 10000>9600 2026-03-02\ncapture report-b-0002 25000 9600>34600 2026-03-02\n" +
		"fees-retained  -813 34600>33787 2026-03-02\nscheduled-for-payout  -33787 33787>0 2026-03-02\n"
	if got := summary(rows); got != want || tryLater {
		t.Fatalf("closed date (tryLater %v):\n%s\nwant\n%s", tryLater, got, want)
	}
	fees, _, _ := g.reportDay(ledger, "fees", "2026-03-02")
	want = "capture-fee report-a-0001 275 0>275 2026-03-02\ncapture-fee report-b-0002 538 275>813 2026-03-02\nfees-retained  -813 813>0 2026-03-02\n"
	if got := summary(fees); got != want {
		t.Fatalf("fees:\n%s\nwant\n%s", got, want)
	}
}
