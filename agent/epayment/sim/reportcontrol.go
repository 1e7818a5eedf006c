package sim

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Control endpoints of the simulated ledger, for reconciliation tests:
//
//	GET  /sim/report/ledgers   the ledgers ([]LedgerInfo: msn, ledgerId)
//	POST /sim/report/plant     a ReportPlant: plants a difference between the
//	                           ledger and the payments; answers ReportPlanted
//
// Plants (ReportPlant.Action):
//   - "drop":   the ledger loses the rows the selector picks (a capture's fee too);
//   - "add":    the ledger gains a row no payment has (MSN, Reference, Amount
//     with the ledger's sign, EntryType capture or refund, Time; a new
//     pspReference unless given);
//   - "amount": the rows picked get Amount (the ledger's sign; fees unchanged);
//   - "move":   the rows picked move, by whole days, to LedgerDate.
//
// The selector is MSN (optional when the simulator knows one MSN, or pinned),
// Reference, PSPReference and EntryType ("" picks any): at least Reference or
// PSPReference. A selector that picks nothing is an error.

// ReportPlant is one planted difference (see the control API above).
type ReportPlant struct {
	Action       string     `json:"action"`
	MSN          string     `json:"msn,omitempty"`
	Reference    string     `json:"reference,omitempty"`
	PSPReference string     `json:"pspReference,omitempty"`
	EntryType    string     `json:"entryType,omitempty"`
	Amount       int64      `json:"amount,omitempty"`
	Time         *time.Time `json:"time,omitempty"`
	LedgerDate   string     `json:"ledgerDate,omitempty"`
}

// ReportPlanted is what a plant did.
type ReportPlanted struct {
	Rows         int    `json:"rows"`                   // rows changed or added
	PSPReference string `json:"pspReference,omitempty"` // of an added row
	LedgerID     string `json:"ledgerId"`
}

// LedgerInfo names the ledger of an MSN.
type LedgerInfo struct {
	MSN      string `json:"msn"`
	LedgerID string `json:"ledgerId"`
}

// Ledgers lists the simulated ledgers, by ledger ID.
func (s *Server) Ledgers() []LedgerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.MSN != "" {
		s.account(s.opts.MSN)
	}
	out := make([]LedgerInfo, 0, len(s.report.byID))
	for _, a := range s.report.byID {
		out = append(out, LedgerInfo{MSN: a.msn, LedgerID: a.id})
	}
	slices.SortFunc(out, func(x, y LedgerInfo) int { return cmpLedgerID(x.LedgerID, y.LedgerID) })
	return out
}

// PlantReport applies p to the ledger.
func (s *Server) PlantReport(p ReportPlant) (ReportPlanted, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.MSN == "" {
		switch {
		case s.opts.MSN != "":
			p.MSN = s.opts.MSN
		case len(s.report.accounts) == 1:
			for msn := range s.report.accounts {
				p.MSN = msn
			}
		default:
			return ReportPlanted{}, errors.New("msn is required: the simulator knows more than one, or none")
		}
	}
	if !msnPattern.MatchString(p.MSN) {
		return ReportPlanted{}, fmt.Errorf("msn %q is not 4 to 10 digits", p.MSN)
	}
	switch p.EntryType {
	case "", entryCapture, entryRefund:
	default:
		return ReportPlanted{}, fmt.Errorf("entryType must be capture or refund, not %q", p.EntryType)
	}
	if p.Action == "add" {
		return s.plantAdd(p)
	}
	if p.Reference == "" && p.PSPReference == "" {
		return ReportPlanted{}, errors.New("reference or pspReference is required")
	}
	var picked []*ledgerEntry
	for _, e := range s.report.entries {
		if e.msn == p.MSN && !e.dropped && (p.Reference == "" || e.reference == p.Reference) &&
			(p.PSPReference == "" || e.pspReference == p.PSPReference) && (p.EntryType == "" || e.entryType == p.EntryType) {
			picked = append(picked, e)
		}
	}
	if len(picked) == 0 {
		return ReportPlanted{}, errors.New("no ledger row matches")
	}
	var to time.Time
	switch p.Action {
	case "drop", "amount":
	case "move":
		var err error
		if to, err = time.Parse(time.DateOnly, p.LedgerDate); err != nil {
			return ReportPlanted{}, fmt.Errorf("ledgerDate %q is not YYYY-MM-DD", p.LedgerDate)
		}
	default:
		return ReportPlanted{}, fmt.Errorf("action must be drop, add, amount or move, not %q", p.Action)
	}
	for _, e := range picked {
		if p.Action == "amount" {
			if err := checkLedgerSign(e.entryType, p.Amount); err != nil {
				return ReportPlanted{}, err
			}
		}
	}
	zone := s.reportZone()
	for _, e := range picked {
		switch p.Action {
		case "drop":
			e.dropped = true
		case "amount":
			e.amount = p.Amount
		case "move":
			from, _ := time.Parse(time.DateOnly, zone.date(e.at))
			days := int(to.Sub(from).Hours() / 24)
			e.at = e.at.AddDate(0, 0, days)
		}
	}
	return ReportPlanted{Rows: len(picked), LedgerID: s.account(p.MSN).id}, nil
}

// plantAdd adds a ledger row no payment has. Must be called with s.mu held.
func (s *Server) plantAdd(p ReportPlant) (ReportPlanted, error) {
	if p.EntryType == "" {
		p.EntryType = entryCapture
	}
	if err := checkLedgerSign(p.EntryType, p.Amount); err != nil {
		return ReportPlanted{}, err
	}
	if p.Reference == "" {
		return ReportPlanted{}, errors.New("reference is required")
	}
	at := s.now()
	if p.Time != nil {
		at = p.Time.UTC()
	}
	if p.PSPReference == "" {
		p.PSPReference = s.newPSPReference()
	}
	s.addEntry(&ledgerEntry{
		msn: p.MSN, pspReference: p.PSPReference, reference: p.Reference, entryType: p.EntryType,
		amount: p.Amount, currency: string(s.opts.Currency), at: at,
	})
	return ReportPlanted{Rows: 1, PSPReference: p.PSPReference, LedgerID: s.account(p.MSN).id}, nil
}

// checkLedgerSign: a capture is positive on the ledger, a refund negative.
func checkLedgerSign(entryType string, amount int64) error {
	switch {
	case entryType == entryCapture && amount <= 0:
		return errors.New("a capture's amount on the ledger is positive")
	case entryType == entryRefund && amount >= 0:
		return errors.New("a refund's amount on the ledger is negative")
	}
	return nil
}

func (s *Server) reportControlRoutes() {
	s.mux.HandleFunc("GET /sim/report/ledgers", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, s.Ledgers())
	})
	s.mux.HandleFunc("POST /sim/report/plant", func(w http.ResponseWriter, r *http.Request) {
		var p ReportPlant
		if !readControl(w, r, &p) {
			return
		}
		done, err := s.PlantReport(p)
		if err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeControl(w, http.StatusOK, done)
	})
}
