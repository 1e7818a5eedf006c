package sim

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
)

// The simulated settlement ledger behind the Report API (report.go serves it).
//
// Every successful capture and refund the simulator applies is written to the
// ledger of its MSN (one ledger per MSN, created when the simulator first sees
// the MSN): a capture as a `capture` row with a positive amount, a refund as a
// `refund` row with a negative amount (the spec's balanceBefore/balanceAfter:
// money in raises the balance, money out lowers it). The ledger keeps its own
// copy, so the payments' Retention does not empty it.
//
// A row's ledger date is the date of its time in Options.ReportZone (midnight
// cutoff). At the end of a ledger date the book adds, in `funds`, a
// `fees-retained` row (minus the day's fees) and, when the balance is then
// positive, a `scheduled-for-payout` row (minus that balance, so the balance
// goes to 0 and the day's net payout is minus that row's amount); in `fees`,
// one `capture-fee` row per capture (plus its fee, with the capture's
// pspReference and reference) and a closing `fees-retained` row (minus the
// total). These closing rows are timed at the cutoff itself.
//
// A row becomes visible Options.ReportLag after its time; a date is closed
// once its cutoff plus the lag has passed.

// Entry types of the Report API's Transaction.entryType used by the simulator.
const (
	entryCapture    = "capture"
	entryRefund     = "refund"
	entryFeesKept   = "fees-retained"
	entryPayout     = "scheduled-for-payout"
	entryCaptureFee = "capture-fee"
)

// ledgerEntry is one capture or refund on a ledger, as the ledger holds it.
type ledgerEntry struct {
	seq                     uint64
	msn                     string
	pspReference, reference string
	entryType               string
	amount                  int64 // ledger sign: capture +, refund -
	fee                     int64 // capture fee, fixed when written
	currency                string
	at                      time.Time // UTC; moved by whole days by a "move" plant
	dropped                 bool
}

// ledgerAccount is the ledger of one MSN.
type ledgerAccount struct {
	id, msn, currency string
	opening           int64 // the balance before the oldest date kept
}

// reportState is the ledger side of the simulated world. Guarded by Server.mu.
type reportState struct {
	accounts map[string]*ledgerAccount // by MSN
	byID     map[string]*ledgerAccount
	entries  []*ledgerEntry
	seq      uint64
	pruned   time.Time // when maybePruneLedger last ran (sim clock)
}

// firstLedgerID is the number of the first ledger (as the spec's example).
const firstLedgerID = 302321

// account returns the ledger of msn, creating it. Must be called with s.mu held.
func (s *Server) account(msn string) *ledgerAccount {
	r := &s.report
	if r.accounts == nil {
		r.accounts = map[string]*ledgerAccount{}
		r.byID = map[string]*ledgerAccount{}
	}
	if a := r.accounts[msn]; a != nil {
		return a
	}
	a := &ledgerAccount{id: strconv.Itoa(firstLedgerID + len(r.accounts)), msn: msn, currency: string(s.opts.Currency)}
	r.accounts[msn] = a
	r.byID[a.id] = a
	return a
}

// noteLedger writes a payment event to the ledger of its MSN: a successful
// capture or refund becomes a row; any event makes the MSN's ledger exist.
// Must be called with s.mu held (record calls it).
func (s *Server) noteLedger(p *payment, ev epayment.PaymentEvent) {
	s.account(p.key.msn)
	if !ev.Success || ev.Amount.Value <= 0 {
		return
	}
	var kind string
	amount := ev.Amount.Value
	switch ev.Name {
	case epayment.EventCaptured:
		kind = entryCapture
	case epayment.EventRefunded:
		kind, amount = entryRefund, -amount
	default:
		return
	}
	s.addEntry(&ledgerEntry{
		msn: p.key.msn, pspReference: ev.PSPReference, reference: p.key.reference,
		entryType: kind, amount: amount, currency: string(ev.Amount.Currency), at: ev.Timestamp.UTC(),
	})
}

