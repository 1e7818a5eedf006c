package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

const testFleetPassword = "fleet-pw-5e4d3c2b1a"

// fleetOn is minimal() with the link to headquarters on.
func fleetOn() doc {
	return minimal().
		set("fleet.servers", `["tls://hq.example.com:4222", "wss://hq.example.com"]`).
		set("fleet.chain", `"kaffe"`).
		set("fleet.store", `"oslo-1"`).
		set("fleet.creds_file", `"fleet.creds"`)
}

// TestFleetOffByDefault: without servers there is no link, and keys of
// a link set without servers are a warning, not an error.
func TestFleetOffByDefault(t *testing.T) {
	c := mustParse(t, minimal().String())
	if c.FleetOn() {
		t.Error("the link is on without fleet.servers")
	}
	if _, on := c.FleetOptions(); on {
		t.Error("FleetOptions without servers")
	}
	c = mustParse(t, minimal().set("fleet.chain", `"kaffe"`).String())
	if len(c.Warnings) != 1 || c.Warnings[0].Field != "fleet.chain" || !strings.Contains(c.Warnings[0].Reason, "fleet.servers is empty") || c.Warnings[0].Line == 0 {
		t.Errorf("warnings %v, want one of fleet.chain, with its line", c.Warnings)
	}
}

// TestFleetOptions: [fleet] becomes the link's options, the till from
// box.till unless set, relative files from the configuration's folder.
func TestFleetOptions(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "tillbox.toml", fleetOn().set("box.till", `"kasse-3"`).set("fleet.ca_file", `"/etc/tillbox/hq-ca.pem"`).String(), 0o640)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	o, on := c.FleetOptions()
	if !on {
		t.Fatal("the link is off")
	}
	if want := (wire.Till{Chain: "kaffe", Store: "oslo-1", Till: "kasse-3"}); o.Till != want {
		t.Errorf("till %+v, want %+v", o.Till, want)
	}
	if o.CredsFile != filepath.Join(dir, "fleet.creds") || o.CAFile != "/etc/tillbox/hq-ca.pem" || o.Heartbeat != 10*time.Second {
		t.Errorf("options %+v", o)
	}
	if len(o.Servers) != 2 || o.Servers[1] != "wss://hq.example.com" {
		t.Errorf("servers %v", o.Servers)
	}
	if err := o.Check(); err != nil {
		t.Errorf("the options a valid [fleet] gives fail the link's check: %v", err)
	}

	c = mustParse(t, fleetOn().set("fleet.till", `"t-7"`).set("fleet.heartbeat", `"3s"`).String())
	if o, _ := c.FleetOptions(); o.Till.Till != "t-7" || o.Heartbeat != 3*time.Second {
		t.Errorf("fleet.till and heartbeat: %+v", o)
	}
}

// TestFleetPassword: the password is a secret like the others: from the
// environment, a file or the key, never shown.
func TestFleetPassword(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "fleet-password", testFleetPassword+"\n", 0o640)
	base := fleetOn().set("fleet.creds_file", "").set("fleet.user", `"kasse-3"`)
	c, err := Parse([]byte(base.set("fleet.password_file", `"fleet-password"`).String()), dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := c.FleetOptions(); o.User != "kasse-3" || o.Password.Reveal() != testFleetPassword {
		t.Errorf("user and password from the file: %q", o.User)
	}
	if src := c.SecretSource("fleet.password"); src.Kind != FromFile {
		t.Errorf("source %v", src)
	}
	if strings.Contains(c.String(), testFleetPassword) {
		t.Errorf("the configuration shows the password:\n%s", c)
	}
	c, err = Parse([]byte(fleetOn().set("fleet.creds_file", "").set("fleet.user", `"kasse-3"`).String()), dir,
		envOf(map[string]string{"TILLBOX_FLEET_PASSWORD": testFleetPassword}))
	if err != nil || c.Fleet.Password.Reveal() != testFleetPassword {
		t.Errorf("password from the environment: %v", err)
	}
}

