package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// box is a configuration directory (writable: the page must not write it
// even so) and a data directory, as on a box.
type box struct {
	dir, data, path string
}

// exampleBox writes the commented example, with the test's secrets and
// its own data directory, as a configuration file with mode 0640.
func exampleBox(t *testing.T) box {
	t.Helper()
	b := box{dir: t.TempDir(), data: t.TempDir()}
	text := strings.NewReplacer(exampleClientSecret, testClientSecret, exampleSubscriptionKey, testSubscriptionKey,
		exampleToken, testToken, `# data_dir = "/var/lib/tillbox"`, `data_dir = "`+b.data+`"`).Replace(Example())
	b.path = writeFile(t, b.dir, "tillbox.toml", text, 0o640)
	return b
}

// docBox writes d (with the box's data directory) as the configuration.
func docBox(t *testing.T, d doc) box {
	t.Helper()
	b := box{dir: t.TempDir(), data: t.TempDir()}
	d.set("box.data_dir", `"`+b.data+`"`)
	b.path = writeFile(t, b.dir, "tillbox.toml", d.String(), 0o640)
	return b
}

func (b box) overlay() string { return filepath.Join(b.data, OverlayName) }

// untouched remembers the configuration file's bytes and (backdated)
// modification time, and fails the test if a save changed them.
func untouched(t *testing.T, path string) func() {
	t.Helper()
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	before, ino := read(t, path), inode(t, path)
	return func() {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if read(t, path) != before || !fi.ModTime().Equal(old) || inode(t, path) != ino {
			t.Errorf("the configuration file %s was written (mtime %v)", path, fi.ModTime())
		}
	}
}

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// Load → change → Save → Load gives the changed configuration; the changes
// are in the overlay (0600), the configuration file is not written.
func TestSaveRoundTrip(t *testing.T) {
	b := exampleBox(t)
	check := untouched(t, b.path)
	c := mustLoad(t, b.path)
	if c.OverlayFile != b.overlay() {
		t.Errorf("OverlayFile %q, want %q", c.OverlayFile, b.overlay())
	}
	c.Display.Language = "da"
	c.Sales.CustomerPresentWindow = Duration(90 * time.Second)
	c.Vipps.MSN = "654321"
	c.Vipps.BaseURL, c.Vipps.Environment = "", "test"
	c.Vipps.ClientID = testClientID
	c.Scanners = []Scanner{
		{Name: "counter", Driver: DriverSerial, Match: "/dev/ttyACM0", Baud: 115200},
		{Name: "customer", Driver: DriverHID, Match: "05e0:1200", Layout: "no"},
	}
	if err := c.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	check()
	got := mustLoad(t, b.path)
	if !sameConfig(c, got) {
		t.Errorf("after Save, Load gives\n%s\nwant\n%s", got, c)
	}
	if got.Vipps.ClientSecret.Reveal() != testClientSecret || got.Vipps.SubscriptionKey.Reveal() != testSubscriptionKey || got.POS.Token.Reveal() != testToken {
		t.Error("a secret was lost")
	}
	if s := got.KeySource("vipps.msn"); s.Kind != FromOverlay || s.String() != "set on the technician page ("+b.overlay()+")" {
		t.Errorf("vipps.msn source %+v", s)
	}
	if s := got.KeySource("vipps.timeout"); s.Kind != FromConfig {
		t.Errorf("vipps.timeout source %+v", s)
	}
	after := read(t, b.overlay())
	for _, want := range []string{`language = "da"`, `customer_present_window = "1m30s"`, `msn = "654321"`,
		`environment = "test"`, `base_url = ""`,
		"[[scanner]]\nname = \"counter\"\ndriver = \"serial\"\nmatch = \"/dev/ttyACM0\"\nbaud = 115200\nterminator = \"CR\"\n"} {
		if !strings.Contains(after, want) {
			t.Errorf("the overlay lacks %q:\n%s", want, after)
		}
	}
	for _, not := range []string{"timeout", "token", "data_dir", testClientSecret} {
		if strings.Contains(after, not) {
			t.Errorf("the overlay holds %q, which the page did not change:\n%s", not, after)
		}
	}
	if m := mode(t, b.overlay()); m != 0o600 {
		t.Errorf("overlay mode %v, want 0600", m)
	}
	// Saved again unchanged: the same text.
	if err := got.Save(); err != nil {
		t.Fatal(err)
	}
	if again := read(t, b.overlay()); again != after {
		t.Errorf("saving an unchanged configuration changed the overlay:\n%s", again)
	}
	// Back to the file's values: the overlay holds nothing any more.
	base := mustLoad(t, b.path)
	base.Display.Language, base.Vipps.MSN, base.Scanners = "nb", "123456", nil
	base.Sales.CustomerPresentWindow = Default().Sales.CustomerPresentWindow
	base.Vipps.BaseURL, base.Vipps.Environment, base.Vipps.ClientID = "http://127.0.0.1:8090", "", c.Vipps.ClientID
	if err := base.Save(); err != nil {
		t.Fatal(err)
	}
	check()
	if o := mustLoad(t, b.path).Overlaid(); len(o) != 1 || o[0] != "vipps.client_id" {
		t.Errorf("overlay sets %v after going back, want only vipps.client_id (the example's is a placeholder):\n%s", o, read(t, b.overlay()))
	}
	assertNoTemp(t, b.data)
	assertNoTemp(t, b.dir)
}