// addEntry appends e, giving it its sequence number and, for a capture, its
// fee. Must be called with s.mu held.
func (s *Server) addEntry(e *ledgerEntry) {
	s.account(e.msn)
	s.report.seq++
	e.seq = s.report.seq
	if e.entryType == entryCapture {
		e.fee = s.reportFee().of(e.amount)
	}
	s.report.entries = append(s.report.entries, e)
	s.maybePruneLedger()
}

// defaultReportKeepDays is how many ledger dates back the ledger keeps.
const defaultReportKeepDays = 62

// maybePruneLedger forgets, at most once a day (simulator's clock), the
// ledger dates older than Options.ReportKeepDays, carrying each account's
// balance, so that a long soak does not grow without bound. Must be called
// with s.mu held.
func (s *Server) maybePruneLedger() {
	keep := s.opts.ReportKeepDays
	switch {
	case keep < 0:
		return
	case keep == 0:
		keep = defaultReportKeepDays
	}
	now := s.now()
	if !s.report.pruned.IsZero() && now.Sub(s.report.pruned) < 24*time.Hour {
		return
	}
	s.report.pruned = now
	zone := s.reportZone()
	oldest := zone.local(now).AddDate(0, 0, -keep).Format(time.DateOnly) // earlier dates go
	for _, a := range s.report.accounts {
		for _, d := range s.book(a) {
			if d.date < oldest && len(d.funds) > 0 {
				a.opening = d.funds[len(d.funds)-1].BalanceAfter
			}
		}
	}
	s.report.entries = slices.DeleteFunc(s.report.entries, func(e *ledgerEntry) bool { return zone.date(e.at) < oldest })
}

// ReportFee is the capture fee of the simulated ledger: BasisPoints of the
// captured amount (rounded half up to a whole minor unit) plus Fixed minor
// units, per capture. Refunds carry no fee and return none.
type ReportFee struct {
	BasisPoints int64 `json:"basisPoints"`
	Fixed       int64 `json:"fixed"`
}

// defaultReportFee is 1.75 % + 0 øre per capture.
var defaultReportFee = ReportFee{BasisPoints: 175}

func (f *ReportFee) of(amount int64) int64 {
	if f == nil || amount <= 0 {
		return 0
	}
	return (amount*f.BasisPoints+5000)/10000 + f.Fixed
}

// bookRow is one row of the book: the spec's Transaction plus when it shows.
type bookRow struct {
	PSPReference    string `json:"pspReference,omitempty"`
	Time            string `json:"time"`
	LedgerDate      string `json:"ledgerDate"`
	EntryType       string `json:"entryType"`
	Reference       string `json:"reference,omitempty"`
	Currency        string `json:"currency"`
	Amount          int64  `json:"amount"`
	BalanceBefore   int64  `json:"balanceBefore"`
	BalanceAfter    int64  `json:"balanceAfter"`
	RecipientHandle string `json:"recipientHandle"`

	visible time.Time // time + lag
}

// reportTimeLayout is the spec's example format of Transaction.time.
const reportTimeLayout = "2006-01-02T15:04:05.000000Z"

// ledgerDay is one ledger date of one account, both topics.
type ledgerDay struct {
	date         string
	funds, fees  []bookRow
	cutoff       time.Time // the end of the date (UTC)
	closesAt     time.Time // cutoff + lag
	firstVisible time.Time
}

