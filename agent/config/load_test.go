package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnknownKeys(t *testing.T) {
	cases := []struct {
		extra         string // TOML before the minimal file
		field, raw    string // or a key set in it
		where, reason string
	}{
		{extra: "[frobnicate]\nx = 1\n", where: "frobnicate", reason: "unknown section"},
		{extra: "[vips]\nmsn = \"1234\"\n", where: "vips", reason: "did you mean vipps?"},
		{extra: "top = 1\n", where: "top", reason: "unknown section"},
		{extra: "[vipps.extra]\nx = 1\n", where: "vipps.extra", reason: "unknown key"},
		{extra: "[[scanner]]\ndriver = \"serial\"\nmatch = \"/dev/ttyACM0\"\nbaudrate = 9600\n", where: "scanner[1].baudrate", reason: "did you mean baud?"},
		{field: "vipps.clientsecret", raw: `"x"`, reason: "did you mean client_secret?"},
		{field: "vipps.Client_ID", raw: `"x"`, reason: "did you mean client_id?"},
		{field: "vipps.token", raw: `"x"`, reason: "token is a key of [pos], not of [vipps]"},
		{field: "sales.mode", raw: `"auto"`, reason: "unknown key"},
		{field: "sales.listen", raw: `"127.0.0.1:1"`, reason: "listen is a key of [console] and [display] and [metrics] and [pos], not of [sales]"},
	}
	for _, tc := range cases {
		where := tc.where
		if where == "" {
			where = tc.field
		}
		t.Run(where, func(t *testing.T) {
			d := minimal()
			if tc.field != "" {
				d.set(tc.field, tc.raw)
			}
			ps := problemsOf(t, tc.extra+d.String())
			p := find(t, ps, where)
			if !strings.Contains(p.Reason, tc.reason) || p.Line == 0 {
				t.Errorf("got %s; want a reason with %q and a line", p, tc.reason)
			}
			if len(ps) != 1 {
				t.Errorf("%d problems: %v", len(ps), ps)
			}
		})
	}
}

func TestWrongTypes(t *testing.T) {
	cases := []struct {
		field, raw, reason string
	}{
		{"vipps.msn", "123456", "must be a string in quotes, not an integer"},
		{"sales.max_queued", `"100"`, "must be a whole number without quotes, not a string"},
		{"metrics.enabled", `"yes"`, "must be true or false, without quotes, not a string"},
		{"sales.scan_window", "60", `must be a duration in quotes, like "2m"`},
		{"sales.scan_window", `"soon"`, `"soon" is not a duration`},
		{"store.retention", `"-5d"`, "not a duration"},
		{"vipps.client_secret", "12345", "must be a string in quotes, not an integer"},
		{"pos.listen", "[1, 2]", "not an array"},
		{"box.till", "{ a = 1 }", "not a table"},
		{"sync.workers", "4.5", "not a float"},
	}
	for _, tc := range cases {
		t.Run(tc.field+"="+tc.raw, func(t *testing.T) {
			text := minimal().set(tc.field, tc.raw).String()
			ps := problemsOf(t, text)
			p := find(t, ps, tc.field)
			if !strings.Contains(p.Reason, tc.reason) {
				t.Errorf("got %q, want %q", p.Reason, tc.reason)
			}
			if p.Line == 0 {
				t.Errorf("no line: %s", p)
			}
			if len(ps) != 1 {
				t.Errorf("%d problems: %v", len(ps), ps)
			}
		})
	}
	// A section that is not a table, and scanners that are not tables.
	d := minimal()
	delete(d, "vipps")
	ps := problemsOf(t, "vipps = 3\nscanner = \"x\"\n"+d.String())
	if p := find(t, ps, "vipps"); !strings.Contains(p.Reason, "must be a table") {
		t.Errorf("%s", p)
	}
	if p := find(t, ps, "scanner"); !strings.Contains(p.Reason, "[[scanner]] tables") {
		t.Errorf("%s", p)
	}
}

