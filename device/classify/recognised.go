package classify

import "github.com/tillbox/tillbox/device/phone"

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

// MaskedNumber returns the phone number of a clear-text code, masked by
// phone.Mask (as the POS API masks a typed number), and false when the
// code matches no pattern with an "msisdn" group.
func (c *Classifier) MaskedNumber(code string) (string, bool) {
	if precheck(code) != nil {
		return "", false
	}
	for _, p := range c.patterns {
		if p.msisdn < 0 {
			continue
		}
		if m := p.re.FindStringSubmatch(code); m != nil && isNumeric(m[p.msisdn]) && len(m[p.msisdn]) >= 6 {
			return phone.Mask(m[p.msisdn]), true
		}
	}
	return "", false
}
