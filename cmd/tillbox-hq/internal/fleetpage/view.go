package fleetpage

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// connectedFor is how many heartbeat intervals a till stays connected
// after its last heartbeat.
const connectedFor = 3

// maxOffline is how many offline tills the top of the page names.
const maxOffline = 20

// readTimeout bounds the Source's answers for one page.
const readTimeout = 10 * time.Second

// fleet is what the page and /api/fleet show.
type fleet struct {
	Now       time.Time   `json:"now"`
	Day       string      `json:"day"`      // today in the chain's time zone, YYYY-MM-DD
	TimeZone  string      `json:"timeZone"` // the chain's
	Tills     int         `json:"tills"`
	Connected int         `json:"connected"`
	Stores    []storeView `json:"stores"`
	// SalesError is set when today's sales could not be read (the tills
	// are still shown).
	SalesError string `json:"salesError,omitempty"`

	// Offline are the tills not connected, the first maxOffline of them
	// by store and till (OfflineMore: how many more), for the top of the
	// page.
	Offline     []tillView `json:"-"`
	OfflineMore int        `json:"-"`

	User    string `json:"-"`
	Refresh int    `json:"-"` // seconds between the page's reloads
	Updated string `json:"-"` // Now in the chain's time zone, for people

	Actions bool `json:"-"` // tills link to their view with its actions (till.go)
}

type storeView struct {
	Store     string      `json:"store"`
	Connected int         `json:"connected"`
	Tills     []tillView  `json:"tills"`
	Sales     []salesView `json:"sales"`
}

type tillView struct {
	Chain         string     `json:"chain"`
	Store         string     `json:"store"`
	Till          string     `json:"till"`
	Connected     bool       `json:"connected"`
	LastHeartbeat *time.Time `json:"lastHeartbeat"` // null: never heard of
	// SinceHeartbeat is seconds since the last heartbeat; null: never.
	SinceHeartbeat *int64        `json:"secondsSinceHeartbeat"`
	Version        string        `json:"version"`
	VippsOnline    bool          `json:"vippsOnline"`
	Queue          int           `json:"queue"`
	Scanners       []scannerView `json:"scanners"`
	LastSeq        uint64        `json:"lastSeq"`
	AtHQ           uint64        `json:"atHQ"`
	Lag            uint64        `json:"lag"` // LastSeq − AtHQ, 0 when headquarters has all
	LastError      string        `json:"lastError"`
	tokenView                    // where its access token comes from (tokens.go)

	Heard   bool     `json:"-"` // a heartbeat ever came
	Ago     string   `json:"-"`
	Missing []string `json:"-"` // the scanners not connected
}

type scannerView struct {
	Name      string `json:"name"`
	Connected bool   `json:"connected"`
}

type salesView struct {
	Currency  string `json:"currency"`
	Count     int    `json:"count"`
	Completed int    `json:"completed"`
	Amount    int64  `json:"amount"` // minor units
	Captured  int64  `json:"captured"`
	Refunded  int64  `json:"refunded"`

	AmountText, CapturedText, RefundedText string `json:"-"`
}

