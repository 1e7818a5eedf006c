package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/tillbox/tillbox/device/classify"
)

// Scan is the [scan] section: what a scan must be to go to Vipps MobilePay
// as a customer's personal QR code.
type Scan struct {
	// Patterns recognise a personal QR code: each a name (for the logs) and
	// a regular expression (RE2 syntax) that the whole code matches, with
	// an optional named group "msisdn" around a phone number in clear text
	// (shown masked). Written as [[scan.pattern]] tables; absent means
	// classify.DefaultPatterns (Vipps' clear-text and tokenised forms,
	// MobilePay's tokenised form). They replace the defaults, so a list that
	// adds a pattern repeats the defaults it keeps.
	Patterns []classify.Pattern `toml:"pattern"`
}

const scanKey = "scan"

// defaultScan is the [scan] section of Default: the classifier's defaults.
func defaultScan() Scan {
	return Scan{Patterns: slices.Clone(classify.DefaultPatterns)}
}

// Classifier recognises personal QR codes by the patterns. It fails only
// on patterns Validate refuses.
func (s Scan) Classifier() (*classify.Classifier, error) {
	return classify.New(s.Patterns)
}

// Validate checks the section alone, as Config.Validate does (for a
// program that takes patterns from elsewhere, such as tillbox demo): an
// [*Error] with its problems, or nil. Warnings are left out.
func (s Scan) Validate() error {
	var errs []Problem
	s.check(func(field, format string, a ...any) {
		errs = append(errs, Problem{Field: field, Reason: fmt.Sprintf(format, a...)})
	}, func(string, string, ...any) {})
	if len(errs) == 0 {
		return nil
	}
	return &Error{Problems: errs}
}

// notPersonalQR are scans no personal QR pattern should accept: a pattern
// that matches one of them is too loose (a warning).
var notPersonalQR = []string{"https://example.com/p/abcdef", "HELLO WORLD", "qr.vipps.no"}

// check checks the [scan] patterns: there is at least one, each has a
// unique name and compiles; a pattern that is not anchored at both ends,
// or that accepts an obviously foreign code, is a warning.
func (s Scan) check(add, warn func(field, format string, a ...any)) {
	ps := s.Patterns
	if len(ps) == 0 {
		names := make([]string, len(classify.DefaultPatterns))
		for i, p := range classify.DefaultPatterns {
			names[i] = p.Name
		}
		add(scanKey+".pattern", "is empty: no scan could ever be a personal QR code; remove it to use the defaults (%s)", strings.Join(names, ", "))
		return
	}
	seen := map[string]int{}
	for i, p := range ps {
		f := fmt.Sprintf("%s.pattern[%d]", scanKey, i+1)
		switch {
		case strings.TrimSpace(p.Name) == "":
			add(f+".name", "missing: a name for the logs, such as %q", classify.DefaultPatterns[0].Name)
		case seen[p.Name] > 0:
			add(f+".name", "%q is also the name of %s.pattern[%d]", p.Name, scanKey, seen[p.Name])
		default:
			seen[p.Name] = i + 1
		}
		if p.Expr == "" {
			add(f+".expr", "missing: the regular expression (RE2 syntax) a whole personal QR code matches, e.g. '^https://qr\\.vipps\\.no/p/[A-Za-z0-9]+$'")
			continue
		}
		re, err := regexp.Compile(p.Expr)
		if err != nil {
			add(f+".expr", "is not a regular expression (RE2 syntax): %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			continue
		}
		if !strings.HasPrefix(p.Expr, "^") || !strings.HasSuffix(p.Expr, "$") {
			warn(f+".expr", "is not anchored: without ^ at the start and $ at the end it accepts any scan that merely contains such a code")
		}
		for _, code := range notPersonalQR {
			if re.MatchString(code) {
				warn(f+".expr", "accepts %q, which is no personal QR code: a pattern this loose sends other codes to Vipps MobilePay", code)
				break
			}
		}
	}
}
