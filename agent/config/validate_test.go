package config

import (
	"strings"
	"testing"
)

func TestMinimalIsValid(t *testing.T) {
	c := mustParse(t, minimal().String())
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
	if c.Box.Till != "till1" || c.Sales.Capture != "auto" || c.POS.Listen != "127.0.0.1:8080" {
		t.Errorf("defaults not filled in: %+v", c.Box)
	}
}

// TestValidationRules breaks one rule at a time and checks that the problem
// names the field, says why, and gives the line.
func TestValidationRules(t *testing.T) {
	cases := []struct {
		field, raw string // raw "" deletes the key
		where      string // the problem's field, when not field
		reason     string // a part of the reason
	}{
		{"box.till", `"till 1"`, "", "letters, digits or dashes"},
		{"box.till", `"abcdefghijklmnopqrstu"`, "", "1 to 20"},
		{"box.data_dir", `" "`, "", "missing"},
		{"box.currency", `"SEK"`, "", "not NOK, DKK or EUR"},
		{"box.currency", `"nok"`, "", "in capitals"},
		{"box.shutdown_timeout", `"0s"`, "", "out of range"},
		{"box.shutdown_timeout", `"11m"`, "", "use 1s to 10m"},

		{"vipps.base_url", "", "vipps.environment", "missing"},
		{"vipps.environment", `"test"`, "vipps.base_url", "set together with vipps.environment"},
		{"vipps.base_url", `"ftp://127.0.0.1"`, "", "not an absolute http(s) URL"},
		{"vipps.base_url", `"127.0.0.1:8090"`, "", "not an absolute http(s) URL"},
		{"vipps.base_url", `"http://10.0.0.5:8090"`, "", "plain http would carry credentials unencrypted"},
		{"vipps.base_url", `"https://user:pw@example.com"`, "", "user name or password"},
		{"vipps.client_id", "", "", "missing"},
		{"vipps.client_id", `"abc"`, "", "not a GUID"},
		{"vipps.client_secret", "", "", "TILLBOX_VIPPS_CLIENT_SECRET"},
		{"vipps.client_secret", `" x "`, "", "white space"},
		{"vipps.subscription_key", "", "", "subscription_key_file"},
		{"vipps.subscription_key", `"a\tb"`, "", "control character"},
		{"vipps.msn", "", "", "missing"},
		{"vipps.msn", `"12a456"`, "", "4 to 10 digits"},
		{"vipps.msn", `"123"`, "", "4 to 10 digits"},
		{"vipps.webhook_url", `"https://box.example.com/webhooks/vipps"`, "vipps.webhook_secret", "set both"},
		{"vipps.webhook_secret", `"` + testWebhookSecret + `"`, "vipps.webhook_url", "set both or neither"},
		{"vipps.timeout", `"100ms"`, "", "use 1s to 5m"},
		{"vipps.system_name", `"a-name-that-is-longer-than-thirty"`, "", "at most 30"},
		{"vipps.plugin_version", `"1234567890123456789012345678901"`, "", "at most 30"},

		{"sales.customer_present_window", `"11m"`, "", "use 1s to 10m"},
		{"sales.scan_window", `"0s"`, "", "out of range"},
		{"sales.capture", `"later"`, "", `not "auto" or "manual"`},
		{"sales.max_queued", "0", "", "use 1 to 1000000"},
		{"sales.max_queued", "-5", "", "out of range"},
		{"sales.max_queue_age", `"31d"`, "", "out of range"},
		{"sales.reference_prefix", `"tb_1"`, "", "letters, digits or dashes"},
		{"sales.default_description", `"ab"`, "", "3 to 100"},

		{"sync.poll_delay", `"0s"`, "", "out of range"},
		{"sync.poll_every", `"2m"`, "", "out of range"},
		{"sync.retry_max", `"10ms"`, "", "shorter than sync.retry_base"},
		{"sync.workers", "0", "", "use 1 to 64"},
		{"sync.workers", "65", "", "use 1 to 64"},

		{"pos.listen", `"localhost"`, "", "not HOST:PORT"},
		{"pos.listen", `"127.0.0.1:99999"`, "", "not a number from 1 to 65535"},
		{"pos.listen", `"127.0.0.1:http"`, "", "not a number"},
		{"pos.token", "", "", "openssl rand"},
		{"pos.token", `"short"`, "", "at least 16"},
		{"pos.token", `"has a space in the token"`, "", "plain ASCII"},

		{"store.retention", `"30m"`, "", "out of range"},
		{"store.event_retention", `"1m"`, "", "out of range"},
		{"store.lock_timeout", `"2m"`, "", "out of range"},

		{"log.level", `"verbose"`, "", "debug, info, warn or error"},
		{"log.format", `"xml"`, "", "text or json"},

		{"metrics.listen", `"nowhere"`, "", "not HOST:PORT"},
		{"display.listen", `"127.0.0.1:8080"`, "", "is also pos.listen"},
		{"display.language", `"sv"`, "", "nb, da, fi, en"},
		{"console.listen", `":x"`, "", "not a number"},
		{"console.password_hash", `"hunter2hunter2hunter2"`, "", "never write the password itself"},

		{"box.hosts", `["till7.shop.lan", "http://till7"]`, "box.hosts[2]", "not a host name"},
		{"box.hosts", `["till7.shop.lan:8081"]`, "box.hosts[1]", "no scheme, port"},
		{"tls.mode", `"on"`, "", "not off, self-signed or files"},
		{"tls.cert_file", `"/etc/tillbox/cert.pem"`, "", `set mode = "files"`},
		{"tls.key_file", `"key.pem"`, "", `set mode = "files"`},
	}
	for _, tc := range cases {
		name := tc.field + "=" + tc.raw
		t.Run(name, func(t *testing.T) {
			text := minimal().set(tc.field, tc.raw).String()
			ps := problemsOf(t, text)
			where := tc.where
			if where == "" {
				where = tc.field
			}
			p := find(t, ps, where)
			if !strings.Contains(p.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", p.Reason, tc.reason)
			}
			if tc.raw != "" && where == tc.field && p.Line == 0 {
				t.Errorf("no line for %s", p)
			}
			if len(ps) != 1 {
				t.Errorf("one broken rule gave %d problems: %v", len(ps), ps)
			}
			noSecrets(t, "problem", p.String())
		})
	}
}