// A secret typed on the page goes to the overlay, never to the file or
// its *_file; the environment wins over both; a non-page key is refused.
func TestSaveSecrets(t *testing.T) {
	d := minimal().set("vipps.client_secret", "").set("vipps.client_secret_file", `"client_secret"`)
	b := docBox(t, d)
	secretFile := writeFile(t, b.dir, "client_secret", testClientSecret+"\n", 0o640)
	check, checkSecret := untouched(t, b.path), untouched(t, secretFile)
	c := mustLoad(t, b.path)
	if s := c.SecretSource("vipps.client_secret"); s.Kind != FromFile || s.Where != secretFile {
		t.Errorf("client_secret source %+v", s)
	}
	if s := c.SecretSource("vipps.subscription_key"); s.Kind != FromConfig {
		t.Errorf("subscription_key source %+v", s)
	}
	if s := c.SecretSource("vipps.webhook_secret"); s.Kind != "" || s.String() != "not set" {
		t.Errorf("webhook_secret source %+v", s)
	}
	c.Vipps.ClientSecret = "cs-new-value-1234"
	c.Vipps.SubscriptionKey = "sk-new-value-5678"
	c.Console.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	check()
	checkSecret()
	if m := mode(t, b.overlay()); m != 0o600 {
		t.Errorf("overlay mode %v, want 0600: it holds secrets", m)
	}
	got := mustLoad(t, b.path)
	if got.Vipps.ClientSecret.Reveal() != "cs-new-value-1234" || got.Vipps.SubscriptionKey.Reveal() != "sk-new-value-5678" {
		t.Error("the new secrets do not load")
	}
	for _, f := range []string{"vipps.client_secret", "vipps.subscription_key", "console.password_hash"} {
		if s := got.SecretSource(f); s.Kind != FromOverlay || s.Where != b.overlay() {
			t.Errorf("%s source %+v, want the overlay", f, s)
		}
	}
	noSecrets(t, "the configuration", got.String())

	// The environment wins over the overlay; the page cannot change it.
	t.Setenv("TILLBOX_VIPPS_CLIENT_SECRET", "cs-from-the-environment")
	c = mustLoad(t, b.path)
	if c.Vipps.ClientSecret.Reveal() != "cs-from-the-environment" || c.SecretSource("vipps.client_secret").Kind != FromEnv {
		t.Errorf("client_secret %+v, want the environment's", c.SecretSource("vipps.client_secret"))
	}
	overlay := read(t, b.overlay())
	c.Vipps.ClientSecret = "another-client-secret"
	c.Display.Language = "fi"
	err := c.Save()
	var ce *Error
	if !errors.As(err, &ce) || !strings.Contains(find(t, ce.Problems, "vipps.client_secret").Reason, "TILLBOX_VIPPS_CLIENT_SECRET") {
		t.Fatalf("Save of a secret from the environment: %v", err)
	}
	noSecrets(t, "the error", err.Error())

	// A key the page does not edit is refused, naming the file to edit.
	c = mustLoad(t, b.path)
	c.POS.Token = "another-token-of-20-chars"
	c.Box.DataDir = t.TempDir()
	err = c.Save()
	if !errors.As(err, &ce) || !strings.Contains(find(t, ce.Problems, "pos.token").Reason, b.path) {
		t.Fatalf("Save of pos.token: %v", err)
	}
	find(t, ce.Problems, "box.data_dir")
	noSecrets(t, "the error", err.Error())
	if read(t, b.overlay()) != overlay {
		t.Error("the overlay changed although Save refused")
	}
	check()
}

