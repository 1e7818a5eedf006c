package alerts

import (
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

var (
	t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	th = Thresholds{Heartbeat: 10 * time.Second, QueueNear: 0.8, QueueGrowingBeats: 3, MaxJournalLag: 100,
		MaxClockSkew: 30 * time.Second}
)

// healthy is a till heard at t0 with nothing wrong.
func healthy(till string) hqdb.TillState {
	tl := wire.Till{Chain: "c", Store: "s1", Till: till}
	return hqdb.TillState{Till: tl, HeardAt: t0, AtHQ: 10, Heartbeat: wire.Heartbeat{Till: tl, At: t0, Version: "v1.2.0",
		Online: true, Queue: 0, QueueCap: 10, Auth: wire.AuthAccepted, LastSeq: 10, Shipped: 10,
		Scanners: []wire.Scanner{{Name: "counter", Connected: true}}}}
}

func kindsOf(as []Alert) string {
	var ks []string
	for _, a := range as {
		ks = append(ks, a.Till.Till+":"+a.Kind)
	}
	return strings.Join(ks, " ")
}

// TestEvaluate: each condition raises its kind with a reason, and a
// healthy till none.
func TestEvaluate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*hqdb.TillState)
		now    time.Time
		th     Thresholds
		want   string // the kinds of till b
		reason string // in the reason
	}{
		{"healthy", func(*hqdb.TillState) {}, t0.Add(5 * time.Second), th, "", ""},
		{"link down", func(*hqdb.TillState) {}, t0.Add(30 * time.Second), th, "b:link_down", "no heartbeat since 2026-12-07 12:00:00 UTC (30s ago)"},
		{"link up at 29s", func(*hqdb.TillState) {}, t0.Add(29 * time.Second), th, "", ""},
		{"refused", func(s *hqdb.TillState) {
			s.Heartbeat.Auth, s.Heartbeat.LastError = wire.AuthRefused, "accessToken: 401 Unauthorized"
		}, t0, th, "b:credentials_refused", "refuses the box's credentials"},
		{"queue near its cap", func(s *hqdb.TillState) { s.Heartbeat.Queue = 8 }, t0, th, "b:queue_near_cap", "8 of 10 commands queued"},
		{"queue below", func(s *hqdb.TillState) { s.Heartbeat.Queue = 7 }, t0, th, "", ""},
		{"lag", func(s *hqdb.TillState) { s.Heartbeat.LastSeq = 111 }, t0, th, "b:journal_lag", "101 events not at headquarters"},
		{"lag at the bound", func(s *hqdb.TillState) { s.Heartbeat.LastSeq = 110 }, t0, th, "", ""},
		{"scanner", func(s *hqdb.TillState) { s.Heartbeat.Scanners[0].Connected = false }, t0, th, "b:scanner_missing", "scanner counter not connected"},
		{"clock ahead", func(s *hqdb.TillState) { s.Heartbeat.At = t0.Add(10 * time.Minute) }, t0, th, "b:clock_skew", "10m0s ahead of"},
		{"clock behind", func(s *hqdb.TillState) { s.Heartbeat.At = t0.Add(-31 * time.Second) }, t0, th, "b:clock_skew", "31s behind"},
		{"clock within", func(s *hqdb.TillState) { s.Heartbeat.At = t0.Add(-30 * time.Second) }, t0, th, "", ""},
		{"version behind the fleet", func(s *hqdb.TillState) { s.Heartbeat.Version = "v1.1.9" }, t0, th, "b:version_behind", "version v1.1.9, older than v1.2.0 (the newest in the fleet)"},
		{"version behind the minimum", func(*hqdb.TillState) {}, t0, Thresholds{Heartbeat: th.Heartbeat, QueueNear: 0.8, QueueGrowingBeats: 3, MaxJournalLag: 100, MaxClockSkew: time.Minute, MinVersion: "v1.3.0"},
			"b:version_behind", "older than v1.3.0 (alerts.min_version)"},
		{"a dev build is not compared", func(s *hqdb.TillState) { s.Heartbeat.Version = "dev-3f2a1c9" }, t0, th, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := healthy("a"), healthy("b")
			b.Heartbeat.Scanners = append([]wire.Scanner(nil), b.Heartbeat.Scanners...)
			c.change(&b)
			got, _ := Evaluate(c.now, c.th, []hqdb.TillState{a, b}, nil)
			var ofB []Alert
			for _, x := range got {
				if x.Till.Till == "b" {
					ofB = append(ofB, x)
				} else if x.Kind != LinkDown && x.Kind != VersionBehind {
					t.Errorf("till a: %+v", x)
				}
			}
			if kindsOf(ofB) != c.want {
				t.Fatalf("alerts %q, want %q: %+v", kindsOf(ofB), c.want, ofB)
			}
			if c.want != "" && !strings.Contains(ofB[0].Reason, c.reason) {
				t.Errorf("reason %q lacks %q", ofB[0].Reason, c.reason)
			}
			if c.want != "" && c.want != "b:link_down" && !ofB[0].Since.Equal(t0) {
				t.Errorf("since %v, want the heartbeat's %v", ofB[0].Since, t0)
			}
		})
	}
}

// TestQueueGrowing: three heartbeats in a row that grow (or hold) raise
// queue_growing since the first of them; one that shrinks clears it; an
// evaluation without a new heartbeat changes nothing.
func TestQueueGrowing(t *testing.T) {
	var trends map[wire.Till]Trend
	step := func(i, queue int) []Alert {
		s := healthy("b")
		s.HeardAt = t0.Add(time.Duration(i) * 10 * time.Second)
		s.Heartbeat.At, s.Heartbeat.Queue, s.Heartbeat.QueueCap = s.HeardAt, queue, 1000
		var as []Alert
		as, trends = Evaluate(s.HeardAt, th, []hqdb.TillState{s}, trends)
		return as
	}
	for i, q := range []int{0, 1, 2, 2} {
		if as := step(i, q); len(as) != 0 {
			t.Fatalf("heartbeat %d (queue %d): %+v", i, q, as)
		}
	}
	as := step(4, 5)
	if kindsOf(as) != "b:queue_growing" || !as[0].Since.Equal(t0) || !strings.Contains(as[0].Reason, "from 0 to 5 over 3 heartbeats") {
		t.Fatalf("after three rises: %+v", as)
	}
	if as := step(4, 5); kindsOf(as) != "b:queue_growing" {
		t.Fatalf("the same heartbeat again: %+v", as)
	}
	if as := step(5, 4); len(as) != 0 {
		t.Fatalf("shrunk: %+v", as)
	}
}