// TestProductionRefusesPlaceholders: the example's simulator credentials
// pass against a simulator only.
func TestProductionRefusesPlaceholders(t *testing.T) {
	for _, env := range []string{"test", "production"} {
		text := strings.Replace(Example(), `base_url = "http://127.0.0.1:8090"`, `environment = "`+env+`"`, 1)
		ps := problemsOf(t, text)
		for _, f := range []string{"vipps.client_id", "vipps.client_secret", "vipps.subscription_key", "pos.token"} {
			if p := find(t, ps, f); !strings.Contains(p.Reason, "placeholder") {
				t.Errorf("%s: %s", env, p)
			}
		}
		if len(ps) != 4 {
			t.Errorf("%s: %d problems, want 4: %v", env, len(ps), ps)
		}
	}
}

func TestRealEnvironmentRules(t *testing.T) {
	d := minimal().set("vipps.base_url", "").set("vipps.environment", `"production"`)
	c := mustParse(t, d.String())
	if got := c.BaseURL(); got != "https://api.vipps.no" {
		t.Errorf("BaseURL = %q", got)
	}
	// Webhooks need https with the real Vipps MobilePay, not with a simulator.
	d.set("vipps.webhook_url", `"http://127.0.0.1:8080/webhooks/vipps"`).set("vipps.webhook_secret", `"`+testWebhookSecret+`"`)
	if p := find(t, problemsOf(t, d.String()), "vipps.webhook_url"); !strings.Contains(p.Reason, "needs https") {
		t.Errorf("%s", p)
	}
	sim := minimal().set("vipps.webhook_url", `"http://127.0.0.1:8080/webhooks/vipps"`).set("vipps.webhook_secret", `"`+testWebhookSecret+`"`)
	mustParse(t, sim.String())

	// Fast polling is fine against a simulator, a warning against Vipps.
	d = minimal().set("sync.poll_every", `"20ms"`)
	if c := mustParse(t, d.String()); len(c.Warnings) != 0 {
		t.Errorf("simulator: warnings %v", c.Warnings)
	}
	d.set("vipps.base_url", "").set("vipps.environment", `"test"`)
	c = mustParse(t, d.String())
	if len(c.Warnings) != 1 || c.Warnings[0].Field != "sync.poll_every" || !strings.Contains(c.Warnings[0].Reason, "rate limits") {
		t.Errorf("warnings = %v", c.Warnings)
	}
}

