package phone

import (
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Norway: 8 digits, grouped as written.
		{"4712345678", "+47 ••• •• 678"},
		{"+4712345678", "+47 ••• •• 678"},
		{"004712345678", "+47 ••• •• 678"},
		{"4799999999", "+47 ••• •• 999"},
		{"47123456789", "+47 •••••• 789"},
		// Denmark and Sweden.
		{"4512345678", "+45 ••••• 678"},
		{"+4512345678", "+45 ••••• 678"},
		{"004512345678", "+45 ••••• 678"},
		{"4612345678", "+46 ••••• 678"},
		{"46701234567", "+46 •••••• 567"},
		// Finland and Iceland: three-digit codes, never read as "35".
		{"358401234567", "+358 •••••• 567"},
		{"+358401234567", "+358 •••••• 567"},
		{"00358401234567", "+358 •••••• 567"},
		{"3541234567", "+354 •••• 567"},
		{"+3541234567", "+354 •••• 567"},
		// The Faroe Islands and Greenland.
		{"298123456", "+298 ••• 456"},
		{"299123456", "+299 ••• 456"},
		// An unknown country code shows none.
		{"123456789", "•••••• 789"},
		{"447700900123", "••••••••• 123"},
		// Too short for the country code to stay.
		{"471234", "••• 234"},
		{"47123456", "+47 ••• 456"},
		// Garbage.
		{"", "•••"},
		{"12345", "•••"},
		{"+12345", "•••"},
		{"47abc12345", "•••"},
		{"+47 123 45 678", "•••"},
		{"++4712345678", "•••"},
		{"-4712345678", "•••"},
		{"４７１２３４５６７８", "•••"},
		{"47123\x0045678", "•••"},
	} {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzMask: Mask never panics, and what it shows of a number is at most its
// country code and its last three digits.
func FuzzMask(f *testing.F) {
	for _, s := range []string{"4712345678", "+4712345678", "004712345678", "3541234567", "358401234567",
		"123456789", "471234", "", "+", "00", "+00", "0000000", "47abc12345", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Mask(in)
		shown := out
		if rest, ok := strings.CutPrefix(out, "+"); ok {
			cc, after, found := strings.Cut(rest, " ")
			if !found || !known(cc) || !strings.HasPrefix(strip(in), cc) {
				t.Fatalf("Mask(%q) = %q: country code %q", in, out, cc)
			}
			shown = after
		}
		var digits []byte
		for i := 0; i < len(shown); i++ {
			if shown[i] >= '0' && shown[i] <= '9' {
				digits = append(digits, shown[i])
			}
		}
		if len(digits) > 3 || !strings.HasSuffix(in, string(digits)) {
			t.Fatalf("Mask(%q) = %q shows more than the last 3 digits", in, out)
		}
		if strings.ContainsFunc(shown, func(r rune) bool { return r != '•' && r != ' ' && (r < '0' || r > '9') }) {
			t.Fatalf("Mask(%q) = %q holds something other than dots, spaces and digits", in, out)
		}
	})
}

func known(cc string) bool {
	for _, c := range CountryCodes {
		if c == cc {
			return true
		}
	}
	return false
}