func TestSyntaxErrors(t *testing.T) {
	ps := problemsOf(t, "[box]\ntill = \"t1\n")
	if len(ps) != 1 || ps[0].Line != 2 || ps[0].Field != "box.till" || !strings.Contains(ps[0].Reason, "not valid TOML") {
		t.Errorf("problems = %v", ps)
	}
	// The parser quotes what it found; on a secret's line it must not.
	for _, raw := range []string{
		testClientSecret,                   // no quotes
		`"` + testClientSecret,             // unterminated
		`"` + testClientSecret + `\q"`,     // bad escape
		`1` + testClientSecret,             // a number that is not
		`"x" ` + testClientSecret,          // trailing garbage
		`'''` + testClientSecret + "\n",    // unterminated multi-line
		`"""` + testClientSecret + `\q"""`, // bad escape, multi-line
	} {
		text := "[vipps]\nclient_secret = " + raw + "\n"
		_, err := Parse([]byte(text), t.TempDir(), noEnv)
		if err == nil {
			t.Fatalf("accepted %q", raw)
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Problems[0].Line < 2 {
			t.Errorf("%q: %v", raw, err)
		}
		noSecrets(t, "syntax error", err.Error())
		if !strings.Contains(err.Error(), "vipps.client_secret") {
			t.Errorf("%q: the field is not named: %v", raw, err)
		}
	}
}

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "client_secret", "from-file-secret\n", 0o600)
	writeFile(t, dir, "pos_token", "  token-from-a-file-0123456789 \n", 0o640)
	abs := writeFile(t, t.TempDir(), "key", "key-from-absolute-path", 0o600)

	d := minimal().
		set("vipps.client_secret", "").set("vipps.client_secret_file", `"client_secret"`).
		set("vipps.subscription_key_file", `"`+abs+`"`).set("vipps.subscription_key", "").
		set("pos.token", "").set("pos.token_file", `"pos_token"`)
	c, err := Parse([]byte(d.String()), dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Vipps.ClientSecret.Reveal() != "from-file-secret" || c.Vipps.SubscriptionKey.Reveal() != "key-from-absolute-path" ||
		c.POS.Token.Reveal() != "token-from-a-file-0123456789" {
		t.Errorf("secrets from files: %q %q %q", c.Vipps.ClientSecret.Reveal(), c.Vipps.SubscriptionKey.Reveal(), c.POS.Token.Reveal())
	}
	if len(c.Warnings) != 0 || len(c.inline) != 0 {
		t.Errorf("warnings %v, inline %v", c.Warnings, c.inline)
	}
	// SecretFiles names them as Load resolves them (relative to the file).
	cfgPath := writeFile(t, dir, "tillbox.toml", d.String(), 0o600)
	lc, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(lc.SecretFiles())
	want := fmt.Sprint([]SecretFile{{"vipps.client_secret_file", filepath.Join(dir, "client_secret")},
		{"vipps.subscription_key_file", abs}, {"pos.token_file", filepath.Join(dir, "pos_token")}})
	if got != want {
		t.Errorf("SecretFiles = %s, want %s", got, want)
	}

	// The environment wins over the file and over the key itself.
	env := envOf(map[string]string{
		"TILLBOX_VIPPS_CLIENT_SECRET":      "from-env-secret",
		"TILLBOX_POS_TOKEN":                "token-from-the-environment-42\n",
		"TILLBOX_VIPPS_SUBSCRIPTION_KEY":   "", // empty: ignored
		"TILLBOX_CONSOLE_PASSWORD_HASH":    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		"TILLBOX_VIPPS_WEBHOOK_SECRET":     testWebhookSecret,
		"TILLBOX_VIPPS_CLIENT_SECRET_FILE": "/nonexistent", // not a thing
	})
	d.set("vipps.webhook_url", `"http://127.0.0.1:8080/webhooks/vipps"`)
	c, err = Parse([]byte(d.String()), dir, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Vipps.ClientSecret.Reveal() != "from-env-secret" || c.POS.Token.Reveal() != "token-from-the-environment-42" ||
		c.Vipps.SubscriptionKey.Reveal() != "key-from-absolute-path" || c.Vipps.WebhookSecret.Reveal() != testWebhookSecret ||
		!strings.HasPrefix(c.Console.PasswordHash.Reveal(), "$argon2id$") {
		t.Errorf("secrets with the environment: %q %q %q", c.Vipps.ClientSecret.Reveal(), c.POS.Token.Reveal(), c.Vipps.SubscriptionKey.Reveal())
	}
	inline := mustParse(t, minimal().String())
	c, err = Parse([]byte(minimal().String()), dir, envOf(map[string]string{"TILLBOX_VIPPS_CLIENT_SECRET": "from-env-secret"}))
	if err != nil || c.Vipps.ClientSecret.Reveal() != "from-env-secret" || inline.Vipps.ClientSecret.Reveal() != testClientSecret {
		t.Errorf("environment over the key: %v %q", err, c.Vipps.ClientSecret.Reveal())
	}
	if got := EnvNames(); len(got) != 6 || got[0] != "TILLBOX_VIPPS_CLIENT_SECRET" || got[5] != "TILLBOX_FLEET_PASSWORD" {
		t.Errorf("EnvNames = %v", got)
	}
}

func TestSecretSourceProblems(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "empty", "\n", 0o600)
	writeFile(t, dir, "open", "a-world-readable-secret", 0o644)
	cases := []struct {
		edit          func(doc) doc
		field, reason string
	}{
		{func(d doc) doc { return d.set("vipps.client_secret_file", `"cs"`) }, "vipps.client_secret", "set together with client_secret_file"},
		{func(d doc) doc { return d.set("pos.token", "").set("pos.token_file", `"missing"`) }, "pos.token_file", "no such file"},
		{func(d doc) doc { return d.set("pos.token", "").set("pos.token_file", `"empty"`) }, "pos.token_file", "is empty"},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.edit(minimal()).String()), dir, noEnv)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %v", tc.field, err)
		}
		if p := find(t, ce.Problems, tc.field); !strings.Contains(p.Reason, tc.reason) {
			t.Errorf("%s", p)
		}
		if len(ce.Problems) != 1 {
			t.Errorf("%s: %d problems: %v", tc.field, len(ce.Problems), ce.Problems)
		}
	}
	// A secret file every user can read is a warning.
	c, err := Parse([]byte(minimal().set("vipps.client_secret", "").set("vipps.client_secret_file", `"open"`).String()), dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || c.Warnings[0].Field != "vipps.client_secret_file" || !strings.Contains(c.Warnings[0].Reason, "chmod 640") {
		t.Errorf("warnings = %v", c.Warnings)
	}
}

