package version

import (
	"bytes"
	"strings"
	"testing"
)

// TestPrint: the version, commit, date and Go lines, then each dependency
// the test binary links as "dep PATH VERSION".
func TestPrint(t *testing.T) {
	var b bytes.Buffer
	if err := Print(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) < 4 || lines[0] != "tillbox "+String() || lines[1] != "commit "+Commit() ||
		lines[2] != "date "+Date() || !strings.HasPrefix(lines[3], "go go1.") {
		t.Fatalf("%s", b.String())
	}
	for _, l := range lines[4:] {
		if f := strings.Fields(l); f[0] == "dep" && len(f) < 3 {
			t.Errorf("a dependency without a version: %q", l)
		}
	}
}
