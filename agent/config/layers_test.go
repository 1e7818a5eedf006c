package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

var layersTill = wire.Till{Chain: "acme", Store: "oslo-1", Till: "t1"}

// layeredFile writes a configuration with the link on and its data folder,
// and the box's key there; it returns the file and the key.
func layeredFile(t *testing.T, extra func(doc)) (string, wire.ConfigKey) {
	t.Helper()
	dir := t.TempDir()
	d := minimal().set("box.data_dir", `"`+filepath.Join(dir, "data")+`"`).
		set("fleet.chain", `"acme"`).set("fleet.store", `"oslo-1"`).set("fleet.till", `"t1"`).
		set("fleet.servers", `["nats://127.0.0.1:4222"]`).set("fleet.user", `"t1"`).set("fleet.password", `"pw"`)
	if extra != nil {
		extra(d)
	}
	path := filepath.Join(dir, "tillbox.toml")
	if err := os.WriteFile(path, []byte(d.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	k, made, err := EnsureConfigKey(filepath.Join(dir, "data", ConfigKeyName))
	if err != nil || !made {
		t.Fatalf("EnsureConfigKey: %v (made %v)", err, made)
	}
	if fi, err := os.Stat(filepath.Join(dir, "data", ConfigKeyName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the key's file: %v %v", fi, err)
	}
	return path, k
}

func lay(key string, rev uint64, settings map[string]any) Layer {
	return Layer{Key: key, Revision: rev, Value: wire.ConfigLayer{Settings: settings, At: time.Now()}}
}

// TestLayersOrder: chain < store < till < overlay; each field says where it
// came from; layers of another till's keys are left out.
func TestLayersOrder(t *testing.T) {
	path, _ := layeredFile(t, nil)
	c0, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	layers := []Layer{
		lay("acme.all", 3, map[string]any{"display.language": "da", "sales.customer_present_window": "90s", "vipps.msn": "654321"}),
		lay("acme.store.oslo-1", 5, map[string]any{"display.language": "fi", "sales.scan_window": "30s"}),
		lay("acme.till.oslo-1.t1", 7, map[string]any{"display.language": "en",
			"scanner": []any{map[string]any{"driver": "serial", "match": "/dev/ttyACM0", "baud": float64(9600)}}}),
		lay("acme.till.oslo-1.t2", 9, map[string]any{"vipps.msn": "999999"}),
	}
	if err := WriteLayers(c0.LayersPath(), layers, nil); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Display.Language != "en" || c.Sales.CustomerPresentWindow.D() != 90*time.Second || c.Sales.ScanWindow.D() != 30*time.Second ||
		c.Vipps.MSN != "654321" || len(c.Scanners) != 1 || c.Scanners[0].Baud != 9600 {
		t.Fatalf("laid over: language %s window %s scan %s msn %s scanners %+v", c.Display.Language, c.Sales.CustomerPresentWindow, c.Sales.ScanWindow, c.Vipps.MSN, c.Scanners)
	}
	for field, want := range map[string]string{"display.language": "till", "vipps.msn": "chain", "sales.scan_window": "store", "scanner": "till", "vipps.client_id": FromConfig} {
		if got := c.KeySource(field); got.Kind != want {
			t.Errorf("%s from %+v, want %s", field, got, want)
		}
	}
	if got := c.KeySource("vipps.msn").String(); got != "headquarters, the chain's layer (acme.all, revision 3)" {
		t.Errorf("vipps.msn from %q", got)
	}
	if got := len(c.Layers()); got != 3 {
		t.Errorf("%d layers applied, want 3 (not another till's)", got)
	}

	// The technician page's overlay wins over every layer.
	if err := os.WriteFile(c.OverlayFile, []byte("[display]\nlanguage = \"nb\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path)
	if err != nil || c.Display.Language != "nb" || c.KeySource("display.language").Kind != FromOverlay {
		t.Fatalf("with the overlay: %v, language %s from %+v", err, c.Display.Language, c.KeySource("display.language"))
	}
	// Saving on the page keeps the layers' values out of the overlay.
	c.Display.Language = "da"
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(c.OverlayFile)
	if strings.Contains(string(b), "msn") || strings.Contains(string(b), "scan_window") || strings.Contains(string(b), "scanner") {
		t.Errorf("the overlay holds the layers' settings:\n%s", b)
	}
}

// TestLayersRefused: a layer that breaks a rule names the field and the
// reason; one kept from before is left out at Load, never stopping the box.
func TestLayersRefused(t *testing.T) {
	path, _ := layeredFile(t, nil)
	for _, tc := range []struct {
		settings map[string]any
		field    string
		reason   string
	}{
		{map[string]any{"display.language": "xx"}, "display.language", "nb"},
		{map[string]any{"sales.customer_present_window": "1h"}, "sales.customer_present_window", "out of range"},
		{map[string]any{"sales.customer_present_window": "soon"}, "sales.customer_present_window", ""},
		{map[string]any{"pos.listen": "0.0.0.0:80"}, "pos.listen", "cannot be set by headquarters"},
		{map[string]any{"vipps.client_secret": testClientSecret}, "vipps.client_secret", "in clear"},
		{map[string]any{"vipps.msn": 12.5}, "vipps.msn", "must be a string"},
		{map[string]any{"vipps.client_secret_file": "missing-secret"}, "vipps.client_secret_file", "cannot be set by headquarters"},
		{map[string]any{"vipps.subscription_key_file": "/etc/shadow"}, "vipps.subscription_key_file", "cannot be set by headquarters"},
		{map[string]any{"vipps.base_url": "https://collector.example.com"}, "vipps.base_url", "only the till's own layer may"},
		{map[string]any{"vipps.environment": "production"}, "vipps.environment", "only the till's own layer may"},
		{map[string]any{"scanner": []any{map[string]any{"driver": "carrier-pigeon", "match": "x"}}}, "scanner[1].driver", ""},
	} {
		c, err := LoadLayers(path, []Layer{lay("acme.store.oslo-1", 4, tc.settings)})
		refused := c.LayersLeftOut()
		if len(refused) != 1 || refused[0].Key != "acme.store.oslo-1" || refused[0].Revision != 4 || refused[0].Field != tc.field || !strings.Contains(refused[0].Reason, tc.reason) {
			t.Errorf("%v: refused %+v (err %v), want %s: …%s…", tc.settings, refused, err, tc.field, tc.reason)
		}
		if err != nil || c.Display.Language != "nb" {
			t.Errorf("%v: without the layer: %v, language %s", tc.settings, err, c.Display.Language)
		}
		for _, s := range testSecrets {
			if strings.Contains(refused[0].Reason, s) {
				t.Errorf("a secret in the refusal: %s", refused[0].Reason)
			}
		}
	}
}

// TestLayersSealed: a secret sealed for this box opens; sealed for another
// till, in a store's key, or under another field, it is refused naming the
// field; a *_file of a layer reads the file on the box.
func TestLayersSealed(t *testing.T) {
	path, k := layeredFile(t, func(d doc) { d.set("vipps.client_secret", "").set("vipps.token_source", `"box"`) })
	sealed, err := wire.SealSecret(k.Public(), layersTill, "vipps.client_secret", "sealed-secret-9f8e7d")
	if err != nil {
		t.Fatal(err)
	}
	tillLayer := func(key, field, v string) Layer {
		return Layer{Key: key, Revision: 2, Value: wire.ConfigLayer{Sealed: map[string]string{field: v}}}
	}
	c, err := LoadLayers(path, []Layer{tillLayer("acme.till.oslo-1.t1", "vipps.client_secret", sealed)})
	if err != nil || c.Vipps.ClientSecret.Reveal() != "sealed-secret-9f8e7d" || c.SecretSource("vipps.client_secret").Kind != FromTill {
		t.Fatalf("sealed for the box: %v, from %+v", err, c.SecretSource("vipps.client_secret"))
	}
	other, _ := wire.SealSecret(k.Public(), wire.Till{Chain: "acme", Store: "oslo-1", Till: "t2"}, "vipps.client_secret", "for-t2")
	for _, l := range []Layer{
		tillLayer("acme.till.oslo-1.t1", "vipps.client_secret", other),
		tillLayer("acme.till.oslo-1.t1", "vipps.subscription_key", sealed),
		tillLayer("acme.store.oslo-1", "vipps.client_secret", sealed),
	} {
		c, _ := LoadLayers(path, []Layer{l})
		r := c.LayersLeftOut()
		var field string
		for f := range l.Value.Sealed {
			field = f
		}
		if len(r) != 1 || r[0].Field != field || strings.Contains(r[0].Reason, "sealed-secret") {
			t.Errorf("%s %s: refused %+v", l.Key, field, r)
		}
	}
	// A layer may not name a file on the box: it could be any file, the
	// box's key for sealed secrets among them.
	c, _ = LoadLayers(path, []Layer{lay("acme.all", 1, map[string]any{"vipps.client_secret_file": ConfigKeyName})})
	if r := c.LayersLeftOut(); len(r) != 1 || r[0].Field != "vipps.client_secret_file" || !strings.Contains(r[0].Reason, "cannot be set by headquarters") {
		t.Errorf("client_secret_file from a layer: refused %+v", r)
	}
	var ce *Error
	if _, err := LoadLayers(path, nil); !errors.As(err, &ce) || !slices.ContainsFunc(ce.Problems, func(p Problem) bool { return p.Field == "vipps.client_secret" }) {
		t.Errorf("without a layer the file misses its client secret: %v", err)
	}
}

// TestLayersVippsAddress: headquarters may move a box's Vipps address only
// in the till's own layer with both secrets sealed in it, so the box never
// sends its own credentials to an address headquarters chose.
func TestLayersVippsAddress(t *testing.T) {
	path, k := layeredFile(t, nil)
	const there = "https://collector.example.com"
	seal := func(field, v string) string {
		s, err := wire.SealSecret(k.Public(), layersTill, field, v)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tillKey := "acme.till.oslo-1.t1"
	withSealed := func(key string, settings map[string]any, sealed ...string) Layer {
		l := lay(key, 6, settings)
		l.Value.Sealed = map[string]string{}
		for _, f := range sealed {
			l.Value.Sealed[f] = seal(f, "chosen-by-hq-"+f)
		}
		return l
	}
	for _, tc := range []struct {
		name   string
		layers []Layer
		field  string
		reason string
	}{
		{"the chain's layer", []Layer{lay("acme.all", 1, map[string]any{"vipps.base_url": there})}, "vipps.base_url", "only the till's own layer may"},
		{"the till's layer without secrets", []Layer{lay(tillKey, 6, map[string]any{"vipps.base_url": there})}, "vipps.base_url", "without vipps.client_secret and vipps.subscription_key sealed"},
		{"the till's layer with one secret", []Layer{withSealed(tillKey, map[string]any{"vipps.base_url": there}, "vipps.client_secret")}, "vipps.base_url", "without vipps.subscription_key sealed"},
		{"the till's layer to production without secrets", []Layer{lay(tillKey, 6, map[string]any{"vipps.environment": "production"})}, "vipps.environment", "without vipps.client_secret"},
		{"the store's layer, the secrets in the till's", []Layer{lay("acme.store.oslo-1", 2, map[string]any{"vipps.base_url": there}),
			withSealed(tillKey, nil, SealedKeys...)}, "vipps.base_url", "only the till's own layer may"},
	} {
		c, err := LoadLayers(path, tc.layers)
		r := c.LayersLeftOut()
		if len(r) != 1 || r[0].Field != tc.field || !strings.Contains(r[0].Reason, tc.reason) {
			t.Errorf("%s: refused %+v, want %s: …%s…", tc.name, r, tc.field, tc.reason)
		}
		if err != nil || c.BaseURL() != "http://127.0.0.1:8090" || c.Vipps.ClientSecret.Reveal() == "chosen-by-hq-vipps.client_secret" && len(tc.layers) == 1 {
			t.Errorf("%s: the box runs on %s (%v), want the file's address", tc.name, c.BaseURL(), err)
		}
	}

	// The file's own address again, or the till's layer with both secrets
	// sealed: taken.
	c, err := LoadLayers(path, []Layer{lay("acme.all", 1, map[string]any{"vipps.base_url": "http://127.0.0.1:8090", "vipps.msn": "654321"})})
	if err != nil || len(c.LayersLeftOut()) != 0 || c.Vipps.MSN != "654321" {
		t.Errorf("the file's address from the chain: %v, refused %+v", err, c.LayersLeftOut())
	}
	c, err = LoadLayers(path, []Layer{withSealed(tillKey, map[string]any{"vipps.base_url": there}, SealedKeys...)})
	if err != nil || len(c.LayersLeftOut()) != 0 || c.BaseURL() != there ||
		c.Vipps.ClientSecret.Reveal() != "chosen-by-hq-vipps.client_secret" || c.Vipps.SubscriptionKey.Reveal() != "chosen-by-hq-vipps.subscription_key" {
		t.Errorf("the till's layer with both secrets: %v, refused %+v, on %s", err, c.LayersLeftOut(), c.BaseURL())
	}

	// The box's own secret in the environment would replace the sealed
	// one, and go to headquarters' address: refused.
	t.Setenv(envName("vipps.client_secret"), "the-boxs-own-secret-5e6f")
	c, err = LoadLayers(path, []Layer{withSealed(tillKey, map[string]any{"vipps.base_url": there}, SealedKeys...)})
	if r := c.LayersLeftOut(); err != nil || len(r) != 1 || r[0].Field != "vipps.base_url" || !strings.Contains(r[0].Reason, envName("vipps.client_secret")) ||
		c.BaseURL() != "http://127.0.0.1:8090" || strings.Contains(r[0].Reason, "5e6f") {
		t.Errorf("with the secret in the environment: %v, refused %+v, on %s", err, r, c.BaseURL())
	}
}
