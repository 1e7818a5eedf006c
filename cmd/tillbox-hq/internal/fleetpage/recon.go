package fleetpage

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/recon"
)

// The reconciliation against the settlement ledger (docs/chain.md,
// "Reconciliation"): GET /recon lists the recent days per store (matched,
// each kind of difference, fee, payout), GET /recon?day=D&store=S a day's
// lines, each linked to its sale (GET /recon-sale), and GET
// /recon.csv?day=D&store=S the day's lines for an accountant.

// Recon is where the reconciliation's results come from (internal/recon's
// Store on PostgreSQL).
type Recon interface {
	Summaries(ctx context.Context, from, to, store string) ([]recon.Summary, error)
	Lines(ctx context.Context, day, store, kind string) ([]recon.Line, error)
	Sale(ctx context.Context, store, till, reference string) (recon.Sale, error)
}

// reconDays is how many days back the list shows.
const reconDays = 14

var dayPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func (p *page) reconRoutes(mux *http.ServeMux) {
	if p.o.Recon == nil {
		return
	}
	mux.HandleFunc("GET /static/recon.css", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "assets/static/recon.css")
	})
	mux.HandleFunc("GET /recon", p.loggedInPage(p.reconPage))
	mux.HandleFunc("GET /recon.csv", p.loggedIn(p.reconCSV))
	mux.HandleFunc("GET /recon-sale", p.loggedInPage(p.reconSale))
}

type reconKindView struct {
	Kind, Name string
	Count      int64
	Amount     string
	Bad        bool
}

type reconDayView struct {
	Day, Store, MSN, LedgerID   string
	Closed                      bool
	Captured, Refunded          string
	Fee, Payout, Net            string
	Kinds                       []reconKindView
	Unmatched                   int64
	RunAt                       string
	LinesHref, CSVHref, AllHref string
}

type reconLineView struct {
	recon.Line
	Name                          string
	JournalNet, LedgerNet, Differ string
	SaleHref                      string
	Bad                           bool
}

type reconData struct {
	User     string
	TimeZone string
	Error    string
	Days     []reconDayView
	// A day's lines (day and store given).
	Day, Store string
	Lines      []reconLineView
	Kind       string // the lines' filter
}

func (p *page) reconDayView(s recon.Summary) reconDayView {
	q := url.Values{"day": {s.Day}, "store": {s.Store}}
	v := reconDayView{Day: s.Day, Store: s.Store, MSN: s.MSN, LedgerID: s.LedgerID, Closed: s.Closed,
		Captured: money(s.LedgerCaptured, s.Currency), Refunded: money(s.LedgerRefunded, s.Currency),
		Fee: money(s.Fee, s.Currency), Payout: money(s.Payout, s.Currency), Net: money(s.Net(), s.Currency),
		Unmatched: s.Unmatched(), RunAt: s.RunAt.In(p.o.Location).Format("2006-01-02 15:04"),
		LinesHref: "recon?" + q.Encode(), CSVHref: "recon.csv?" + q.Encode()}
	for _, k := range recon.Kinds {
		v.Kinds = append(v.Kinds, reconKindView{Kind: k, Name: recon.KindName(k), Count: s.Counts[k],
			Amount: money(s.Amounts[k], s.Currency), Bad: s.Counts[k] > 0 && slices.Contains(recon.Differences, k)})
	}
	return v
}

// reconPage is GET /recon: the recent days, or one day's lines.
func (p *page) reconPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	d := reconData{TimeZone: p.o.Location.String()}
	d.User, _ = r.Context().Value(userKey{}).(string)
	q := r.URL.Query()
	day, store, kind := q.Get("day"), q.Get("store"), q.Get("kind")
	if day != "" && !dayPattern.MatchString(day) {
		http.Error(w, "day: YYYY-MM-DD", http.StatusBadRequest)
		return
	}
	if kind != "" && !slices.Contains(recon.Kinds, kind) {
		http.Error(w, "kind: one of matched, pending, missing_on_ledger, missing_in_journal, amount_differs", http.StatusBadRequest)
		return
	}
	to := p.o.Clock.Now().In(p.o.Location)
	from, until := to.AddDate(0, 0, 1-reconDays).Format(time.DateOnly), to.Format(time.DateOnly)
	if day != "" {
		from, until = day, day
	}
	ss, err := p.o.Recon.Summaries(ctx, from, until, store)
	if err == nil && day != "" {
		d.Day, d.Store, d.Kind = day, store, kind
		var ls []recon.Line
		ls, err = p.o.Recon.Lines(ctx, day, store, kind)
		d.Lines = p.reconLines(ls)
	}
	if err != nil {
		p.log.Warn("fleetpage: the reconciliation cannot be read", "err", err)
		d.Error = "The reconciliation cannot be read now; see headquarters' log."
	}
	for _, s := range ss {
		d.Days = append(d.Days, p.reconDayView(s))
	}
	p.render(w, http.StatusOK, "recon.html", d)
}