func TestPermissionWarnings(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		mode   os.FileMode
		text   string
		env    map[string]string
		warned string // part of the warning; "" for none
	}{
		{0o600, minimal().String(), nil, ""},
		{0o640, minimal().String(), nil, ""},
		{0o644, minimal().String(), nil, "every user can read it and it holds secrets (vipps.client_secret, vipps.subscription_key, pos.token)"},
		// The environment overrides them, but the file still holds them.
		{0o644, minimal().String(), map[string]string{"TILLBOX_POS_TOKEN": "x-token-from-the-environment"}, "pos.token"},
		{0o644, minimal().set("vipps.client_secret", "").set("vipps.subscription_key", "").set("pos.token", "").String(),
			map[string]string{"TILLBOX_POS_TOKEN": testToken, "TILLBOX_VIPPS_CLIENT_SECRET": "c", "TILLBOX_VIPPS_SUBSCRIPTION_KEY": "k"}, ""},
		{0o646, minimal().set("vipps.client_secret", "").set("vipps.subscription_key", "").set("pos.token", "").String(),
			map[string]string{"TILLBOX_POS_TOKEN": testToken, "TILLBOX_VIPPS_CLIENT_SECRET": "c", "TILLBOX_VIPPS_SUBSCRIPTION_KEY": "k"}, "every user can change it"},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d-%o", i, tc.mode), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			path := writeFile(t, dir, fmt.Sprintf("c%d.toml", i), tc.text, tc.mode)
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if c.File != path {
				t.Errorf("File = %q", c.File)
			}
			switch {
			case tc.warned == "" && len(c.Warnings) != 0:
				t.Errorf("warnings: %v", c.Warnings)
			case tc.warned != "" && (len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].Reason, tc.warned) || c.Warnings[0].Field != path):
				t.Errorf("warnings %v, want one on %s saying %q", c.Warnings, path, tc.warned)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.toml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := writeFile(t, dir, "bad.toml", "[box\n", 0o600)
	c, err := Load(bad)
	var ce *Error
	if c != nil || !errors.As(err, &ce) || ce.File != bad || !strings.HasPrefix(err.Error(), "config "+bad+": ") {
		t.Errorf("syntax error: %v %v", c, err)
	}
	// A file with problems still gives its Config, and the problems name the file.
	wrong := writeFile(t, dir, "wrong.toml", minimal().set("box.currency", `"SEK"`).String(), 0o600)
	c, err = Load(wrong)
	if c == nil || !errors.As(err, &ce) || ce.File != wrong || c.Box.Currency != "SEK" {
		t.Errorf("invalid file: %v %v", c, err)
	}
}