// today is midnight of now's day in loc.
func today(now time.Time, loc *time.Location) time.Time {
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// read gathers the fleet from the Source.
func (p *page) read(ctx context.Context) (*fleet, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	now := p.o.Clock.Now()
	tills, err := p.src.Tills(ctx)
	if err != nil {
		return nil, err
	}
	day := today(now, p.o.Location)
	sales, err := p.src.SalesOn(ctx, day)
	f := build(now, p.o.Heartbeat, tills, sales)
	p.warnTokens(f) // tokens.go
	f.Day, f.TimeZone = day.Format(time.DateOnly), p.o.Location.String()
	f.Updated = now.In(p.o.Location).Format("15:04:05")
	if err != nil {
		p.log.Error("fleetpage: reading today's sales", "err", err)
		f.SalesError = "today's sales could not be read from headquarters' database"
	}
	return f, nil
}

// build groups tills and sales by store (stores, tills and currencies in
// order of their names) and says which tills are connected at now.
func build(now time.Time, heartbeat time.Duration, tills []Till, sales []StoreSales) *fleet {
	f := &fleet{Now: now, Stores: []storeView{}}
	stores := map[string]*storeView{}
	store := func(name string) *storeView {
		s := stores[name]
		if s == nil {
			s = &storeView{Store: name, Tills: []tillView{}, Sales: []salesView{}}
			stores[name] = s
		}
		return s
	}
	for _, t := range tills {
		tv := tillOf(now, heartbeat, t)
		s := store(t.Store)
		s.Tills = append(s.Tills, tv)
		f.Tills++
		if tv.Connected {
			s.Connected++
			f.Connected++
		}
	}
	for _, x := range sales {
		s := store(x.Store)
		s.Sales = append(s.Sales, salesView{Currency: x.Currency, Count: x.Count, Completed: x.Completed,
			Amount: x.Amount, Captured: x.Captured, Refunded: x.Refunded,
			AmountText: money(x.Amount, x.Currency), CapturedText: money(x.Captured, x.Currency),
			RefundedText: money(x.Refunded, x.Currency)})
	}
	for _, s := range stores {
		slices.SortFunc(s.Tills, func(a, b tillView) int {
			return cmp.Or(cmp.Compare(a.Till, b.Till), cmp.Compare(a.Chain, b.Chain))
		})
		slices.SortFunc(s.Sales, func(a, b salesView) int { return cmp.Compare(a.Currency, b.Currency) })
		f.Stores = append(f.Stores, *s)
	}
	slices.SortFunc(f.Stores, func(a, b storeView) int { return cmp.Compare(a.Store, b.Store) })
	for _, s := range f.Stores {
		for _, t := range s.Tills {
			if t.Connected {
				continue
			}
			if len(f.Offline) == maxOffline {
				f.OfflineMore++
				continue
			}
			f.Offline = append(f.Offline, t)
		}
	}
	return f
}

func tillOf(now time.Time, heartbeat time.Duration, t Till) tillView {
	tv := tillView{Chain: t.Chain, Store: t.Store, Till: t.Till, Version: t.Version, VippsOnline: t.Online,
		Queue: t.Queue, Scanners: []scannerView{}, LastSeq: t.LastSeq, AtHQ: t.AtHQ, LastError: t.LastError,
		Ago: ago(now, t.LastHeartbeat), tokenView: tokenViewOf(t)}
	if !t.LastHeartbeat.IsZero() {
		at := t.LastHeartbeat
		since := int64(now.Sub(at) / time.Second)
		tv.Heard, tv.LastHeartbeat, tv.SinceHeartbeat = true, &at, &since
		tv.Connected = now.Sub(at) < connectedFor*heartbeat
	}
	if t.LastSeq > t.AtHQ {
		tv.Lag = t.LastSeq - t.AtHQ
	}
	for _, sc := range t.Scanners {
		tv.Scanners = append(tv.Scanners, scannerView(sc))
		if !sc.Connected {
			tv.Missing = append(tv.Missing, sc.Name)
		}
	}
	return tv
}

// unavailable is the answer when the Source fails: the error goes to the
// log only.
func (p *page) unavailable(w http.ResponseWriter, err error) {
	p.log.Error("fleetpage: reading the tills", "err", err)
	http.Error(w, "headquarters' database does not answer: the fleet cannot be shown now; try again in a moment", http.StatusServiceUnavailable)
}

func (p *page) fleetPage(w http.ResponseWriter, r *http.Request) {
	f, err := p.read(r.Context())
	if err != nil {
		p.unavailable(w, err)
		return
	}
	f.User, _ = r.Context().Value(userKey{}).(string)
	f.Refresh = int(RefreshEvery / time.Second)
	f.Actions = p.o.Actions != nil
	p.render(w, http.StatusOK, "fleet.html", f)
}

func (p *page) fleetJSON(w http.ResponseWriter, r *http.Request) {
	f, err := p.read(r.Context())
	if err != nil {
		p.unavailable(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		p.log.Debug("fleetpage: writing /api/fleet", "err", err)
	}
}
