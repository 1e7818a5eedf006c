package device

import (
	"strings"
	"testing"
	"time"
)

func TestShorten(t *testing.T) {
	long := "https://qr.vipps.no/p/" + strings.Repeat("A", 100)
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"https://qr.vipps.no/28/2/01/031/4712345678?v=1", "https://qr.vipps.no/28/2/01/031/•••••••678?v=1"},
		{"4712345678", "•••••••678"},
		{"tel 123", "tel 123"},
		{"7038010055512", "••••••••••512"},
		{"a\x00b\r", `a\x00b\x0d`},
		{"\xff\xfeok", `\xff\xfeok`},
		{"blåbær", "blåbær"},
		{long, long[:64] + "…(122 bytes)"},
		{strings.Repeat("9", 70), strings.Repeat("•", 64) + "…(70 bytes)"},
		{"x" + strings.Repeat("1", 65), "x" + strings.Repeat("•", 63) + "…(66 bytes)"},
	} {
		if got := Shorten([]byte(tc.in)); got != tc.want {
			t.Errorf("Shorten(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestShortenNeverShowsFourDigits(t *testing.T) {
	for _, in := range []string{
		"https://qr.vipps.no/28/2/01/031/4712345678?v=1",
		"+4712345678",
		"12 34 56 78",
		strings.Repeat("0123456789", 10),
	} {
		got := Shorten([]byte(in))
		if run := longestDigitRun(got); run > 3 {
			t.Errorf("Shorten(%q) = %q shows %d digits in a row", in, got, run)
		}
	}
}

func longestDigitRun(s string) int {
	best, n := 0, 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

func TestScanString(t *testing.T) {
	s := Scan{Data: []byte("4712345678"), Source: "front", At: time.Unix(0, 0)}
	if got, want := s.String(), "front: •••••••678"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestVIDPID(t *testing.T) {
	if got := VIDPID(0x0c2e, 0x0b61); got != "0c2e:0b61" {
		t.Errorf("VIDPID = %q", got)
	}
}