// TestFleetProblems: each wrong [fleet] gets a clear problem, on its line,
// and only that one.
func TestFleetProblems(t *testing.T) {
	cases := []struct {
		field, raw, where, reason string
	}{
		{"fleet.chain", "", "", "missing: the chain's id"},
		{"fleet.chain", `"kaffe.bar"`, "", "letters, digits or dashes"},
		{"fleet.store", `"*"`, "", "letters, digits or dashes"},
		{"fleet.store", `"unrouted"`, "", "reserved"},
		{"fleet.till", `"kasse 3"`, "", "letters, digits or dashes"},
		{"fleet.till", `"kasse_3"`, "", "no underscore"},
		{"fleet.servers", `["nats://hq.example.com:4222"]`, "fleet.servers[1]", "clear text"},
		{"fleet.servers", `["tls://hq.example.com", "ws://hq.example.com"]`, "fleet.servers[2]", "clear text"},
		{"fleet.servers", `["https://hq.example.com"]`, "fleet.servers[1]", "not nats, tls, ws or wss"},
		{"fleet.servers", `["tls://box:` + testFleetPassword + `@hq.example.com"]`, "fleet.servers[1]", "user name or password"},
		{"fleet.servers", `["hq.example.com:4222"]`, "fleet.servers[1]", ""},
		{"fleet.servers", `"tls://hq.example.com"`, "", "must be a []string"},
		{"fleet.heartbeat", `"100ms"`, "", "out of range"},
		{"fleet.nkey_file", `"box.nk"`, "", "keep one kind"},
		{"fleet.user", `"kasse-3"`, "", "keep one kind"},
		{"fleet.password", `"` + testFleetPassword + `"`, "", "keep one kind"},
		{"fleet.creds_file", "", "", "missing: the box's credentials"},
		{"fleet.server", `["tls://hq"]`, "", "did you mean servers?"},
	}
	for _, tc := range cases {
		t.Run(tc.field+"="+tc.raw, func(t *testing.T) {
			d := fleetOn().set(tc.field, tc.raw)
			if tc.field == "fleet.creds_file" || tc.field == "fleet.password" {
				d.set("fleet.creds_file", "")
				if tc.field == "fleet.password" {
					d.set("fleet.nkey_file", `"box.nk"`)
				}
			}
			ps := problemsOf(t, d.String())
			where := tc.where
			if where == "" {
				where = tc.field
			}
			p := find(t, ps, where)
			if !strings.Contains(p.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", p.Reason, tc.reason)
			}
			if p.Line == 0 && tc.field != "fleet.creds_file" && tc.field != "fleet.chain" {
				t.Errorf("no line for %s", p)
			}
			if len(ps) != 1 {
				t.Errorf("one broken rule gave %d problems: %v", len(ps), ps)
			}
			if strings.Contains(p.String(), testFleetPassword) {
				t.Errorf("the problem shows the password: %s", p)
			}
		})
	}
	// A user without a password.
	ps := problemsOf(t, fleetOn().set("fleet.creds_file", "").set("fleet.user", `"kasse-3"`).String())
	if p := find(t, ps, "fleet.password"); !strings.Contains(p.Reason, "TILLBOX_FLEET_PASSWORD") {
		t.Errorf("user without password: %s", p)
	}
}

// TestFleetExample: the example's [fleet] is off, and its commented
// example turns it on.
func TestFleetExample(t *testing.T) {
	if mustParse(t, Example()).FleetOn() {
		t.Fatal("the example turns the link on")
	}
	var b strings.Builder
	section := ""
	for _, line := range strings.Split(Example(), "\n") {
		if strings.HasPrefix(line, "[") {
			section = line
		}
		if section == "[fleet]" && strings.HasPrefix(line, "#   ") {
			line = line[len("#   "):]
		}
		b.WriteString(line + "\n")
	}
	c := mustParse(t, b.String())
	o, on := c.FleetOptions()
	if !on || o.Till.Chain != "kaffe" || len(o.Servers) != 2 || !strings.HasSuffix(o.CredsFile, "fleet.creds") {
		t.Errorf("the example's [fleet], uncommented: %+v", o)
	}
}
