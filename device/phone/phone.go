// Package phone masks phone numbers (MSISDNs) for what a person may see: the
// customer display, the POS, the technician page. It is the one masker of
// tillbox; it imports nothing but the standard library, so drivers and the
// agent can both use it.
package phone

import "strings"

// CountryCodes are the E.164 calling codes Mask keeps at the start of a
// number: the countries where Vipps MobilePay customers have their phones
// (Norway 47, Denmark 45, Finland 358, Sweden 46) and their neighbours in
// the same numbering zones (Iceland 354, the Faroe Islands 298, Greenland
// 299). Codes are prefix-free (E.164), so at most one matches; the
// three-digit codes come first so that 354 is never read as "35" (35 is no
// country code: zone 3's 35x codes all have three digits).
var CountryCodes = []string{"358", "354", "298", "299", "45", "46", "47"}

// minDigits is the shortest number Mask shows anything of: below it, three
// digits would be half the number.
const minDigits = 6

// Mask masks an MSISDN for display. The number is digits, country code
// first, optionally written with a leading "+" or "00" ("4712345678",
// "+4712345678", "004712345678"). The rule:
//
//   - The country code stays when it is one of CountryCodes and at least six
//     digits follow it: "+47 ", "+358 ".
//   - The last three digits stay; every other digit is a dot, with a space
//     before the last three. Norwegian numbers (47 and 8 digits) are grouped
//     as Norwegians write them: "4712345678" is "+47 ••• •• 678";
//     "4512345678" is "+45 ••••• 678"; "3541234567" is "+354 •••• 567".
//   - A number with an unknown country code shows no code: "123456789" is
//     "•••••• 789".
//   - Anything else (fewer than six digits, other characters) is "•••".
//
// The result never holds a digit of the number other than its country code
// and its last three digits.
func Mask(msisdn string) string {
	digits := strip(msisdn)
	if len(digits) < minDigits || !numeric(digits) {
		return "•••"
	}
	cc := ""
	for _, c := range CountryCodes {
		if strings.HasPrefix(digits, c) && len(digits)-len(c) >= minDigits {
			cc = c
			break
		}
	}
	rest := digits[len(cc):]
	last := rest[len(rest)-3:]
	var b strings.Builder
	if cc != "" {
		b.WriteString("+" + cc + " ")
	}
	if cc == "47" && len(rest) == 8 {
		b.WriteString("••• •• " + last)
		return b.String()
	}
	b.WriteString(strings.Repeat("•", len(rest)-3) + " " + last)
	return b.String()
}

// strip removes the international prefix: a leading "+" or "00".
func strip(s string) string {
	if r, ok := strings.CutPrefix(s, "+"); ok {
		return r
	}
	if r, ok := strings.CutPrefix(s, "00"); ok {
		return r
	}
	return s
}

func numeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