// The overlay's keys win over the file's, its scanners replace all of the
// file's; any other key in it is refused, naming the overlay and the key.
func TestOverlayPrecedence(t *testing.T) {
	d := minimal().set("display.language", `"en"`).set("vipps.timeout", `"7s"`)
	b := docBox(t, d)
	text := read(t, b.path) + "[[scanner]]\ndriver = \"serial\"\nmatch = \"/dev/ttyACM0\"\n"
	writeFile(t, b.dir, "tillbox.toml", text, 0o640)
	writeFile(t, b.data, OverlayName, "scanner = []\n\n[display]\nlanguage = \"da\"\n", 0o600)
	c := mustLoad(t, b.path)
	if c.Display.Language != "da" || len(c.Scanners) != 0 || c.Vipps.Timeout.D() != 7*time.Second {
		t.Errorf("language %q, %d scanners, timeout %v: want the overlay's language, its no scanners, the file's timeout",
			c.Display.Language, len(c.Scanners), c.Vipps.Timeout)
	}
	if s := c.KeySource("scanner"); s.Kind != FromOverlay {
		t.Errorf("scanner source %+v", s)
	}

	// A bad value in the overlay: the problem names the overlay.
	writeFile(t, b.data, OverlayName, "[display]\nlanguage = \"xx\"\n", 0o600)
	_, err := Load(b.path)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load: %v", err)
	}
	if p := find(t, ce.Problems, "display.language"); p.File != b.overlay() || p.Line != 2 || !strings.Contains(p.String(), b.overlay()+", line 2") {
		t.Errorf("problem %+v, want it in the overlay at line 2", p)
	}

	// Keys the page does not edit are refused.
	writeFile(t, b.data, OverlayName, "[box]\ndata_dir = \"/tmp\"\n\n[vipps]\nmsn = \"654321\"\ntimeout = \"3s\"\nclient_secret_file = \"x\"\n\n[pos]\ntoken = \"pos-token-in-the-overlay-x\"\n", 0o600)
	_, err = Load(b.path)
	if !errors.As(err, &ce) {
		t.Fatalf("Load: %v", err)
	}
	for _, f := range []string{"box", "vipps.timeout", "vipps.client_secret_file", "pos"} {
		p := find(t, ce.Problems, f)
		if p.File != b.overlay() || !strings.Contains(p.Reason, "only the technician page's settings") {
			t.Errorf("%s: %+v", f, p)
		}
	}
	if len(ce.Problems) != 4 {
		t.Errorf("problems %v, want 4", ce.Problems)
	}
	noSecrets(t, "the error", err.Error())

	// Open to others: a warning naming it.
	writeFile(t, b.data, OverlayName, "[display]\nlanguage = \"da\"\n", 0o640)
	if w := mustLoad(t, b.path).Warnings; len(w) != 1 || w[0].File != b.overlay() || !strings.Contains(w[0].Reason, "chmod 600") {
		t.Errorf("warnings of a 0640 overlay: %v", w)
	}

	// Not TOML.
	writeFile(t, b.data, OverlayName, "[display\n", 0o600)
	if _, err = Load(b.path); !errors.As(err, &ce) || ce.Problems[0].File != b.overlay() {
		t.Fatalf("Load of a broken overlay: %v", err)
	}
}

// A bad value is refused with its field and reason; nothing is written.
func TestSaveRefusesBadValue(t *testing.T) {
	b := exampleBox(t)
	check := untouched(t, b.path)
	c := mustLoad(t, b.path)
	c.Display.Language = "xx"
	c.Sales.CustomerPresentWindow = Duration(time.Hour)
	c.Scanners = []Scanner{{Driver: "usb", Match: "/dev/ttyACM0"}}
	err := c.Save()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Save: %v, want an *Error", err)
	}
	for _, f := range []string{"display.language", "sales.customer_present_window", "scanner[1].driver"} {
		find(t, ce.Problems, f)
	}
	check()
	if _, err := os.Stat(b.overlay()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an overlay was written although Save refused (%v)", err)
	}
	assertNoTemp(t, b.data)
}

// Save replaces the overlay by a rename: a reader sees the old file or the
// new one, never a part.
func TestSaveAtomic(t *testing.T) {
	b := exampleBox(t)
	c := mustLoad(t, b.path)
	c.Display.Language = "en"
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	ino := inode(t, b.overlay())
	c.Display.Language = "da"
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if inode(t, b.overlay()) == ino {
		t.Error("the overlay was written in place, not replaced")
	}
	assertNoTemp(t, b.data)
	if mustLoad(t, b.path).Display.Language != "da" {
		t.Error("the new language does not load")
	}
}

// RemoveOverlayKey takes one key out of the overlay, keeping the rest.
func TestRemoveOverlayKey(t *testing.T) {
	b := docBox(t, minimal())
	c := mustLoad(t, b.path)
	c.Console.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
	c.Display.Language = "fi"
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if found, err := RemoveOverlayKey(b.path, "console.password_hash"); !found || err != nil {
		t.Fatalf("RemoveOverlayKey: %v %v", found, err)
	}
	got := mustLoad(t, b.path)
	if got.Console.PasswordHash != "" || got.Display.Language != "fi" {
		t.Errorf("hash %v, language %q: want no hash and the language kept", got.Console.PasswordHash != "", got.Display.Language)
	}
	if m := mode(t, b.overlay()); m != 0o600 {
		t.Errorf("overlay mode %v", m)
	}
	if found, err := RemoveOverlayKey(b.path, "console.password_hash"); found || err != nil {
		t.Errorf("RemoveOverlayKey again: %v %v", found, err)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("a temporary file is left: %s", e.Name())
		}
	}
}
