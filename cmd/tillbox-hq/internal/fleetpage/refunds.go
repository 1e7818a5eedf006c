package fleetpage

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Refund is a refund one till asked for a sale another till took, as the
// fleet page's list of cross-store refunds shows it.
type Refund struct {
	Created, Updated        time.Time
	AskerStore, AskerTill   string
	OwnerStore, OwnerTill   string // empty: no till has the reference
	Reference, RefundID     string
	Amount                  int64 // minor units; 0: all that was left
	Currency                string
	State                   string // queued, accepted, completed, refused
	Refused, RefusedBecause string // the refusal's code and message
	SaleState               string // the sale's state as its till last showed it
}

// RefundSource is where the list of cross-store refunds comes from: the
// newest first, at most limit.
type RefundSource func(ctx context.Context, limit int) ([]Refund, error)

// maxRefunds is how many refunds the list shows.
const maxRefunds = 200

type refundView struct {
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	Asker     string    `json:"asker"` // store/till
	Owner     string    `json:"owner"` // store/till, "" when nobody's
	Reference string    `json:"reference"`
	RefundID  string    `json:"refundId"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency,omitempty"`
	State     string    `json:"state"`
	Error     string    `json:"error,omitempty"`
	Message   string    `json:"message,omitempty"`
	SaleState string    `json:"saleState,omitempty"`

	When       string `json:"-"`
	AmountText string `json:"-"`
}

type refundsData struct {
	Refunds []refundView `json:"refunds"`
	Error   string       `json:"error,omitempty"`
	User    string       `json:"-"`
	Refresh int          `json:"-"`
}

func (p *page) refundsData(ctx context.Context) refundsData {
	d := refundsData{Refunds: []refundView{}, Refresh: int(RefreshEvery / time.Second)}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	rs, err := p.o.Refunds(ctx, maxRefunds)
	if err != nil {
		p.log.Warn("fleetpage: the refunds cannot be read", "err", err)
		d.Error = "The refunds cannot be read now; see headquarters' log."
		return d
	}
	for _, r := range rs {
		v := refundView{Created: r.Created, Updated: r.Updated, Asker: r.AskerStore + "/" + r.AskerTill,
			Reference: r.Reference, RefundID: r.RefundID, Amount: r.Amount, Currency: r.Currency, State: r.State,
			Error: r.Refused, Message: r.RefusedBecause, SaleState: r.SaleState,
			When: r.Created.In(p.o.Location).Format("2006-01-02 15:04:05")}
		if r.OwnerStore != "" {
			v.Owner = r.OwnerStore + "/" + r.OwnerTill
		}
		switch {
		case r.Amount == 0:
			v.AmountText = "all that was left"
		case r.Currency != "":
			v.AmountText = money(r.Amount, r.Currency)
		default:
			v.AmountText = money(r.Amount, "")
		}
		d.Refunds = append(d.Refunds, v)
	}
	return d
}

// refundsPage is GET /refunds: the cross-store refunds, newest first.
func (p *page) refundsPage(w http.ResponseWriter, r *http.Request) {
	d := p.refundsData(r.Context())
	d.User, _ = r.Context().Value(userKey{}).(string)
	p.render(w, http.StatusOK, "refunds.html", d)
}

// refundsJSON is GET /api/refunds.
func (p *page) refundsJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p.refundsData(r.Context()))
}
