package hqconfig

import (
	"strings"
	"testing"
	"time"
)

// TestAlertsSection: the defaults hold without [alerts]; each threshold
// out of range is named.
func TestAlertsSection(t *testing.T) {
	d := Default().Alerts
	if d.QueueNear != 0.8 || d.QueueGrowingBeats != 3 || d.MaxJournalLag != 500 || d.MaxClockSkew.D() != 30*time.Second ||
		d.EveryOr(7*time.Second) != 7*time.Second {
		t.Errorf("defaults %+v", d)
	}
	bad := Alerts{Every: Duration(time.Millisecond), QueueNear: 1.5, QueueGrowingBeats: 1, MaxClockSkew: Duration(0), MinVersion: "latest"}
	var fields []string
	for _, p := range bad.validate() {
		fields = append(fields, p.Field)
	}
	want := "alerts.every alerts.queue_near alerts.queue_growing_beats alerts.max_journal_lag alerts.max_clock_skew alerts.min_version"
	if got := strings.Join(fields, " "); got != want {
		t.Errorf("problems %q, want %q", got, want)
	}
	ok := DefaultAlerts()
	ok.MinVersion, ok.Every = "v1.4.0", Duration(time.Second)
	if ps := ok.validate(); len(ps) != 0 || ok.EveryOr(time.Minute) != time.Second {
		t.Errorf("a good section: %v", ps)
	}
}
