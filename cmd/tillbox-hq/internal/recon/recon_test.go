package recon_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/recon"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

// msn is the sales unit of the tests.
const msn = "123456"

var oslo = mustLoad("Europe/Oslo")

func mustLoad(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// at is a time on a day of December 2026 in Oslo.
func at(day, hour, minute int) time.Time { return time.Date(2026, 12, day, hour, minute, 0, 0, oslo) }

// linesOf is the lines as "reference:kind:difference", sorted.
func linesOf(ls []recon.Line) string {
	var s []string
	for _, l := range ls {
		s = append(s, fmt.Sprintf("%s:%s:%d", l.Reference, l.Kind, l.Difference))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// TestReconcile: on a real PostgreSQL, a day with a capture the ledger
// lacks, a ledger entry no till journaled, an amount off by one øre and a
// refund on another day than its capture: each found, nothing else
// flagged; a capture younger than the grace period is pending, and called
// missing by a later run that replaces the earlier one; the fee, payout,
// summaries, the sale's drill-down, the CSV and the unmatched figures.
func TestReconcile(t *testing.T) {
	db := openDB(t)
	t1 := newBox(t, db, wire.Till{Chain: "acme", Store: "oslo", Till: "t1"}, msn)
	t2 := newBox(t, db, wire.Till{Chain: "acme", Store: "oslo", Till: "t2"}, msn)
	newBox(t, db, wire.Till{Chain: "acme", Store: "bergen", Till: "t1"}, "654321").
		sale("bergen-t1-1", 4000, 4000, 0, at(7, 10, 0), at(7, 10, 0)) // another MSN: not in oslo's day

	// Day 6: sale 1 captured (refunded on day 7).
	t1.sale("oslo-t1-1", 3000, 3000, 0, at(6, 15, 0), at(6, 15, 1))
	// Day 7.
	t1.sale("oslo-t1-2", 10000, 10000, 0, at(7, 9, 0), at(7, 9, 1))    // matched
	t1.sale("oslo-t1-3", 5000, 5000, 0, at(7, 10, 0), at(7, 10, 1))    // missing on the ledger
	t2.sale("oslo-t2-1", 2500, 2500, 0, at(7, 11, 0), at(7, 11, 1))    // off by one øre
	t1.sale("oslo-t1-1", 3000, 3000, 1000, at(6, 15, 0), at(7, 12, 0)) // the refund of day 6's sale
	t2.sale("oslo-t2-2", 800, 800, 0, at(7, 23, 30), at(7, 23, 31))    // late: pending at first
	t2.sale("oslo-t2-3", 900, 0, 0, at(7, 13, 0), at(7, 13, 1))        // nothing captured: not a line

	rep := &fakeReport{ledger: recon.Ledger{ID: "L1", Currency: "NOK", MSNs: []string{msn}},
		closed: map[string]bool{"2026-12-06": true, "2026-12-07": true},
		days: map[string][]recon.Row{
			"2026-12-06": {{Reference: "oslo-t1-1", EntryType: recon.EntryCapture, Currency: "NOK", Amount: 3000}},
			"2026-12-07": {
				{Reference: "oslo-t1-2", EntryType: recon.EntryCapture, Currency: "NOK", Amount: 10000},
				{Reference: "oslo-t2-1", EntryType: recon.EntryCapture, Currency: "NOK", Amount: 2499},
				{Reference: "oslo-t1-1", EntryType: recon.EntryRefund, Currency: "NOK", Amount: -1000},
				{Reference: "oslo-t2-2", EntryType: recon.EntryCapture, Currency: "NOK", Amount: 0}, // dropped below
				{Reference: "oslo-t1-99", EntryType: recon.EntryCapture, Currency: "NOK", Amount: 700},
				{EntryType: recon.EntryFeesRetained, Currency: "NOK", Amount: -250},
				{EntryType: recon.EntryPayout, Currency: "NOK", Amount: -11949},
			},
		}}
	rep.days["2026-12-07"] = slices.DeleteFunc(rep.days["2026-12-07"], func(r recon.Row) bool { return r.Reference == "oslo-t2-2" })
	now := at(8, 1, 0) // oslo-t2-2 is 1.5 h old: within the grace
	r := &recon.Runner{Store: recon.Store{Pool: db.Pool(), Chain: "acme"}, Location: oslo, Grace: 6 * time.Hour, Days: 3,
		Units: []recon.Unit{{MSN: msn, Report: rep}}, Now: func() time.Time { return now }}

	x := &reconcileRig{r: r, db: db, now: &now}
	t.Run("days", x.reconcileDays)
	t.Run("a later run replaces the day", x.reconcileRerun)
	t.Run("summaries", x.reconcileSummaries)
	t.Run("done days are not run again", x.reconcileDone)
	t.Run("sale", x.reconcileSale)
	t.Run("csv", x.reconcileCSV)
	t.Run("unmatched", x.reconcileUnmatched)
}

// reconcileRig is TestReconcile's: the runner over a chain's days on
// PostgreSQL, its clock at *now.
type reconcileRig struct {
	r   *recon.Runner
	db  *hqdb.DB
	now *time.Time
}

func (x *reconcileRig) reconcileDays(t *testing.T) {
	ctx, r := context.Background(), x.r
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	ls, err := r.Store.Lines(ctx, "2026-12-06", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := linesOf(ls); got != "oslo-t1-1:matched:0" {
		t.Errorf("day 6: %s", got)
	}
	ls, err = r.Store.Lines(ctx, "2026-12-07", "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := "oslo-t1-1:matched:0 oslo-t1-2:matched:0 oslo-t1-3:missing_on_ledger:5000 " +
		"oslo-t1-99:missing_in_journal:-700 oslo-t2-1:amount_differs:1 oslo-t2-2:pending:800"
	if got := linesOf(ls); got != want {
		t.Errorf("day 7:\n got %s\nwant %s", got, want)
	}
	for _, l := range ls {
		if l.Reference == "oslo-t1-99" && (l.Store != "oslo" || l.Till != "t1") {
			t.Errorf("a ledger row no till journaled is placed by its reference's prefix: %+v", l)
		}
	}
}

func (x *reconcileRig) reconcileRerun(t *testing.T) {
	ctx, r, db := context.Background(), x.r, x.db
	*x.now = at(8, 5, 45) // oslo-t2-2 is over 6 h old
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	ls, err := r.Store.Lines(ctx, "2026-12-07", "oslo", recon.MissingOnLedger)
	if err != nil {
		t.Fatal(err)
	}
	if got := linesOf(ls); got != "oslo-t1-3:missing_on_ledger:5000 oslo-t2-2:missing_on_ledger:800" {
		t.Errorf("%s", got)
	}
	var n int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM recon_lines WHERE day = '2026-12-07'`).Scan(&n); err != nil || n != 6 {
		t.Errorf("lines of day 7 after two runs: %d, %v", n, err)
	}
}

func (x *reconcileRig) reconcileSummaries(t *testing.T) {
	ctx, r := context.Background(), x.r
	ss, err := r.Store.Summaries(ctx, "2026-12-06", "2026-12-07", "oslo")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Day != "2026-12-07" || ss[1].Day != "2026-12-06" {
		t.Fatalf("%+v", ss)
	}
	s := ss[0]
	if s.Store != "oslo" || s.MSN != msn || !s.Closed || s.LedgerCaptured != 13199 || s.LedgerRefunded != 1000 ||
		s.Fee != 250 || s.Payout != 11949 || s.Net() != 11949 || s.JournalCaptured != 18300 || s.JournalRefunded != 1000 {
		t.Errorf("%+v", s)
	}
	want := map[string]int64{recon.Matched: 2, recon.MissingOnLedger: 2, recon.MissingInJournal: 1, recon.AmountDiffers: 1}
	for k, n := range want {
		if s.Counts[k] != n {
			t.Errorf("%s: %d, want %d", k, s.Counts[k], n)
		}
	}
	if s.Amounts[recon.Matched] != 9000 || s.Amounts[recon.MissingOnLedger] != 5800 || s.Amounts[recon.MissingInJournal] != 700 ||
		s.Amounts[recon.AmountDiffers] != 1 || s.Unmatched() != 4 {
		t.Errorf("amounts %v", s.Amounts)
	}
}

func (x *reconcileRig) reconcileDone(t *testing.T) {
	ctx, r, db := context.Background(), x.r, x.db
	*x.now = at(9, 12, 0)
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	var runAt time.Time
	if err := db.Pool().QueryRow(ctx, `SELECT run_at FROM recon_days WHERE day = '2026-12-07'`).Scan(&runAt); err != nil {
		t.Fatal(err)
	}
	if !runAt.Equal(at(9, 12, 0)) {
		t.Errorf("day 7 closed but ran at %v, within its grace: run again (%v)", at(8, 5, 45), runAt)
	}
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool().QueryRow(ctx, `SELECT run_at FROM recon_days WHERE day = '2026-12-07'`).Scan(&runAt); err != nil {
		t.Fatal(err)
	}
	if !runAt.Equal(at(9, 12, 0)) {
		t.Errorf("day 7 done, yet run again: %v", runAt)
	}
}

func (x *reconcileRig) reconcileSale(t *testing.T) {
	ctx, r := context.Background(), x.r
	s, err := r.Store.Sale(ctx, "oslo", "t1", "oslo-t1-1")
	if err != nil {
		t.Fatal(err)
	}
	if s.MSN != msn || s.Captured != 3000 || s.Refunded != 1000 || len(s.Changes) != 2 ||
		s.Changes[1].Refunded != 1000 || !s.Changes[1].At.Equal(at(7, 12, 0)) {
		t.Errorf("%+v", s)
	}
	if _, err := r.Store.Sale(ctx, "oslo", "t1", "oslo-t1-99"); err != recon.ErrNoSale {
		t.Errorf("a sale no till journaled: %v", err)
	}
}

func (x *reconcileRig) reconcileCSV(t *testing.T) {
	ctx, r := context.Background(), x.r
	ls, err := r.Store.Lines(ctx, "2026-12-07", "oslo", "")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := recon.WriteCSV(&b, ls); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 7 || !slices.Equal(recs[0], recon.CSVHeader) {
		t.Fatalf("%q", recs)
	}
	for _, rec := range recs[1:] {
		if rec[4] == "oslo-t1-99" && (rec[5] != recon.MissingInJournal || rec[9] != "700" || rec[11] != "-700" ||
			rec[13] != "7.00" || rec[14] != "-7.00") {
			t.Errorf("%q", rec)
		}
		if rec[4] == "oslo-t2-1" && (rec[11] != "1" || rec[14] != "0.01") {
			t.Errorf("%q", rec)
		}
	}
}

func (x *reconcileRig) reconcileUnmatched(t *testing.T) {
	ctx, r := context.Background(), x.r
	us, last, err := r.Store.UnmatchedSince(ctx, "2026-12-01")
	if err != nil {
		t.Fatal(err)
	}
	if !last.Equal(at(9, 12, 0)) {
		t.Errorf("last run %v", last)
	}
	got := fmt.Sprint(us)
	if got != "[{oslo amount_differs 1 1} {oslo missing_in_journal 1 700} {oslo missing_on_ledger 2 5800}]" {
		t.Errorf("%s", got)
	}
	us, _, err = r.Store.UnmatchedSince(ctx, "2026-12-10")
	if got := fmt.Sprint(us); err != nil || got != "[]" {
		t.Errorf("no day since: %s %v", got, err)
	}
	us, _, err = r.Store.UnmatchedSince(ctx, "2026-12-06")
	if got := fmt.Sprint(us); err != nil || len(us) != 3 {
		t.Errorf("%s", got)
	}
}

// TestCSVCells: formula injection is defused, quoting is RFC 4180's, and
// decimals come from integers.
func TestCSVCells(t *testing.T) {
	var b bytes.Buffer
	l := recon.Line{Day: "2026-12-07", Store: "=HYPERLINK(\"x\")", Till: "+t", MSN: "@1", Reference: "-a,\"b\"\nc",
		Kind: recon.AmountDiffers, Currency: "NOK", Difference: -5, JournalCaptured: 123456789}
	if err := recon.WriteCSV(&b, []recon.Line{l}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	r := recs[1]
	if r[1] != "'=HYPERLINK(\"x\")" || r[2] != "'+t" || r[3] != "'@1" || r[4] != "'-a,\"b\"\nc" ||
		r[7] != "123456789" || r[11] != "-5" || r[12] != "1234567.89" || r[14] != "-0.05" {
		t.Errorf("%q", r)
	}
	if !strings.HasSuffix(b.String(), "\r\n") {
		t.Error("lines end with CRLF (RFC 4180)")
	}
	for n, want := range map[int64]string{0: "0.00", 7: "0.07", 100: "1.00", -12345: "-123.45"} {
		if got := recon.Decimal(n); got != want {
			t.Errorf("Decimal(%d) = %s, want %s", n, got, want)
		}
	}
}
