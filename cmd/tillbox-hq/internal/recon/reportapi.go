package recon

import (
	"context"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/reportapi"
)

// ReportAPI is the Report API through internal/reportapi's client.
func ReportAPI(c *reportapi.Client) Report { return reportAPI{c} }

type reportAPI struct{ c *reportapi.Client }

func (r reportAPI) Ledgers(ctx context.Context) ([]Ledger, error) {
	ls, err := r.c.Ledgers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Ledger, len(ls))
	for i, l := range ls {
		out[i] = Ledger{ID: l.ID, Currency: l.Currency, MSNs: l.MSNs}
	}
	return out, nil
}

func (r reportAPI) Day(ctx context.Context, ledgerID, topic, ledgerDate string) ([]Row, bool, error) {
	ts, closed, err := r.c.Day(ctx, ledgerID, topic, ledgerDate)
	if err != nil {
		return nil, false, err
	}
	out := make([]Row, len(ts))
	for i, t := range ts {
		out[i] = Row{PSPReference: t.PSPReference, Reference: t.Reference, EntryType: t.EntryType, Currency: t.Currency,
			Time: t.Time, Amount: t.Amount}
	}
	return out, closed, nil
}