// TestSecretsNeverShow: no way of printing a Config or its problems shows a
// secret.
func TestSecretsNeverShow(t *testing.T) {
	d := minimal().set("vipps.webhook_url", `"http://127.0.0.1:8080/webhooks/vipps"`).
		set("vipps.webhook_secret", `"`+testWebhookSecret+`"`)
	c := mustParse(t, d.String())
	ao, err := c.AgentOptions()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		c.String(), fmt.Sprint(c), fmt.Sprintf("%v", *c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c),
		fmt.Sprintf("%v", c.Vipps), fmt.Sprintf("%+v", c.EPaymentConfig()), fmt.Sprintf("%+v", ao),
	} {
		noSecrets(t, "config", s)
	}
	if !strings.Contains(c.String(), `client_secret = "[redacted]"`) || !strings.Contains(c.String(), `token = "[redacted]"`) {
		t.Errorf("String does not show the secrets as redacted:\n%s", c)
	}
	// A secret in the wrong place or of the wrong shape is not echoed.
	for _, tc := range []struct{ field, raw string }{
		{"vipps.client_id", `"` + testClientSecret + `"`},
		{"vipps.msn", `"` + testSubscriptionKey + `"`},
		{"pos.token", `"` + testToken + ` "`},
		{"vipps.client_secret", `" ` + testClientSecret + `"`},
		{"vipps.client_secret", `["` + testClientSecret + `"]`},
		{"pos.token", "{ x = \"" + testToken + "\" }"},
	} {
		_, err := Parse([]byte(minimal().set(tc.field, tc.raw).String()), t.TempDir(), noEnv)
		if err == nil {
			t.Fatalf("%s = %s accepted", tc.field, tc.raw)
		}
		noSecrets(t, "error", err.Error())
	}
}

func TestStringRoundTrips(t *testing.T) {
	// The dump of a Config without secrets is itself a valid file that
	// gives the same Config.
	d := minimal().set("vipps.client_secret", "").set("vipps.subscription_key", "").set("pos.token", "")
	env := envOf(map[string]string{"TILLBOX_VIPPS_CLIENT_SECRET": "c", "TILLBOX_VIPPS_SUBSCRIPTION_KEY": "k", "TILLBOX_POS_TOKEN": testToken})
	d.set("sales.scan_window", `"45s"`).set("store.retention", `"30d"`)
	text := d.String() + "[[scanner]]\ndriver = \"serial\"\nmatch = \"0c2e:0b61\"\n"
	c, err := Parse([]byte(text), t.TempDir(), env)
	if err != nil {
		t.Fatal(err)
	}
	dump := strings.NewReplacer(`"[redacted]"`, `""`).Replace(c.String())
	c2, err := Parse([]byte(dump), t.TempDir(), env)
	if err != nil {
		t.Fatalf("%v\n%s", err, dump)
	}
	if c.String() != c2.String() {
		t.Errorf("round trip differs:\n%s\n---\n%s", c, c2)
	}
}

func TestOverride(t *testing.T) {
	text := minimal().set("pos.listen", `"127.0.0.1:9000"`).String() + "[[scanner]]\ndriver = \"serial\"\nmatch = \"0c2e:0b61\"\n"
	c := mustParse(t, text)
	err := c.Override(Overrides{Listen: "127.0.0.1:0", DataDir: "/tmp/x", BaseURL: "http://127.0.0.1:1234",
		Scanners: []Scanner{{Driver: "hid", Match: "05e0:1200"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c.POS.Listen != "127.0.0.1:0" || c.Box.DataDir != "/tmp/x" || c.BaseURL() != "http://127.0.0.1:1234" ||
		len(c.Scanners) != 1 || c.Scanners[0].Layout != "us" || c.Scanners[0].Name != "scanner1" {
		t.Errorf("overrides not applied: %+v %+v", c.POS, c.Scanners)
	}
	// --vipps-url replaces the environment too.
	c = mustParse(t, minimal().set("vipps.base_url", "").set("vipps.environment", `"production"`).String())
	if err := c.Override(Overrides{BaseURL: "http://127.0.0.1:8090"}); err != nil || c.Vipps.Environment != "" {
		t.Errorf("override of the environment: %v, %q", err, c.Vipps.Environment)
	}
	// A bad override is a problem without a line: it is not in the file.
	c = mustParse(t, text)
	err = c.Override(Overrides{Listen: "nowhere", Scanners: []Scanner{{Driver: "serial", Match: "x"}}})
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 2 {
		t.Fatalf("Override = %v", err)
	}
	for _, p := range ce.Problems {
		if p.Line != 0 {
			t.Errorf("%s has a line", p)
		}
	}
}

func TestIndexLines(t *testing.T) {
	text := "# comment\n[box]\ntill = \"a\"\n  currency=\"NOK\"\n\n[[scanner]]\ndriver = \"x\"\n[[scanner]]\ndriver = \"y\"\n[ pos ]\nlisten = \"z\"\n"
	got := indexLines([]byte(text))
	want := map[string]int{"box": 2, "box.till": 3, "box.currency": 4, "scanner[1]": 6, "scanner[1].driver": 7,
		"scanner[2]": 8, "scanner[2].driver": 9, "pos": 10, "pos.listen": 11}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: line %d, want %d", k, got[k], v)
		}
	}
}
