package fleetpage

import (
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	hb := 5 * time.Second
	tills := []Till{
		{Chain: "c", Store: "oslo", Till: "t2", LastHeartbeat: now.Add(-3 * hb), LastSeq: 10, AtHQ: 10},
		{Chain: "c", Store: "oslo", Till: "t1", LastHeartbeat: now.Add(-3*hb + time.Millisecond), Online: true,
			Queue: 2, Version: "1.4.0", LastSeq: 130, AtHQ: 120,
			Scanners: []Scanner{{Name: "counter", Connected: true}, {Name: "door", Connected: false}}},
		{Chain: "c", Store: "bergen", Till: "t9"}, // never heard of
		{Chain: "c", Store: "bergen", Till: "t8", LastHeartbeat: now, LastSeq: 3, AtHQ: 7},
	}
	sales := []StoreSales{
		{Store: "oslo", Currency: "NOK", Count: 3, Completed: 2, Amount: 30000, Captured: 20000, Refunded: 5000},
		{Store: "oslo", Currency: "EUR", Count: 1, Completed: 1, Amount: 100, Captured: 100},
		{Store: "tromsø", Currency: "NOK", Count: 1, Amount: 12345}, // no till heard of yet
	}
	f := build(now, hb, tills, sales)
	if f.Tills != 4 || f.Connected != 2 {
		t.Errorf("tills connected %d/%d, want 2/4", f.Connected, f.Tills)
	}
	if len(f.Offline) != 2 || f.Offline[0].Till != "t9" || f.Offline[1].Till != "t2" || f.OfflineMore != 0 {
		t.Errorf("offline %+v, want bergen t9, oslo t2", f.Offline)
	}
	var names []string
	for _, s := range f.Stores {
		names = append(names, s.Store)
	}
	if len(names) != 3 || names[0] != "bergen" || names[1] != "oslo" || names[2] != "tromsø" {
		t.Fatalf("stores %v, want bergen oslo tromsø", names)
	}
	oslo := f.Stores[1]
	if oslo.Connected != 1 || len(oslo.Tills) != 2 || oslo.Tills[0].Till != "t1" || oslo.Tills[1].Till != "t2" {
		t.Fatalf("oslo: %+v", oslo)
	}
	t1, t2 := oslo.Tills[0], oslo.Tills[1]
	if !t1.Connected || t2.Connected {
		t.Errorf("connected: t1 (3 intervals less 1 ms) %v, t2 (3 intervals) %v; want true, false", t1.Connected, t2.Connected)
	}
	if t1.Lag != 10 || t2.Lag != 0 {
		t.Errorf("lag t1 %d t2 %d, want 10 0", t1.Lag, t2.Lag)
	}
	if len(t1.Missing) != 1 || t1.Missing[0] != "door" {
		t.Errorf("missing scanners %v, want [door]", t1.Missing)
	}
	if t1.SinceHeartbeat == nil || *t1.SinceHeartbeat != 14 || t1.Ago != "14 s ago" {
		t.Errorf("since heartbeat %v %q, want 14 s", t1.SinceHeartbeat, t1.Ago)
	}
	bergen := f.Stores[0]
	t8, t9 := bergen.Tills[0], bergen.Tills[1]
	if t9.Heard || t9.Connected || t9.LastHeartbeat != nil || t9.Ago != "never" {
		t.Errorf("never heard of: %+v", t9)
	}
	if t8.Lag != 0 { // headquarters ahead of an older heartbeat: no lag
		t.Errorf("t8 lag %d, want 0", t8.Lag)
	}
	if len(oslo.Sales) != 2 || oslo.Sales[0].Currency != "EUR" || oslo.Sales[1].CapturedText != "200,00\u00a0kr" ||
		oslo.Sales[1].RefundedText != "50,00\u00a0kr" {
		t.Errorf("oslo sales %+v", oslo.Sales)
	}
	if tr := f.Stores[2]; len(tr.Tills) != 0 || tr.Sales[0].AmountText != "123,45\u00a0kr" {
		t.Errorf("tromsø %+v", tr)
	}
}

func TestToday(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	// 23:30 UTC on the 7th is already the 8th in Oslo.
	got := today(time.Date(2026, 12, 7, 23, 30, 0, 0, time.UTC), oslo)
	if want := time.Date(2026, 12, 8, 0, 0, 0, 0, oslo); !got.Equal(want) || got.Location() != oslo {
		t.Errorf("today = %v, want %v", got, want)
	}
}

func TestOfflineListIsShort(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var tills []Till
	for i := range maxOffline + 5 {
		tills = append(tills, Till{Store: "s", Till: string(rune('A' + i))})
	}
	f := build(now, time.Second, tills, nil)
	if len(f.Offline) != maxOffline || f.OfflineMore != 5 {
		t.Errorf("offline %d and %d more, want %d and 5 more", len(f.Offline), f.OfflineMore, maxOffline)
	}
}
