package fleetpage

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// alertSource is an AlertSource of fixed alerts.
type alertSource struct {
	mu     sync.Mutex
	alerts []Alert
}

func (s *alertSource) Alerts(context.Context) ([]Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.alerts, nil
}

// TestAlertsView: behind the login, the alerts page lists the alerts per
// store with the kind, the reason and since when (in the chain's time
// zone), a summary per kind; /api/alerts the same as JSON; with none the
// page says every till is healthy.
func TestAlertsView(t *testing.T) {
	as := &alertSource{alerts: []Alert{
		{Store: "bergen-1", Till: "till-1", Kind: "scanner_missing", Since: start.Add(-90 * time.Second), Reason: "scanner counter not connected"},
		{Store: "oslo-1", Till: "till-7", Kind: "link_down", Since: start.Add(-5 * time.Minute), Reason: "no heartbeat since 2026-12-07 12:55:00 UTC (5m0s ago)"},
		{Store: "oslo-1", Till: "till-7", Kind: "credentials_refused", Since: start.Add(-time.Hour), Reason: "Vipps MobilePay refuses the box's credentials <b>"},
	}}
	r := newRig(t, twoStores(start), func(o *Options) { o.Alerts = as })
	c := r.client(t)
	if a := r.get(t, c, "/alerts"); a.status != http.StatusSeeOther || a.header.Get("Location") != "login" {
		t.Fatalf("/alerts without a login: %d %q", a.status, a.header.Get("Location"))
	}
	if a := r.get(t, c, "/api/alerts"); a.status != http.StatusUnauthorized {
		t.Fatalf("/api/alerts without a login: %d", a.status)
	}
	r.login(t, c, "alice", alicePassword)
	a := r.get(t, c, "/alerts")
	if a.status != http.StatusOK || a.header.Get("Content-Security-Policy") != CSP {
		t.Fatalf("/alerts: %d, CSP %q", a.status, a.header.Get("Content-Security-Policy"))
	}
	body := html.UnescapeString(a.body)
	for _, want := range []string{"3 alerts</b> on 2 tills in 2 stores", "Link down: 1", "Scanner missing: 1",
		`data-store="bergen-1"`, "till-1 · <span class=\"kind\">Scanner missing</span>", "scanner counter not connected",
		"since 2026-12-07 13:58:30 (1 min ago)", "since 2026-12-07 13:00:00 (1 h 0 min ago)",
		"Vipps MobilePay refuses the box's credentials <b>"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(a.body, "credentials <b>") {
		t.Error("a reason is not escaped")
	}
	if strings.Index(body, "Link down") > strings.Index(body, "bergen-1\"") && strings.Index(body, `data-store="oslo-1"`) < strings.Index(body, `data-store="bergen-1"`) {
		t.Error("stores out of order")
	}
	var api struct {
		Alerts []struct{ Store, Till, Kind, Reason string }
	}
	if err := json.Unmarshal([]byte(r.get(t, c, "/api/alerts").body), &api); err != nil || len(api.Alerts) != 3 || api.Alerts[1].Kind != "link_down" {
		t.Fatalf("/api/alerts: %+v, %v", api, err)
	}
	as.mu.Lock()
	as.alerts = nil
	as.mu.Unlock()
	if a := r.get(t, c, "/alerts"); !strings.Contains(a.body, "No alerts") {
		t.Errorf("without alerts: %s", a.body)
	}
}
