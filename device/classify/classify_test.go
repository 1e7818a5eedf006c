package classify

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	vippsClear = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"
	vippsOld   = "https://qr.vipps.no/28/2/01/031/4791234567?v=1"
	tokenised  = "https://qr.vipps.no/p/AbYz-09_x.Q~w"
)

func TestClassify(t *testing.T) {
	c := Default()
	for _, tc := range []struct {
		code    string
		pattern string // "" when refused
		reason  Reason
	}{
		{vippsClear, "vipps-clear", ""},
		{vippsOld, "vipps-clear", ""},
		{"HTTPS://QR.VIPPS.NO/28/2/01/031/4712345678?v=1", "vipps-clear", ""},
		{"https://qr.vipps.no/28/4712345678?v=2", "vipps-clear", ""},
		{"https://qr.vipps.no/28/2/01/031/4512345678?v=1", "vipps-clear", ""},
		{tokenised, "tokenised", ""},
		{"https://qr.vipps.no/p/eyJhbGciOiJFUzI1NiJ9.eyJ2IjoyfQ.MEUCIQD-abc_XYZ%2B=", "tokenised", ""},
		{"https://qr.vipps.no/p/Zx9-_.~AbC123%2B?v=2&x=1#f+Z", "tokenised", ""},
		{"HTTPS://QR.VIPPS.NO/p/ABCDEF", "tokenised", ""},

		{"", "", ReasonEmpty},
		{"\xff\xfe\x00garbage", "", ReasonNotText},
		{vippsClear + "\r", "", ReasonNotText},
		{"https://qr.vipps.no/p/ab\x1dcd", "", ReasonNotText},
		{"\x1b[2J", "", ReasonNotText},
		{"https://qr.vipps.no/p/" + strings.Repeat("a", 300), "", ReasonTooLong},
		{"7038010055512", "", ReasonProductBarcode}, // EAN-13
		{"59012341", "", ReasonProductBarcode},      // EAN-8
		{"036000291452", "", ReasonProductBarcode},  // UPC-A
		{"https://qr.vipps.no/28/2/01/031/4712345678?v=1&m=hei&a=100", "", ReasonOtherVipps},
		{"https://qr.vipps.no/p/ab", "", ReasonOtherVipps}, // token too short
		{"https://qr.vipps.no/28/2/01/031/47123?v=1", "", ReasonOtherVipps},
		{"http://qr.vipps.no/p/AbCdEf", "", ReasonOtherVipps},
		{"https://qr.vipps.no/28/2/01/031/4712345678", "", ReasonOtherVipps},
		{"https://qr.vipps.no/p/ abc def", "", ReasonOtherVipps},
		{"https://qr.vipps.no.evil.example/p/AbCdEf", "", ReasonOtherURL},
		{"https://evil.example/?https://qr.vipps.no/p/AbCdEf", "", ReasonOtherURL},
		{" https://qr.vipps.no/p/AbCdEf", "", ReasonOtherURL},
		{"https://example.com/menu", "", ReasonOtherURL},
		{"WIFI:S:shop;T:WPA;P:secret;;", "", ReasonUnknown},
		{"hello", "", ReasonUnknown},
		{"1234", "", ReasonUnknown},
		{"blåbærsyltetøy", "", ReasonUnknown},
	} {
		name, err := c.Classify(tc.code)
		if tc.pattern != "" {
			if err != nil || name != tc.pattern {
				t.Errorf("Classify(%q) = %q, %v; want pattern %q", tc.code, name, err, tc.pattern)
			}
			continue
		}
		var r *Refusal
		if !errors.As(err, &r) || r.Reason != tc.reason || name != "" {
			t.Errorf("Classify(%q) = %q, %v; want refusal %q", tc.code, name, err, tc.reason)
		}
	}
}

func TestRefusalMessages(t *testing.T) {
	for _, r := range []Reason{ReasonEmpty, ReasonNotText, ReasonTooLong, ReasonProductBarcode, ReasonOtherVipps, ReasonOtherURL, ReasonUnknown} {
		if messages[r] == "" {
			t.Errorf("no message for %q", r)
		}
		err := &Refusal{Reason: r}
		if !strings.Contains(err.Error(), string(r)) || !strings.Contains(err.Error(), r.Message()) {
			t.Errorf("Error() = %q", err.Error())
		}
	}
	if Reason("new").Message() != ReasonUnknown.Message() {
		t.Error("unknown reason has no fallback message")
	}
	_, err := Default().Classify(vippsClear + "&a=1")
	if strings.Contains(err.Error(), "4712345678") || strings.Contains(err.Error(), "qr.vipps") {
		t.Errorf("refusal reveals the code: %v", err)
	}
}

