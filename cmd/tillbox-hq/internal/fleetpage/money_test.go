package fleetpage

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestMoney(t *testing.T) {
	for _, c := range []struct {
		minor int64
		cur   string
		want  string
	}{
		{12345, "NOK", "123,45 kr"},
		{0, "NOK", "0,00 kr"},
		{5, "NOK", "0,05 kr"},
		{99, "NOK", "0,99 kr"},
		{100, "NOK", "1,00 kr"},
		{-250, "NOK", "-2,50 kr"},
		{99999, "NOK", "999,99 kr"},
		{100000, "NOK", "1 000,00 kr"},
		{123456789, "NOK", "1 234 567,89 kr"},
		{123456789, "DKK", "1.234.567,89 kr."},
		{498, "EUR", "4,98 €"},
		{1050, "SEK", "10,50 SEK"},
		{math.MaxInt64, "NOK", "92 233 720 368 547 758,07 kr"},
		{math.MinInt64, "NOK", "-92 233 720 368 547 758,08 kr"},
	} {
		got := strings.ReplaceAll(money(c.minor, c.cur), nbsp, " ")
		if got != c.want {
			t.Errorf("money(%d, %s) = %q, want %q", c.minor, c.cur, got, c.want)
		}
	}
	// An amount never breaks across lines: no plain space in it.
	if s := money(123456789, "NOK"); strings.Contains(s, " ") {
		t.Errorf("money has a breaking space: %q", s)
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 s ago"},
		{12*time.Second + 900*time.Millisecond, "12 s ago"},
		{59 * time.Second, "59 s ago"},
		{4*time.Minute + 59*time.Second, "4 min ago"},
		{3*time.Hour + 5*time.Minute, "3 h 5 min ago"},
		{50 * time.Hour, "2 d 2 h ago"},
		{-3 * time.Second, "3 s ahead of headquarters' clock"},
	} {
		if got := ago(now, now.Add(-c.d)); got != c.want {
			t.Errorf("ago(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	if got := ago(now, time.Time{}); got != "never" {
		t.Errorf("ago(zero) = %q, want never", got)
	}
}
