package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	ok := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"50ms", 50 * time.Millisecond, "50ms"},
		{"60s", time.Minute, "1m"},
		{"2m", 2 * time.Minute, "2m"},
		{"90s", 90 * time.Second, "1m30s"},
		{"1h30m", 90 * time.Minute, "1h30m"},
		{"2h", 2 * time.Hour, "2h"},
		{"90d", 90 * 24 * time.Hour, "90d"},
		{"1d12h", 36 * time.Hour, "36h"},
		{"24h", 24 * time.Hour, "1d"},
		{" 5s ", 5 * time.Second, "5s"},
		{"0s", 0, "0s"},
		{"0d", 0, "0s"},
	}
	for _, tc := range ok {
		d, err := ParseDuration(tc.in)
		if err != nil || d.D() != tc.want || d.String() != tc.out {
			t.Errorf("ParseDuration(%q) = %v (%s), %v; want %v (%s)", tc.in, d.D(), d, err, tc.want, tc.out)
		}
		// What String writes parses back to the same.
		if back, err := ParseDuration(d.String()); err != nil || back != d {
			t.Errorf("%q: String %q does not parse back: %v %v", tc.in, d, back, err)
		}
	}
	for _, in := range []string{"", "2", "soon", "-5s", "1.5d", "d", "-1d", "5dd", "1d-2h", "1w"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
}

func TestDurationFromTOML(t *testing.T) {
	var d Duration
	for _, v := range []any{int64(60), 1.5, true} {
		if err := d.UnmarshalTOML(v); err == nil || !strings.Contains(err.Error(), "must be a duration in quotes") {
			t.Errorf("UnmarshalTOML(%v) = %v", v, err)
		}
	}
	if err := d.UnmarshalTOML("2m"); err != nil || d.D() != 2*time.Minute {
		t.Errorf("UnmarshalTOML(2m) = %v, %v", d, err)
	}
}
