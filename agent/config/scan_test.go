package config

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/device/classify"
)

// patterns renders [[scan.pattern]] tables of name, expr pairs (raw TOML
// values).
func patterns(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		b.WriteString("[[scan.pattern]]\n")
		if pairs[i] != "" {
			b.WriteString("name = " + pairs[i] + "\n")
		}
		if pairs[i+1] != "" {
			b.WriteString("expr = " + pairs[i+1] + "\n")
		}
	}
	return b.String()
}

// checkScan returns what the agent's scan check says of code.
func checkScan(t *testing.T, c *Config, code string) error {
	t.Helper()
	ao, err := c.AgentOptions()
	if err != nil {
		t.Fatal(err)
	}
	return ao.CheckScan(code)
}

// TestScanPatternsDefault: without [scan], or with an empty [scan], the
// classifier's defaults recognise the documented codes.
func TestScanPatternsDefault(t *testing.T) {
	for _, text := range []string{minimal().String(), minimal().String() + "[scan]\n"} {
		c := mustParse(t, text)
		if !slices.Equal(c.Scan.Patterns, classify.DefaultPatterns) {
			t.Errorf("patterns %v, want the defaults", c.Scan.Patterns)
		}
		if err := checkScan(t, c, "https://qr.vipps.no/28/2/01/031/4712345678?v=1"); err != nil {
			t.Errorf("clear-text code refused: %v", err)
		}
		if err := checkScan(t, c, "https://qr.vipps.no/p/Lm3Vb8Qw1Zx6Pd0K"); err != nil {
			t.Errorf("tokenised code refused: %v", err)
		}
		var r *classify.Refusal
		if err := checkScan(t, c, "https://example.com/p/Lm3Vb8Qw1Zx6Pd0K"); !errors.As(err, &r) {
			t.Errorf("another URL: %v, want a refusal", err)
		}
	}
}

// TestScanPatternsConfigured: configured patterns replace the defaults in
// what the agent accepts, and survive String.
func TestScanPatternsConfigured(t *testing.T) {
	text := minimal().String() + patterns(
		`"mobilepay-new"`, `'^https://qr\.mobilepay\.dk/c/[A-Z0-9]{8}$'`,
		`"tokenised"`, `'''^https://qr\.vipps\.no/p/[a-z']{4,}$'''`)
	c := mustParse(t, text)
	want := []classify.Pattern{
		{Name: "mobilepay-new", Expr: `^https://qr\.mobilepay\.dk/c/[A-Z0-9]{8}$`},
		{Name: "tokenised", Expr: `^https://qr\.vipps\.no/p/[a-z']{4,}$`},
	}
	if !slices.Equal(c.Scan.Patterns, want) || len(c.Warnings) != 0 {
		t.Fatalf("patterns %q, warnings %v", c.Scan.Patterns, c.Warnings)
	}
	for code, ok := range map[string]bool{
		"https://qr.mobilepay.dk/c/AB12CD34":             true,
		"https://qr.vipps.no/p/abc'd":                    true,
		"https://qr.mobilepay.dk/c/ab12cd34":             false,
		"https://qr.vipps.no/28/2/01/031/4712345678?v=1": false, // a default, no longer configured
	} {
		if err := checkScan(t, c, code); (err == nil) != ok {
			t.Errorf("%s: %v, want accepted %v", code, err, ok)
		}
	}
	// The configuration in force shows them, and reads back the same.
	again, _ := Parse([]byte(c.String()), t.TempDir(), noEnv) // its secrets are redacted
	if again == nil || !slices.Equal(again.Scan.Patterns, want) {
		t.Errorf("String round trip: %q", again.Scan.Patterns)
	}
}

