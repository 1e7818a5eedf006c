package wire

import (
	"regexp"
	"strings"
	"testing"
)

// idRule is IDRule as a regular expression: validID must agree with it.
var idRule = regexp.MustCompile(`^[a-zA-Z0-9-]{1,40}$`)

func FuzzValidID(f *testing.F) {
	for _, s := range []string{"", "a", "oslo-1", "T1", "a_b", "a.b", "a*", ">", "æøå", "-", strings.Repeat("a", 40), strings.Repeat("a", 41), "a b", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validID(s), idRule.MatchString(s); got != want {
			t.Errorf("validID(%q) = %v, the rule says %v", s, got, want)
		}
	})
}
