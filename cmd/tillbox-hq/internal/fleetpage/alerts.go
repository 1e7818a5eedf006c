package fleetpage

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Alert is one open alert of a till: why it is unhealthy
// (cmd/tillbox-hq/internal/alerts).
type Alert struct {
	Store, Till, Kind string
	Since             time.Time
	Reason            string
}

// AlertSource is where the alerts come from (headquarters' PostgreSQL).
type AlertSource interface {
	Alerts(ctx context.Context) ([]Alert, error)
}

// kindNames are the alert kinds for people.
var kindNames = map[string]string{
	"link_down":           "Link down",
	"credentials_refused": "Vipps MobilePay credentials refused",
	"queue_near_cap":      "Queue near its cap",
	"queue_growing":       "Queue growing",
	"journal_lag":         "Journal lag",
	"scanner_missing":     "Scanner missing",
	"clock_skew":          "Clock skew",
	"version_behind":      "Version behind",
}

// alertsView is the alerts page and /api/alerts.
type alertsView struct {
	Now    time.Time   `json:"now"`
	Alerts []alertView `json:"alerts"`

	Stores []storeAlertsView  `json:"-"` // the alerts by store
	Tills  int                `json:"-"` // tills with an alert
	Counts []kindCountView    `json:"-"` // alerts per kind, the kinds with one
	User   string             `json:"-"`
	Page   alertsPageSettings `json:"-"`
}

type alertsPageSettings struct {
	Refresh  int
	Updated  string
	TimeZone string
}

type kindCountView struct {
	Kind, Name string
	Count      int
}

type storeAlertsView struct {
	Store  string
	Alerts []alertView
}

type alertView struct {
	Store  string    `json:"store"`
	Till   string    `json:"till"`
	Kind   string    `json:"kind"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`

	Name      string `json:"-"` // the kind for people
	SinceText string `json:"-"` // Since in the chain's time zone
	Ago       string `json:"-"`
}

// readAlerts gathers the alerts by store (the Source orders them by store,
// till and kind).
func (p *page) readAlerts(ctx context.Context) (*alertsView, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	now := p.o.Clock.Now()
	as, err := p.o.Alerts.Alerts(ctx)
	if err != nil {
		return nil, err
	}
	v := &alertsView{Alerts: []alertView{}, Now: now}
	v.Page = alertsPageSettings{Refresh: int(RefreshEvery / time.Second),
		Updated: now.In(p.o.Location).Format("15:04:05"), TimeZone: p.o.Location.String()}
	counts := map[string]int{}
	tills := map[[2]string]bool{}
	for _, a := range as {
		av := alertView{Store: a.Store, Till: a.Till, Kind: a.Kind, Since: a.Since, Reason: a.Reason,
			Name: kindNames[a.Kind], SinceText: a.Since.In(p.o.Location).Format("2006-01-02 15:04:05"),
			Ago: ago(now, a.Since)}
		if av.Name == "" {
			av.Name = a.Kind
		}
		v.Alerts = append(v.Alerts, av)
		if n := len(v.Stores); n == 0 || v.Stores[n-1].Store != a.Store {
			v.Stores = append(v.Stores, storeAlertsView{Store: a.Store})
		}
		s := &v.Stores[len(v.Stores)-1]
		s.Alerts = append(s.Alerts, av)
		counts[a.Kind]++
		tills[[2]string{a.Store, a.Till}] = true
	}
	v.Tills = len(tills)
	for _, k := range []string{"link_down", "credentials_refused", "queue_near_cap", "queue_growing",
		"journal_lag", "scanner_missing", "clock_skew", "version_behind"} {
		if counts[k] > 0 {
			v.Counts = append(v.Counts, kindCountView{Kind: k, Name: kindNames[k], Count: counts[k]})
		}
	}
	return v, nil
}

// loggedInPage is loggedIn for a page: without a session it sends the
// browser to the login form.
func (p *page) loggedInPage(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p.sessions.get(p.sessionID(r), p.o.Clock.Now()) == "" {
			seeOther(w, "login")
			return
		}
		p.loggedIn(h)(w, r)
	}
}

func (p *page) alertsPage(w http.ResponseWriter, r *http.Request) {
	if p.o.Alerts == nil {
		http.NotFound(w, r)
		return
	}
	v, err := p.readAlerts(r.Context())
	if err != nil {
		p.unavailable(w, err)
		return
	}
	v.User, _ = r.Context().Value(userKey{}).(string)
	p.render(w, http.StatusOK, "alerts.html", v)
}

func (p *page) alertsJSON(w http.ResponseWriter, r *http.Request) {
	if p.o.Alerts == nil {
		http.NotFound(w, r)
		return
	}
	v, err := p.readAlerts(r.Context())
	if err != nil {
		p.unavailable(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		p.log.Debug("fleetpage: writing /api/alerts", "err", err)
	}
}

// alertRoutes adds the alerts' routes to mux.
func (p *page) alertRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /static/alerts.css", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "assets/static/alerts.css")
	})
	mux.HandleFunc("GET /alerts", p.loggedInPage(p.alertsPage))
	mux.HandleFunc("GET /api/alerts", p.loggedIn(p.alertsJSON))
}
