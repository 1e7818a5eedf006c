package config

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/device/classify"
	"github.com/tillbox/tillbox/store/storetest"
)

// TestExampleLoads: the example, written to a file as the install script
// will (mode 640), passes `config check` without warnings and runs against
// the simulator.
func TestExampleLoads(t *testing.T) {
	path := writeFile(t, t.TempDir(), "tillbox.toml", Example(), 0o640)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
	if c.BaseURL() != "http://127.0.0.1:8090" || c.Vipps.MSN != "123456" || c.POS.Token.Reveal() != exampleToken {
		t.Errorf("example: %s", c)
	}
}

// defaultLine is a commented default: "# key = value".
var defaultLine = regexp.MustCompile(`(?m)^# ([a-z_]+ = .*)$`)

// TestExampleDefaultsAreTrue: uncommenting every "# key = value" line
// changes nothing: the defaults the example states are the ones in force,
// and every key of every section is documented.
func TestExampleDefaultsAreTrue(t *testing.T) {
	asIs := mustParse(t, Example())
	uncommented := defaultLine.ReplaceAllString(Example(), "$1")
	all := mustParse(t, uncommented)
	if asIs.String() != all.String() {
		t.Errorf("the example's commented defaults differ from the defaults:\n%s\n---\n%s", asIs, all)
	}
	// Every key is in the example, set or commented.
	known := indexLines([]byte(uncommented))
	for name, target := range asIs.sections() {
		for key := range tomlKeys(reflectType(target)) {
			if _, ok := known[name+"."+key]; !ok {
				t.Errorf("%s.%s is not in the example", name, key)
			}
		}
	}
	// The example's defaults are Default().
	def := Default()
	def.Vipps = asIs.Vipps
	def.POS.Token = asIs.POS.Token
	if def.String() != asIs.String() {
		t.Errorf("Default() and the example differ:\n%s\n---\n%s", def, asIs)
	}
}

// TestExampleScanners: the commented scanner blocks, uncommented, are valid
// and document every key of a scanner.
func TestExampleScanners(t *testing.T) {
	var b strings.Builder
	blocks := false
	for _, line := range strings.Split(Example(), "\n") {
		blocks = blocks || strings.HasPrefix(line, "#[[scanner]]")
		if blocks && (strings.HasPrefix(line, "#[[scanner]]") || strings.HasPrefix(line, "#   ")) {
			line = line[1:]
		}
		b.WriteString(line + "\n")
	}
	c := mustParse(t, b.String())
	if len(c.Scanners) != 2 {
		t.Fatalf("%d scanners", len(c.Scanners))
	}
	s, h := c.Scanners[0], c.Scanners[1]
	if s.Driver != "serial" || s.Baud != 9600 || s.Terminator != "CR" || h.Driver != "hid" || h.Layout != "no" || h.Mode != "auto" {
		t.Errorf("scanners: %+v %+v", s, h)
	}
	lines := indexLines([]byte(b.String()))
	for key := range tomlKeys(reflectType(&Scanner{})) {
		if lines["scanner[1]."+key] == 0 && lines["scanner[2]."+key] == 0 {
			t.Errorf("scanner key %s is not in the example", key)
		}
	}
}

// TestExampleScanPatterns: the commented [[scan.pattern]] blocks,
// uncommented, are the defaults, and give no warning.
func TestExampleScanPatterns(t *testing.T) {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(Example(), "\n") {
		switch {
		case strings.HasPrefix(line, "#[[scan.pattern]]"):
			in, line = true, line[1:]
		case in && strings.HasPrefix(line, "#   "):
			line = line[1:]
		case in && line == "#":
		default:
			in = false
		}
		b.WriteString(line + "\n")
	}
	if !strings.Contains(b.String(), "\n[[scan.pattern]]\n") {
		t.Fatal("the example has no [[scan.pattern]] block")
	}
	c := mustParse(t, b.String())
	if !slices.Equal(c.Scan.Patterns, classify.DefaultPatterns) || len(c.Warnings) != 0 {
		t.Errorf("the example's patterns: %q, warnings %v; want the defaults %q", c.Scan.Patterns, c.Warnings, classify.DefaultPatterns)
	}
}

// TestConversions: the options the agent, the client and the store get.
func TestConversions(t *testing.T) {
	d := minimal().set("box.till", `"kasse-2"`).set("box.currency", `"DKK"`).
		set("sales.capture", `"manual"`).set("sales.scan_window", `"45s"`).set("sales.max_queued", "50").
		set("sales.reference_prefix", `"shop7"`).set("sync.poll_every", `"20ms"`).set("sync.workers", "2").
		set("vipps.webhook_url", `"http://127.0.0.1:8080/webhooks/vipps"`).set("vipps.webhook_secret", `"`+testWebhookSecret+`"`).
		set("vipps.timeout", `"5s"`).set("vipps.system_name", `"acme"`).
		set("store.retention", `"30d"`).set("store.lock_timeout", `"100ms"`).set("box.data_dir", `"/data"`)
	c := mustParse(t, d.String())

	ao, err := c.AgentOptions()
	if err != nil {
		t.Fatal(err)
	}
	if ao.Till != "kasse-2" || ao.MSN != "123456" || ao.Currency != epayment.DKK || !ao.ManualCapture ||
		ao.ScanWindow != 45*time.Second || ao.CustomerPresentWindow != 2*time.Minute || ao.MaxQueued != 50 ||
		ao.MaxQueueAge != 24*time.Hour || ao.ReferencePrefix != "shop7" || ao.PollDelay != 5*time.Second ||
		ao.PollEvery != 20*time.Millisecond || ao.Workers != 2 || ao.WebhookSecret.Reveal() != testWebhookSecret ||
		ao.WebhookURL != "http://127.0.0.1:8080/webhooks/vipps" || ao.DefaultDescription != "Purchase in store" {
		t.Errorf("AgentOptions = %+v", ao)
	}
	ec := c.EPaymentConfig()
	if ec.BaseURL != "http://127.0.0.1:8090" || ec.ClientID != testClientID || ec.ClientSecret.Reveal() != testClientSecret ||
		ec.SubscriptionKey.Reveal() != testSubscriptionKey || ec.MSN != "123456" || ec.SystemName != "acme" ||
		ec.HTTPClient == nil || ec.HTTPClient.Timeout != 5*time.Second {
		t.Errorf("EPaymentConfig = %+v", ec)
	}
	so := c.StoreOptions()
	if so.Retention != 30*24*time.Hour || so.Timeout != 100*time.Millisecond || so.EventRetention != 0 {
		t.Errorf("StoreOptions = %+v", so)
	}
	if c.DBPath() != "/data/tillbox.db" {
		t.Errorf("DBPath = %q", c.DBPath())
	}

	// What a valid configuration gives is accepted by the client, the
	// store and the agent themselves.
	c.Box.DataDir = t.TempDir()
	vipps, err := epayment.New(c.EPaymentConfig())
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t, c.DBPath(), c.StoreOptions())
	defer db.Close()
	a, err := agent.New(db, vipps, ao)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Options(); got.ReferencePrefix != "shop7" || got.Till != "kasse-2" {
		t.Errorf("agent options: %+v", got)
	}
	if filepath.Base(db.Path()) != DBFile {
		t.Errorf("db path %s", db.Path())
	}
}
