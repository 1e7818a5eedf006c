// Package classify decides whether a scan is a personal QR code of the
// Vipps or MobilePay app, which the agent may send to ePayment whole as
// customer.personalQr, and otherwise says why not in words the customer
// display can show. It recognises codes by a configurable list of patterns,
// because the format may change; nothing is parsed out of a code for the
// payment.
package classify

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Pattern is a named regular expression (RE2 syntax, see regexp/syntax)
// that the whole of a personal QR code matches. A named group "msisdn"
// marks the phone number in a clear-text code, which Recognised shows
// masked.
type Pattern struct {
	Name string `toml:"name" json:"name"`
	Expr string `toml:"expr" json:"expr"`
}

// DefaultPatterns are the personal QR codes of vipps/FACTS.md §8:
//
//   - "vipps-clear": the Vipps code with the phone number in clear text,
//     https://qr.vipps.no/28/2/01/031/4712345678?v=1: numeric path
//     segments (their meaning is not documented), the MSISDN (9 to 15
//     digits, e.g. 47 and 8 digits), and a version.
//   - "tokenised": https://qr.vipps.no/p/<token>, the tokenised form of the
//     specs, used by MobilePay and by Vipps as it moves to tokens. The token
//     format is not documented: any URL path characters, with an optional
//     query and fragment.
//
// Scheme and host match in any case (a QR code in alphanumeric mode carries
// upper case); the path is matched as it is.
var DefaultPatterns = []Pattern{
	{Name: "vipps-clear", Expr: `^(?i:https://qr\.vipps\.no)/(?:[0-9]{1,4}/){1,8}(?P<msisdn>[0-9]{9,15})\?v=[0-9]{1,3}$`},
	{Name: "tokenised", Expr: `^(?i:https://qr\.vipps\.no)/p/[A-Za-z0-9\-._~%!$&'()*+,;=:@/]{4,}(?:\?[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*)?(?:#[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*)?$`},
}

// Length bounds of a personal QR code: those ePayment puts on
// customer.personalQr as the agent checks them.
const (
	MinLen = 5
	MaxLen = 255
)

// Classifier recognises personal QR codes by its patterns. It is safe for
// concurrent use.
type Classifier struct {
	patterns []compiled
}

type compiled struct {
	name   string
	re     *regexp.Regexp
	msisdn int // index of the "msisdn" group, or -1
}

// New returns a Classifier for patterns, or an error naming the pattern
// that does not compile.
func New(patterns []Pattern) (*Classifier, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("classify: no patterns: a scan could never be a personal QR code")
	}
	c := &Classifier{}
	for i, p := range patterns {
		re, err := regexp.Compile(p.Expr)
		if err != nil {
			return nil, fmt.Errorf("classify: pattern %d (%q): %w", i+1, p.Name, err)
		}
		c.patterns = append(c.patterns, compiled{name: p.Name, re: re, msisdn: re.SubexpIndex("msisdn")})
	}
	return c, nil
}

// Default returns a Classifier for DefaultPatterns.
func Default() *Classifier {
	c, err := New(DefaultPatterns)
	if err != nil {
		panic(err) // the defaults compile: a test says so
	}
	return c
}

// Classify returns the name of the pattern code matches, or a *Refusal
// telling why code is not a personal QR code.
func (c *Classifier) Classify(code string) (string, error) {
	if r := precheck(code); r != nil {
		return "", r
	}
	for _, p := range c.patterns {
		if p.re.MatchString(code) {
			return p.name, nil
		}
	}
	return "", refusal(code)
}

// precheck refuses what no pattern may accept: codes ePayment would refuse.
func precheck(code string) *Refusal {
	switch {
	case code == "":
		return &Refusal{Reason: ReasonEmpty}
	case !utf8.ValidString(code) || strings.ContainsFunc(code, isControl):
		return &Refusal{Reason: ReasonNotText}
	case len(code) > MaxLen:
		return &Refusal{Reason: ReasonTooLong}
	case isNumeric(code) && len(code) >= 6 && len(code) <= 18:
		return &Refusal{Reason: ReasonProductBarcode}
	case len(code) < MinLen:
		return &Refusal{Reason: ReasonUnknown}
	}
	return nil
}

// refusal tells what a code that no pattern matched is.
func refusal(code string) *Refusal {
	lower := strings.ToLower(code)
	switch {
	case strings.HasPrefix(lower, "https://qr.vipps.no/") || strings.HasPrefix(lower, "http://qr.vipps.no/"):
		return &Refusal{Reason: ReasonOtherVipps}
	case strings.Contains(lower, "://") || strings.HasPrefix(lower, "www."):
		return &Refusal{Reason: ReasonOtherURL}
	}
	return &Refusal{Reason: ReasonUnknown}
}

func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0)
}

func isNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