// book computes the whole book of account a from its entries, oldest date
// first. Must be called with s.mu held.
func (s *Server) book(a *ledgerAccount) []ledgerDay {
	zone, lag := s.reportZone(), s.reportLag()
	byDate := map[string][]*ledgerEntry{}
	for _, e := range s.report.entries {
		if e.msn == a.msn && !e.dropped {
			d := zone.date(e.at)
			byDate[d] = append(byDate[d], e)
		}
	}
	dates := make([]string, 0, len(byDate))
	for d := range byDate {
		dates = append(dates, d)
	}
	slices.Sort(dates)
	handle := "api:" + a.msn
	balance := a.opening
	days := make([]ledgerDay, 0, len(dates))
	for _, d := range dates {
		es := byDate[d]
		slices.SortFunc(es, func(x, y *ledgerEntry) int {
			return cmp.Or(x.at.Compare(y.at), cmp.Compare(x.seq, y.seq))
		})
		cutoff := zone.end(d)
		day := ledgerDay{date: d, cutoff: cutoff, closesAt: cutoff.Add(lag)}
		row := func(e *ledgerEntry, kind string, at time.Time, amount int64, bal *int64) bookRow {
			r := bookRow{
				Time: at.UTC().Format(reportTimeLayout), LedgerDate: d, EntryType: kind,
				Currency: a.currency, Amount: amount, BalanceBefore: *bal, BalanceAfter: *bal + amount,
				RecipientHandle: handle, visible: at.Add(lag),
			}
			if e != nil {
				r.PSPReference, r.Reference, r.Currency = e.pspReference, e.reference, e.currency
			}
			*bal += amount
			return r
		}
		var fees, feeBalance int64
		for _, e := range es {
			day.funds = append(day.funds, row(e, e.entryType, e.at, e.amount, &balance))
			if e.fee != 0 {
				day.fees = append(day.fees, row(e, entryCaptureFee, e.at, e.fee, &feeBalance))
				fees += e.fee
			}
		}
		if fees != 0 {
			day.funds = append(day.funds, row(nil, entryFeesKept, cutoff, -fees, &balance))
			day.fees = append(day.fees, row(nil, entryFeesKept, cutoff, -fees, &feeBalance))
		}
		if balance > 0 {
			day.funds = append(day.funds, row(nil, entryPayout, cutoff, -balance, &balance))
		}
		day.firstVisible = es[0].at.Add(lag)
		days = append(days, day)
	}
	return days
}

// visibleRows are the rows of rows visible at now (a prefix, as rows are in
// time order and share one lag).
func visibleRows(rows []bookRow, now time.Time) []bookRow {
	n := 0
	for n < len(rows) && !now.Before(rows[n].visible) {
		n++
	}
	return rows[:n]
}

// ledgerZone computes ledger dates: midnight to midnight in a time zone.
type ledgerZone struct {
	loc *time.Location // nil: the Central European rule (see centralEuropean)
}

func (z ledgerZone) local(t time.Time) time.Time {
	if z.loc != nil {
		return t.In(z.loc)
	}
	return t.UTC().Add(centralEuropeanOffset(t)).In(time.UTC) // wall clock, labelled UTC
}

// date is the ledger date of t.
func (z ledgerZone) date(t time.Time) string { return z.local(t).Format(time.DateOnly) }

// start is the first instant of ledger date d (UTC); d must be YYYY-MM-DD.
func (z ledgerZone) start(d string) time.Time {
	day, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return time.Time{}
	}
	if z.loc != nil {
		return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, z.loc).UTC()
	}
	// Local midnight is never near the 01:00 UTC switch of the rule.
	return day.Add(-centralEuropeanOffset(day.Add(-time.Hour)))
}

// end is the first instant after ledger date d (UTC).
func (z ledgerZone) end(d string) time.Time {
	day, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return time.Time{}
	}
	return z.start(day.AddDate(0, 0, 1).Format(time.DateOnly))
}

// centralEuropeanOffset is Europe/Oslo's offset from UTC at t by the EU rule
// (+1 h; +2 h from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
// last Sunday of October), for a machine without the time zone database.
func centralEuropeanOffset(t time.Time) time.Duration {
	t = t.UTC()
	lastSunday := func(m time.Month) time.Time {
		d := time.Date(t.Year(), m+1, 1, 1, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
		return d.AddDate(0, 0, -int(d.Weekday()))
	}
	if !t.Before(lastSunday(time.March)) && t.Before(lastSunday(time.October)) {
		return 2 * time.Hour
	}
	return time.Hour
}
