// Package recon reconciles headquarters' journal (every till's captures
// and refunds) against the Vipps MobilePay Report API's settlement ledger,
// per sales unit (MSN) and ledger date in the chain's time zone
// (docs/chain.md, "Reconciliation").
//
// The journal side comes from the events table, not from the sales
// table's totals: each "sale" event carries the sale's aggregate as the
// box saw it at the event's time, so a sale's captured and refunded
// amounts move on the day they moved. A refund made days after its
// capture is the refund's day's movement on both sides, and matches there.
//
// Per reference that moved money on the day (either side): matched (both
// sides agree on captured and refunded), pending (journaled, not on the
// ledger yet, younger than the grace period: the Report API lags by
// hours), missing on the ledger (journaled, not on it after the grace
// period), missing in the journal (on the ledger, no till journaled it) or
// amount differs (both sides, different amounts: by how much). Per day the
// ledger's fee and payout. A run replaces the day's result in PostgreSQL
// atomically; a day is run again until its ledger date is closed and its
// grace period over.
package recon

import (
	"cmp"
	"slices"
	"time"
)

// Kinds of a line.
const (
	Matched          = "matched"
	Pending          = "pending"
	MissingOnLedger  = "missing_on_ledger"
	MissingInJournal = "missing_in_journal"
	AmountDiffers    = "amount_differs"
)

// Kinds are the kinds of a line, in the order pages show them.
var Kinds = []string{Matched, Pending, MissingOnLedger, MissingInJournal, AmountDiffers}

// Differences are the kinds that are a difference (not matched, not
// pending): Prometheus' unmatched series.
var Differences = []string{MissingOnLedger, MissingInJournal, AmountDiffers}

// KindName is a kind for people.
func KindName(kind string) string {
	switch kind {
	case Matched:
		return "Matched"
	case Pending:
		return "Not on the ledger yet"
	case MissingOnLedger:
		return "Missing on the ledger"
	case MissingInJournal:
		return "Missing in the journal"
	case AmountDiffers:
		return "Amount differs"
	}
	return kind
}

// Movement is what one sale's captured and refunded amounts moved on a
// day, as its till journaled it (minor units).
type Movement struct {
	Store, Till, Reference, Currency string
	Captured, Refunded               int64
	// Last is the time of the sale's last change of money on the day: the
	// grace period counts from it.
	Last time.Time
}

// Row is one row of the ledger's funds report of a ledger date
// (reportapi.Transaction's fields that matter here).
type Row struct {
	PSPReference, Reference, EntryType, Currency string
	Time                                         time.Time
	Amount                                       int64 // minor units, signed as the ledger gives it
}

// Entry types of the Report API the reconciliation reads.
const (
	EntryCapture       = "capture"
	EntryRefund        = "refund"
	EntryFeesRetained  = "fees-retained"
	EntryCaptureFee    = "capture-fee"
	EntryPayout        = "scheduled-for-payout"
	EntryPayoutAborted = "payout-aborted"
)

// Line is one reference's result on a day.
type Line struct {
	Day                              string // YYYY-MM-DD
	MSN, Reference, Kind             string
	Store, Till, Currency            string
	JournalCaptured, JournalRefunded int64
	LedgerCaptured, LedgerRefunded   int64
	// Difference is the journal's net (captured − refunded) less the
	// ledger's.
	Difference int64
}

// Amount is the line's amount for its kind: the ledger's net (captured −
// refunded) of a matched line; else positive: the ledger's net (missing in
// the journal), the journal's (pending, missing on the ledger) or the
// difference's size.
func (l Line) Amount() int64 {
	var a int64
	switch l.Kind {
	case Matched:
		return l.LedgerCaptured - l.LedgerRefunded
	case MissingInJournal:
		a = l.LedgerCaptured - l.LedgerRefunded
	case AmountDiffers:
		a = l.Difference
	default:
		a = l.JournalCaptured - l.JournalRefunded
	}
	if a < 0 {
		a = -a
	}
	return a
}

