package alerts

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// rulesDir holds the Prometheus rules shipped for headquarters' /metrics.
const rulesDir = "../../../../docs/prometheus"

// TestPrometheusRules runs promtool (Debian's prometheus package) on the
// shipped rules: they parse, and their unit tests pass. A missing promtool
// fails the test: scripts/ensure-deps.sh installs it.
func TestPrometheusRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is missing: apt-get install prometheus (scripts/ensure-deps.sh does it as root)")
	}
	for _, args := range [][]string{{"check", "rules", "tillbox-hq.rules.yml"}, {"test", "rules", "tillbox-hq.rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestRulesKinds: every kind of alert headquarters raises has its rule, and
// every series the rules read is one headquarters' /metrics has (named in
// hqmetrics).
func TestRulesKinds(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join(rulesDir, "tillbox-hq.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds {
		if !strings.Contains(string(rules), `kind="`+k+`"`) && k != QueueNearCap && k != ScannerMissing {
			t.Errorf("no rule reads tillbox_hq_alert{kind=%q}", k)
		}
	}
	var source strings.Builder
	files, _ := filepath.Glob("../hqmetrics/*.go")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		source.Write(b)
	}
	names := regexp.MustCompile(`tillbox_hq_[a-z_]*[a-z]`).FindAllString(string(rules), -1)
	slices.Sort(names)
	for _, n := range slices.Compact(names) {
		if !strings.Contains(source.String(), `"`+n+`"`) {
			t.Errorf("the rules read %s, which /metrics does not have", n)
		}
	}
}
