package recon

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// CSVHeader is the header row of [WriteCSV].
var CSVHeader = []string{"day", "store", "till", "msn", "reference", "result", "currency",
	"journal_captured_minor", "journal_refunded_minor", "ledger_captured_minor", "ledger_refunded_minor",
	"difference_minor", "journal_net", "ledger_net", "difference"}

// WriteCSV writes lines as CSV for an accountant: UTF-8, a header row,
// RFC 4180 quoting (CRLF line ends), every amount in minor units and the
// nets and difference also as a decimal number (two decimals, from the
// integers). A cell that a spreadsheet would take for a formula (starting
// with = + - @, a tab or a carriage return) is prefixed with ' — amounts
// are numbers, so a negative one keeps its sign.
func WriteCSV(w io.Writer, lines []Line) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, l := range lines {
		jn, ln := l.JournalCaptured-l.JournalRefunded, l.LedgerCaptured-l.LedgerRefunded
		rec := []string{cell(l.Day), cell(l.Store), cell(l.Till), cell(l.MSN), cell(l.Reference), l.Kind, cell(l.Currency),
			itoa(l.JournalCaptured), itoa(l.JournalRefunded), itoa(l.LedgerCaptured), itoa(l.LedgerRefunded),
			itoa(l.Difference), Decimal(jn), Decimal(ln), Decimal(l.Difference)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// cell is a text cell safe from formula injection.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Decimal is minor units (two decimals) as a decimal number with a point,
// from integers only: 12345 is "123.45", -5 is "-0.05".
func Decimal(minor int64) string {
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u/100, 10) + "." + strconv.FormatUint(u%100/10, 10) + strconv.FormatUint(u%10, 10)
	if neg {
		return "-" + s
	}
	return s
}