// Day is one MSN's ledger date: the ledger's totals, fee and payout, and
// the lines.
type Day struct {
	Day, MSN, Store, LedgerID, Currency string
	Closed                              bool
	LedgerCaptured, LedgerRefunded      int64
	JournalCaptured, JournalRefunded    int64
	// Fee is what the ledger retained in fees (fees-retained, or the
	// capture-fee rows); Payout what it scheduled for payout (less
	// aborted payouts); both positive.
	Fee, Payout int64
	RunAt       time.Time
	Lines       []Line
}

// Net is what the ledger took in less refunds and fees.
func (d Day) Net() int64 { return d.LedgerCaptured - d.LedgerRefunded - d.Fee }

// Match reconciles one MSN's ledger date: the journal's movements of the
// day against the ledger's rows of the day. A journaled movement whose
// last change is younger than grace at now and is not on the ledger is
// pending. storeOf names the store (and till) of a reference no till
// journaled (nil: none). The day's Store, LedgerID, Closed and RunAt are
// the caller's.
func Match(day, msn string, journal []Movement, ledger []Row, now time.Time, grace time.Duration,
	storeOf func(reference string) (store, till string)) Day {
	d := Day{Day: day, MSN: msn}
	type side struct {
		captured, refunded int64
		currency           string
		seen               bool
	}
	led := map[string]*side{}
	for _, r := range ledger {
		a := r.Amount
		if a < 0 {
			a = -a
		}
		if d.Currency == "" {
			d.Currency = r.Currency
		}
		switch r.EntryType {
		case EntryCapture, EntryRefund:
			s := led[r.Reference]
			if s == nil {
				s = &side{currency: r.Currency}
				led[r.Reference] = s
			}
			s.seen = true
			if r.EntryType == EntryCapture {
				s.captured += a
				d.LedgerCaptured += a
			} else {
				s.refunded += a
				d.LedgerRefunded += a
			}
		case EntryFeesRetained, EntryCaptureFee:
			d.Fee += a
		case EntryPayout:
			d.Payout += a
		case EntryPayoutAborted:
			d.Payout -= a
		}
	}
	jour := map[string]bool{}
	for _, m := range journal {
		if m.Captured == 0 && m.Refunded == 0 {
			continue
		}
		jour[m.Reference] = true
		d.JournalCaptured += m.Captured
		d.JournalRefunded += m.Refunded
		l := Line{Day: day, MSN: msn, Reference: m.Reference, Store: m.Store, Till: m.Till, Currency: m.Currency,
			JournalCaptured: m.Captured, JournalRefunded: m.Refunded}
		s := led[m.Reference]
		switch {
		case s == nil && now.Sub(m.Last) < grace:
			l.Kind = Pending
		case s == nil:
			l.Kind = MissingOnLedger
		case s.captured == m.Captured && s.refunded == m.Refunded:
			l.Kind = Matched
		default:
			l.Kind = AmountDiffers
		}
		if s != nil {
			l.LedgerCaptured, l.LedgerRefunded = s.captured, s.refunded
		}
		l.Difference = (l.JournalCaptured - l.JournalRefunded) - (l.LedgerCaptured - l.LedgerRefunded)
		d.Lines = append(d.Lines, l)
	}
	for ref, s := range led {
		if jour[ref] {
			continue
		}
		l := Line{Day: day, MSN: msn, Reference: ref, Kind: MissingInJournal, Currency: s.currency,
			LedgerCaptured: s.captured, LedgerRefunded: s.refunded, Difference: -(s.captured - s.refunded)}
		if storeOf != nil {
			l.Store, l.Till = storeOf(ref)
		}
		d.Lines = append(d.Lines, l)
	}
	slices.SortFunc(d.Lines, func(a, b Line) int {
		return cmp.Or(cmp.Compare(a.Store, b.Store), cmp.Compare(a.Till, b.Till), cmp.Compare(a.Reference, b.Reference))
	})
	return d
}