// reconLines are the lines for the page: the differences first.
func (p *page) reconLines(ls []recon.Line) []reconLineView {
	out := make([]reconLineView, 0, len(ls))
	for _, l := range ls {
		v := reconLineView{Line: l, Name: recon.KindName(l.Kind),
			JournalNet: money(l.JournalCaptured-l.JournalRefunded, l.Currency),
			LedgerNet:  money(l.LedgerCaptured-l.LedgerRefunded, l.Currency),
			Differ:     money(l.Difference, l.Currency), Bad: slices.Contains(recon.Differences, l.Kind)}
		if l.Till != "" && l.Kind != recon.MissingInJournal {
			v.SaleHref = "recon-sale?" + url.Values{"store": {l.Store}, "till": {l.Till}, "reference": {l.Reference}}.Encode()
		}
		out = append(out, v)
	}
	slices.SortStableFunc(out, func(a, b reconLineView) int {
		switch {
		case a.Bad == b.Bad:
			return 0
		case a.Bad:
			return -1
		}
		return 1
	})
	return out
}

// reconCSV is GET /recon.csv?day=D&store=S (store optional): the day's
// lines as CSV.
func (p *page) reconCSV(w http.ResponseWriter, r *http.Request) {
	day, store := r.URL.Query().Get("day"), r.URL.Query().Get("store")
	if !dayPattern.MatchString(day) {
		http.Error(w, "day: YYYY-MM-DD", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	ls, err := p.o.Recon.Lines(ctx, day, store, "")
	if err != nil {
		p.log.Warn("fleetpage: the reconciliation cannot be read", "err", err)
		http.Error(w, "the reconciliation cannot be read now; see headquarters' log", http.StatusServiceUnavailable)
		return
	}
	name := "recon-" + day
	if store != "" && safeName.MatchString(store) {
		name += "-" + store
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8; header=present")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	if err := recon.WriteCSV(w, ls); err != nil {
		p.log.Warn("fleetpage: writing the reconciliation's CSV", "err", err)
	}
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

type reconChangeView struct {
	recon.Change
	When, Captured, Refunded string
}

type reconSaleData struct {
	User     string
	Error    string
	Sale     recon.Sale
	Amount   string
	Captured string
	Refunded string
	Created  string
	Changes  []reconChangeView
	TimeZone string
}

// reconSale is GET /recon-sale?store=S&till=T&reference=R: a sale and the
// changes of its money, as its till journaled them.
func (p *page) reconSale(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	d := reconSaleData{TimeZone: p.o.Location.String()}
	d.User, _ = r.Context().Value(userKey{}).(string)
	s, err := p.o.Recon.Sale(ctx, q.Get("store"), q.Get("till"), q.Get("reference"))
	status := http.StatusOK
	switch {
	case errors.Is(err, recon.ErrNoSale):
		status, d.Error = http.StatusNotFound, "Headquarters has no such sale."
	case err != nil:
		p.log.Warn("fleetpage: the sale cannot be read", "err", err)
		d.Error = "The sale cannot be read now; see headquarters' log."
	}
	d.Sale = s
	d.Amount, d.Captured, d.Refunded = money(s.Amount, s.Currency), money(s.Captured, s.Currency), money(s.Refunded, s.Currency)
	d.Created = s.Created.In(p.o.Location).Format("2006-01-02 15:04:05")
	for _, c := range s.Changes {
		d.Changes = append(d.Changes, reconChangeView{Change: c, When: c.At.In(p.o.Location).Format("2006-01-02 15:04:05"),
			Captured: money(c.Captured, s.Currency), Refunded: money(c.Refunded, s.Currency)})
	}
	p.render(w, status, "recon-sale.html", d)
}