// TestScanPatternProblems: each problem names the field and says why,
// with the line.
func TestScanPatternProblems(t *testing.T) {
	for _, tc := range []struct {
		scan, field, reason string
		line                int // counted from the first line of scan; 0: none
	}{
		{"[scan]\npattern = []\n", "scan.pattern", "is empty: no scan could ever be a personal QR code; remove it to use the defaults (vipps-clear, tokenised)", 2},
		{patterns(`"a"`, `'^(x$'`), "scan.pattern[1].expr", "is not a regular expression (RE2 syntax): missing closing ): `^(x$`", 3},
		{patterns(`"a"`, `'^x$'`, `"b"`, `'^y[$'`), "scan.pattern[2].expr", "is not a regular expression (RE2 syntax): missing closing ]: `[$`", 6},
		{patterns(`"a"`, `'^(?<n>x$'`), "scan.pattern[1].expr", "is not a regular expression", 3},
		{patterns(`"a"`, ""), "scan.pattern[1].expr", "missing: the regular expression", 0}, // a missing key has no line
		{patterns("", `'^x$'`), "scan.pattern[1].name", "missing: a name", 0},
		{patterns(`" "`, `'^x$'`), "scan.pattern[1].name", "missing: a name", 2},
		{patterns(`"a"`, `'^x$'`, `"a"`, `'^y$'`), "scan.pattern[2].name", `"a" is also the name of scan.pattern[1]`, 5},
		{patterns(`"a"`, `42`), "scan.pattern[1].expr", "must be a string in quotes, not", 3},
		{"[scan]\npatterns = []\n", "scan.patterns", "unknown key: did you mean pattern?", 2},
		{"[scan]\npattern = \"^x$\"\n", "scan.pattern", "must be [[scan.pattern]] tables", 2},
		{"scan = 1\n", "scan", "must be a table", 1},
		{patterns(`"a"`, `'^x$'`) + "exp = '^y$'\n", "scan.pattern[1].exp", "unknown key: did you mean expr?", 4},
	} {
		text := minimal().String()
		base := strings.Count(text, "\n")
		if strings.HasPrefix(tc.scan, "scan =") {
			text, base = tc.scan+text, 0
		} else {
			text += tc.scan
		}
		ps := problemsOf(t, text)
		p := find(t, ps, tc.field)
		if !strings.Contains(p.Reason, tc.reason) {
			t.Errorf("%q: %s, want %q", tc.scan, p, tc.reason)
		}
		want := base + tc.line
		if tc.line == 0 {
			want = 0
		}
		if p.Line != want {
			t.Errorf("%q: %s: line %d, want %d", tc.scan, p, p.Line, want)
		}
		if len(ps) != 1 {
			t.Errorf("%q: %d problems, want 1: %v", tc.scan, len(ps), ps)
		}
	}
}

// TestScanPatternWarnings: a pattern that works but would let other codes
// through is a warning naming it.
func TestScanPatternWarnings(t *testing.T) {
	for _, tc := range []struct{ expr, reason string }{
		{`'https://qr\.vipps\.no/p/[a-z]+'`, "is not anchored"},
		{`'^https://qr\.vipps\.no/p/[a-z]+'`, "is not anchored"},
		{`'^.*$'`, `accepts "https://example.com/p/abcdef", which is no personal QR code`},
		{`'^[A-Z ]+$'`, `accepts "HELLO WORLD"`},
	} {
		c := mustParse(t, minimal().String()+patterns(`"p"`, tc.expr))
		if len(c.Warnings) != 1 || c.Warnings[0].Field != "scan.pattern[1].expr" || !strings.Contains(c.Warnings[0].Reason, tc.reason) {
			t.Errorf("%s: warnings %v, want one on scan.pattern[1].expr: %q", tc.expr, c.Warnings, tc.reason)
		}
	}
}

// TestScanPatternsUnvalidated: a Config changed after validation to hold
// an empty list gives no agent options rather than a check that refuses
// every scan.
func TestScanPatternsUnvalidated(t *testing.T) {
	c := mustParse(t, minimal().String())
	c.Scan.Patterns = nil
	if _, err := c.AgentOptions(); err == nil || !strings.Contains(err.Error(), "scan.pattern") {
		t.Errorf("AgentOptions with no patterns: %v", err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "scan.pattern: is empty") {
		t.Errorf("Validate: %v", err)
	}
}

// TestScanValidate: the section checked alone gives the same problems,
// without lines.
func TestScanValidate(t *testing.T) {
	if err := defaultScan().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := (Scan{Patterns: []classify.Pattern{{Name: "loose", Expr: ".*"}}}).Validate(); err != nil {
		t.Errorf("a warning is no error: %v", err)
	}
	err := Scan{Patterns: []classify.Pattern{{Name: "a", Expr: "^(x$"}, {Name: "a", Expr: "^y$"}}}.Validate()
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 2 ||
		ce.Problems[0].String() != "scan.pattern[1].expr: is not a regular expression (RE2 syntax): missing closing ): `^(x$`" ||
		ce.Problems[1].String() != `scan.pattern[2].name: "a" is also the name of scan.pattern[1]` {
		t.Errorf("Validate: %v", err)
	}
	if err := (Scan{}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "config: scan.pattern: is empty") {
		t.Errorf("no patterns: %v", err)
	}
}
