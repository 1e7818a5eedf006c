package wire

import (
	"slices"
	"strings"
	"testing"
)

func TestConfigKeysPerLevel(t *testing.T) {
	till := Till{Chain: "c1", Store: "s1", Till: "t1"}
	keys := till.ConfigKeys()
	want := []string{"c1.all", "c1.store.s1", "c1.till.s1.t1"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for i, l := range []Level{LevelChain, LevelStore, LevelTill} {
		if got, ok := till.ConfigLevel(keys[i]); !ok || got != l {
			t.Errorf("level of %s: %q %v, want %q", keys[i], got, ok, l)
		}
	}
	// Another store's or till's key is none of this box's.
	for _, k := range []string{"c1.store.s2", "c1.till.s1.t2", "c2.all", "c1.till.s2.t1"} {
		if _, ok := till.ConfigLevel(k); ok {
			t.Errorf("%s counted as a layer of %s", k, till)
		}
	}
	p := BoxPermissions(till)
	for _, k := range keys {
		if !slices.Contains(p.Subscribe, ConfigSubject(k)) || !slices.Contains(p.Publish, ConfigGetSubject(k)) {
			t.Errorf("box %s may not read its key %s", till, k)
		}
	}
	for _, s := range append(p.Subscribe, p.Publish...) {
		if strings.Contains(s, "*") || (strings.Contains(s, ">") && !strings.HasSuffix(s, ".>")) {
			t.Errorf("permission %q has a wildcard", s)
		}
		if strings.Contains(s, "KV") && strings.HasSuffix(s, ">") {
			t.Errorf("permission %q reads more of the bucket than the box's keys", s)
		}
	}
}

func TestSealedSecretOpensOnlyForItsBoxAndField(t *testing.T) {
	a, b := Till{"c", "s1", "t1"}, Till{"c", "s1", "t2"}
	ka, err := NewConfigKey()
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := NewConfigKey()
	const secret = "the-client-secret-123"
	sealed, err := SealSecret(ka.Public(), a, "vipps.client_secret", secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, secret) {
		t.Fatal("the sealed value shows the secret")
	}
	got, err := ka.OpenSecret(a, "vipps.client_secret", sealed)
	if err != nil || got != secret {
		t.Fatalf("open: %q %v", got, err)
	}
	// Kept and read back, the key still opens it.
	raw, err := ka.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseConfigKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.OpenSecret(a, "vipps.client_secret", sealed); err != nil || got != secret {
		t.Fatalf("open with the key read back: %q %v", got, err)
	}
	for name, open := range map[string]func() (string, error){
		"another box's key":      func() (string, error) { return kb.OpenSecret(a, "vipps.client_secret", sealed) },
		"moved to another till":  func() (string, error) { return ka.OpenSecret(b, "vipps.client_secret", sealed) },
		"moved to another field": func() (string, error) { return ka.OpenSecret(a, "vipps.subscription_key", sealed) },
		"damaged": func() (string, error) {
			return ka.OpenSecret(a, "vipps.client_secret", sealed[:len(sealed)-8]+"AAAAAAA=")
		},
	} {
		got, err := open()
		if err == nil {
			t.Errorf("%s: opened to %q", name, got)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the secret", name)
		}
	}
	if _, err := SealSecret("not base64!", a, "vipps.client_secret", secret); err == nil {
		t.Error("sealed with a key that is not base64")
	}
	if _, err := ParseConfigKey([]byte("short")); err == nil {
		t.Error("a five-byte private key read")
	}
}

func TestParseConfigLayer(t *testing.T) {
	l, err := ParseConfigLayer(nil)
	if err != nil || l.Settings != nil {
		t.Fatalf("a deleted key: %+v %v", l, err)
	}
	in := ConfigLayer{Settings: map[string]any{"display.language": "nb", "sales.customer_present_window": "90s"}, By: "ops"}
	b, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	l, err = ParseConfigLayer(b)
	if err != nil || l.Settings["display.language"] != "nb" || l.By != "ops" {
		t.Fatalf("round trip: %+v %v", l, err)
	}
	if _, err := ParseConfigLayer([]byte("{")); err == nil {
		t.Error("broken JSON read as a layer")
	}
	if _, err := ParseConfigLayer(make([]byte, MaxConfigLayer+1)); err == nil {
		t.Error("an oversized layer read")
	}
}