// TestAllProblemsAtOnce: a file with many mistakes gets all of them, in
// the order of the file, each with its field.
func TestAllProblemsAtOnce(t *testing.T) {
	text := `[box]
till = "till 1"
currency = "SEK"

[vipps]
environment = "staging"
client_id = "abc"
msn = 123456

[sales]
max_queued = "100"
capture = "later"

[[scanner]]
driver = "usb"
`
	ps := problemsOf(t, text)
	want := []struct {
		field string
		line  int
	}{
		{"box.till", 2}, {"box.currency", 3}, {"vipps.environment", 6}, {"vipps.client_id", 7},
		{"vipps.msn", 8}, {"sales.max_queued", 11}, {"sales.capture", 12}, {"scanner[1].driver", 15},
	}
	for i, w := range want {
		if i >= len(ps) || ps[i].Field != w.field || ps[i].Line != w.line {
			t.Fatalf("problem %d: want %s at line %d; got\n%s", i, w.field, w.line, joinProblems(ps))
		}
	}
	// Then those without a line: missing keys.
	for _, f := range []string{"vipps.client_secret", "vipps.subscription_key", "pos.token", "scanner[1].match"} {
		if p := find(t, ps, f); p.Line != 0 {
			t.Errorf("%s has line %d", f, p.Line)
		}
	}
	// vipps.msn is reported once, as a type error, not again as missing.
	n := 0
	for _, p := range ps {
		if p.Field == "vipps.msn" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("vipps.msn reported %d times", n)
	}
}

func joinProblems(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

func TestErrorAndProblemText(t *testing.T) {
	p := Problem{Field: "vipps.msn", Reason: "is not 4 to 10 digits", Line: 7}
	if got, want := p.String(), "vipps.msn: is not 4 to 10 digits (line 7)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := (Problem{Field: "pos.token", Reason: "missing"}).String(), "pos.token: missing"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	one := &Error{File: "/etc/tillbox/tillbox.toml", Problems: []Problem{p}}
	if got, want := one.Error(), "config /etc/tillbox/tillbox.toml: vipps.msn: is not 4 to 10 digits (line 7)"; got != want {
		t.Errorf("Error = %q, want %q", got, want)
	}
	two := &Error{Problems: []Problem{p, {Field: "pos.token", Reason: "missing"}}}
	if got, want := two.Error(), "config: 2 problems: vipps.msn: is not 4 to 10 digits (line 7); pos.token: missing"; got != want {
		t.Errorf("Error = %q, want %q", got, want)
	}
}

func TestValidateAfterChanges(t *testing.T) {
	c := mustParse(t, minimal().String())
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Sales.Capture = "sometimes"
	c.Box.Currency = "GBP"
	err := c.Validate()
	ce, ok := err.(*Error)
	if !ok || len(ce.Problems) != 2 {
		t.Fatalf("Validate = %v", err)
	}
}

// tls.mode = "files" needs both files, by absolute path; self-signed needs
// none.
func TestTLSFiles(t *testing.T) {
	ps := problemsOf(t, minimal().set("tls.mode", `"files"`).set("tls.cert_file", `"cert.pem"`).String())
	if p := find(t, ps, "tls.cert_file"); !strings.Contains(p.Reason, "not an absolute path") {
		t.Errorf("%s", p)
	}
	if p := find(t, ps, "tls.key_file"); !strings.Contains(p.Reason, "private key") {
		t.Errorf("%s", p)
	}
	c := mustParse(t, minimal().set("tls.mode", `"files"`).set("tls.cert_file", `"/etc/tillbox/cert.pem"`).set("tls.key_file", `"/etc/tillbox/key.pem"`).String())
	if c.TLS.Mode != TLSFiles || c.TLS.KeyFile != "/etc/tillbox/key.pem" {
		t.Errorf("tls: %+v", c.TLS)
	}
	if c := mustParse(t, minimal().set("tls.mode", `"self-signed"`).String()); c.TLS.Mode != TLSSelfSigned {
		t.Errorf("tls: %+v", c.TLS)
	}
}

// [metrics]: listen is read as an address beside enabled; a listener
// while /metrics is off is a warning, not a problem.
func TestMetricsSection(t *testing.T) {
	d := minimal()
	d.set("metrics.listen", `"0.0.0.0:9100"`)
	c := mustParse(t, d.String())
	if !c.Metrics.Enabled || c.Metrics.Listen != "0.0.0.0:9100" || len(c.Warnings) != 0 {
		t.Errorf("metrics %+v, warnings %v", c.Metrics, c.Warnings)
	}
	d.set("metrics.enabled", `false`)
	c = mustParse(t, d.String())
	if c.Metrics.Enabled || len(c.Warnings) != 1 || c.Warnings[0].Field != "metrics.listen" || !strings.Contains(c.Warnings[0].Reason, "metrics.enabled is false") {
		t.Errorf("metrics %+v, warnings %v", c.Metrics, c.Warnings)
	}
	d.set("metrics.listen", `"127.0.0.1:8080"`) // pos.listen's
	d.set("metrics.enabled", `true`)
	if p := find(t, problemsOf(t, d.String()), "metrics.listen"); !strings.Contains(p.Reason, "pos.listen") {
		t.Errorf("metrics.listen on pos.listen: %v", p)
	}
}
