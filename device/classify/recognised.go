package classify

import (
	"strings"
)

// Greeting is what Recognised shows when a code names no one: tokenised
// codes carry no phone number. The display translates it.
const Greeting = "Welcome!"

// Recognised is what the customer display may show for a personal QR code:
// the phone number masked ("+47 ••• •• 678") when the code shows one in
// clear text, or else Greeting. Never the full number.
func (c *Classifier) Recognised(code string) string {
	if m, ok := c.MaskedNumber(code); ok {
		return m
	}
	return Greeting
}

// MaskedNumber returns the phone number of a clear-text code, masked, and
// false when the code matches no pattern with an "msisdn" group.
func (c *Classifier) MaskedNumber(code string) (string, bool) {
	if precheck(code) != nil {
		return "", false
	}
	for _, p := range c.patterns {
		if p.msisdn < 0 {
			continue
		}
		if m := p.re.FindStringSubmatch(code); m != nil && isNumeric(m[p.msisdn]) && len(m[p.msisdn]) >= 6 {
			return Mask(m[p.msisdn]), true
		}
	}
	return "", false
}

// countryCodes are the calling codes Mask recognises at the start of an
// MSISDN: the Nordic countries where Vipps MobilePay is used.
var countryCodes = []string{"358", "354", "298", "299", "45", "46", "47"}

// Mask masks an MSISDN (digits only, country code first) for display: the
// country code and the last three digits stay, the rest are dots.
// Norwegian numbers (47 and 8 digits) are grouped as they are written:
// "4712345678" is "+47 ••• •• 678".
func Mask(msisdn string) string {
	if len(msisdn) < 6 || !isNumeric(msisdn) {
		return "•••"
	}
	cc := ""
	for _, c := range countryCodes {
		if strings.HasPrefix(msisdn, c) && len(msisdn)-len(c) >= 6 {
			cc = c
			break
		}
	}
	rest := msisdn[len(cc):]
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
