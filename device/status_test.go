package device

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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
		{long, long[:22] + strings.Repeat("•", 42) + "…(122 bytes)"},
		{"https://qr.vipps.no/p/Lm3Vb8Qw1Zx6Pd0K", "https://qr.vipps.no/p/•••••••••••••d0K"},
		{"HTTPS://QR.VIPPS.NO/p/abcdefgh?x=1", "HTTPS://QR.VIPPS.NO/p/•••••••••x=1"},
		{"https://qr.vipps.no/p/ab", "https://qr.vipps.no/p/ab"},
		{"https://qr.vipps.no/p/", "https://qr.vipps.no/p/"},
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

var notCode = regexp.MustCompile(`\\x[0-9a-f]{2}|…\([0-9]+ bytes\)$`)

// FuzzShorten: whatever was scanned, Shorten shows no 4 digits in a row,
// no token of a tokenised code whole, and valid UTF-8.
func FuzzShorten(f *testing.F) {
	for _, s := range []string{"https://qr.vipps.no/p/Lm3Vb8Qw1Zx6Pd0K", "https://qr.vipps.no/28/2/01/031/4712345678?v=1", "HTTPS://qr.VIPPS.no/p/ø€x1234", "7038010055512", "a\x00\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, code []byte) {
		got := Shorten(code)
		if !utf8.ValidString(got) {
			t.Fatalf("Shorten(%q) = %q: not UTF-8", code, got)
		}
		// An escape's hex digits ("\xc3") may touch digits of the code; the
		// length of a cut scan is not the code's.
		if run := longestDigitRun(notCode.ReplaceAllString(got, "_")); run > 3 {
			t.Fatalf("Shorten(%q) = %q shows %d digits in a row", code, got, run)
		}
		if len(code) > len(tokenPrefix) && strings.EqualFold(string(code[:len(tokenPrefix)]), tokenPrefix) {
			if token := code[len(tokenPrefix):]; utf8.RuneCount(token) > 3 && strings.Contains(got[len(tokenPrefix):], string(token)) {
				t.Fatalf("Shorten(%q) = %q shows the token", code, got)
			}
		}
	})
}