func TestRecognised(t *testing.T) {
	c := Default()
	for _, tc := range []struct{ code, want string }{
		{vippsClear, "+47 ••• •• 678"},
		{vippsOld, "+47 ••• •• 567"},
		{"https://qr.vipps.no/28/2/01/031/4512345678?v=1", "+45 ••••• 678"},
		{"https://qr.vipps.no/28/2/01/031/358401234567?v=1", "+358 •••••• 567"},
		{"https://qr.vipps.no/28/2/01/031/123456789?v=1", "•••••• 789"},
		{tokenised, Greeting},
		{"7038010055512", Greeting},
		{"", Greeting},
	} {
		if got := c.Recognised(tc.code); got != tc.want {
			t.Errorf("Recognised(%q) = %q, want %q", tc.code, got, tc.want)
		}
	}
	if _, ok := c.MaskedNumber(tokenised); ok {
		t.Error("a masked number for a tokenised code")
	}
}

func TestCustomPatterns(t *testing.T) {
	c, err := New([]Pattern{
		{Name: "mobilepay", Expr: `^https://qr\.mobilepay\.example/(?P<msisdn>[0-9]{10})$`},
		{Name: "vipps-v2", Expr: `^https://qr\.vipps\.no/v2/[A-Z]{6}$`},
	})
	if err != nil {
		t.Fatal(err)
	}
	if name, err := c.Classify("https://qr.mobilepay.example/4512345678"); err != nil || name != "mobilepay" {
		t.Errorf("custom pattern: %q %v", name, err)
	}
	if got := c.Recognised("https://qr.mobilepay.example/4512345678"); got != "+45 ••••• 678" {
		t.Errorf("Recognised = %q", got)
	}
	if name, err := c.Classify("https://qr.vipps.no/v2/ABCDEF"); err != nil || name != "vipps-v2" {
		t.Errorf("custom pattern: %q %v", name, err)
	}
	// The defaults are gone: the configuration replaces them.
	if _, err := c.Classify(tokenised); err == nil {
		t.Error("default pattern still accepted")
	}
	// No pattern may accept what ePayment refuses.
	loose, _ := New([]Pattern{{Name: "all", Expr: `.*`}})
	for _, code := range []string{"", "ab", "x\x00y", "7038010055512", strings.Repeat("a", 256)} {
		if _, err := loose.Classify(code); err == nil {
			t.Errorf("pattern .* accepted %q", code)
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Error("no patterns accepted")
	}
	_, err := New([]Pattern{{Name: "ok", Expr: "^a$"}, {Name: "broken", Expr: "(["}})
	if err == nil || !strings.Contains(err.Error(), `pattern 2 ("broken")`) {
		t.Errorf("bad pattern: %v", err)
	}
}

// FuzzClassify: whatever is scanned, an accepted code is one ePayment takes
// (5 to 255 bytes of printable UTF-8), a refusal has a known reason and
// never repeats the code, and Recognised never shows more than three digits
// in a row.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{vippsClear, vippsOld, tokenised, "7038010055512", "", "\xff", "https://qr.vipps.no/28/4712345678?v=1&a=1",
		"HTTPS://QR.VIPPS.NO/P/ABCD", "https://qr.vipps.no/p/a%2Fb?c=d#e"} {
		f.Add(s)
	}
	c := Default()
	f.Fuzz(func(t *testing.T, code string) {
		name, err := c.Classify(code)
		if err == nil {
			if name == "" || len(code) < MinLen || len(code) > MaxLen || !utf8.ValidString(code) || strings.ContainsFunc(code, isControl) {
				t.Fatalf("accepted %q as %q", code, name)
			}
			if !strings.HasPrefix(strings.ToLower(code), "https://qr.vipps.no/") {
				t.Fatalf("accepted %q off qr.vipps.no", code)
			}
		} else {
			var r *Refusal
			if !errors.As(err, &r) || messages[r.Reason] == "" {
				t.Fatalf("refusal %v", err)
			}
			if len(code) >= 5 && strings.Contains(err.Error(), code) {
				t.Fatalf("refusal %q repeats the code", err)
			}
		}
		disp := c.Recognised(code)
		run := 0
		for _, r := range disp {
			if r >= '0' && r <= '9' {
				run++
				if run > 3 {
					t.Fatalf("Recognised(%q) = %q shows more than 3 digits", code, disp)
				}
			} else {
				run = 0
			}
		}
	})
}
