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

// exampleFile writes the commented example, with the test's secrets, as a
// configuration file with mode 0644 and returns its path.
func exampleFile(t *testing.T, dir string) string {
	t.Helper()
	text := strings.NewReplacer(exampleClientSecret, testClientSecret, exampleSubscriptionKey, testSubscriptionKey,
		exampleToken, testToken).Replace(Example())
	return writeFile(t, dir, "tillbox.toml", text, 0o644)
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

// Load → change → Save → Load gives the changed configuration; only the
// changed keys' lines differ, the comments stay; the secrets stay; the
// file, which holds secrets, is no longer readable by others.
func TestSaveRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := exampleFile(t, dir)
	before := read(t, path)
	c := mustLoad(t, path)
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
	got := mustLoad(t, path)
	if !sameConfig(c, got) {
		t.Errorf("after Save, Load gives\n%s\nwant\n%s", got, c)
	}
	if got.Vipps.ClientSecret.Reveal() != testClientSecret || got.Vipps.SubscriptionKey.Reveal() != testSubscriptionKey || got.POS.Token.Reveal() != testToken {
		t.Error("a secret was lost")
	}
	after := read(t, path)
	for _, want := range []string{`language = "da"`, `customer_present_window = "1m30s"`, `msn = "654321"`,
		`environment = "test"`, `# base_url = "http://127.0.0.1:8090"`, "# The merchant serial number of the sales unit",
		"[[scanner]]\nname = \"counter\"\ndriver = \"serial\"\nmatch = \"/dev/ttyACM0\"\nbaud = 115200\nterminator = \"CR\"\n",
		"#   layout = \"no\"               # keyboard mode"} {
		if !strings.Contains(after, want) {
			t.Errorf("the saved file lacks %q:\n%s", want, after)
		}
	}
	if d := len(strings.Split(after, "\n")) - len(strings.Split(before, "\n")); d != 14 {
		t.Errorf("the file grew by %d lines, want 14 (two scanner tables)", d)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640: it holds secrets", fi.Mode().Perm())
	}
	// Saved again unchanged: the same text.
	if err := got.Save(); err != nil {
		t.Fatal(err)
	}
	if again := read(t, path); again != after {
		t.Errorf("saving an unchanged configuration changed the file:\n%s", again)
	}
	// Scanners removed: no table left, the example's comments stay.
	got.Scanners = nil
	if err := got.Save(); err != nil {
		t.Fatal(err)
	}
	if s := read(t, path); strings.Contains(s, "\n[[scanner]]") || !strings.Contains(s, "#[[scanner]]") {
		t.Errorf("scanners not removed cleanly:\n%s", s)
	}
	if len(mustLoad(t, path).Scanners) != 0 {
		t.Error("scanners left after removing them")
	}
	assertNoTemp(t, dir)
}

// A secret is written where it came from: its *_file, or the configuration
// file; one from the environment is refused and nothing is written.
func TestSaveSecrets(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "client_secret", testClientSecret+"\n", 0o640)
	d := minimal().set("vipps.client_secret", "").set("vipps.client_secret_file", `"client_secret"`)
	path := writeFile(t, dir, "tillbox.toml", d.String(), 0o600)
	c := mustLoad(t, path)
	if s := c.SecretSource("vipps.client_secret"); s.Kind != FromFile || s.Where != filepath.Join(dir, "client_secret") {
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
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if s := read(t, filepath.Join(dir, "client_secret")); s != "cs-new-value-1234\n" {
		t.Errorf("client_secret file holds %q", s)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "client_secret")); fi.Mode().Perm() != 0o640 {
		t.Errorf("client_secret file mode %v, want its 0640 kept", fi.Mode().Perm())
	}
	text := read(t, path)
	if strings.Contains(text, "cs-new-value") || !strings.Contains(text, `subscription_key = "sk-new-value-5678"`) {
		t.Errorf("the configuration file:\n%s", text)
	}
	got := mustLoad(t, path)
	if got.Vipps.ClientSecret.Reveal() != "cs-new-value-1234" || got.Vipps.SubscriptionKey.Reveal() != "sk-new-value-5678" {
		t.Error("the new secrets do not load")
	}

	t.Setenv("TILLBOX_POS_TOKEN", "pos-token-from-the-environment")
	c = mustLoad(t, path)
	if s := c.SecretSource("pos.token"); s.Kind != FromEnv || s.String() != "environment variable TILLBOX_POS_TOKEN" {
		t.Errorf("pos.token source %+v", s)
	}
	c.POS.Token = "another-token-of-20-chars"
	c.Display.Language = "fi"
	err := c.Save()
	var ce *Error
	if !errors.As(err, &ce) || find(t, ce.Problems, "pos.token").Reason == "" || !strings.Contains(err.Error(), "TILLBOX_POS_TOKEN") {
		t.Fatalf("Save of a secret from the environment: %v", err)
	}
	if read(t, path) != text {
		t.Error("the file changed although Save refused")
	}
	noSecrets(t, "the error", err.Error())
}

// A bad value is refused with its field and reason, and the file is
// untouched (same content, same inode).
func TestSaveRefusesBadValue(t *testing.T) {
	dir := t.TempDir()
	path := exampleFile(t, dir)
	before := read(t, path)
	ino := inode(t, path)
	c := mustLoad(t, path)
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
	if read(t, path) != before || inode(t, path) != ino {
		t.Error("the file changed although Save refused")
	}
	assertNoTemp(t, dir)
}

// Save replaces the file by a rename: a reader sees the old file or the
// new one, never a part. In a directory it cannot write, Save fails and
// the file stays as it was.
func TestSaveAtomic(t *testing.T) {
	dir := t.TempDir()
	path := exampleFile(t, dir)
	ino := inode(t, path)
	c := mustLoad(t, path)
	c.Display.Language = "en"
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if inode(t, path) == ino {
		t.Error("the file was written in place, not replaced")
	}
	assertNoTemp(t, dir)

	// A symbolic link to the file stays a link; its target changes.
	link := filepath.Join(t.TempDir(), "tillbox.toml")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	lc := mustLoad(t, link)
	lc.Display.Language = "da"
	if err := lc.Save(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file (%v)", err)
	}
	if mustLoad(t, path).Display.Language != "da" {
		t.Error("the link's target did not change")
	}
	assertNoTemp(t, dir)

	t.Run("read-only directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes a read-only directory")
		}
		before := read(t, path)
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		c.Display.Language = "fi"
		if err := c.Save(); err == nil {
			t.Fatal("Save into a read-only directory succeeded")
		}
		if read(t, path) != before {
			t.Error("the file changed")
		}
	})
}

// A file written in a way the line editor cannot follow (an inline table)
// is refused rather than mangled.
func TestSaveRefusesUnusualFile(t *testing.T) {
	dir := t.TempDir()
	// An inline table for [display] at the top, before any header.
	text := "display = { language = \"nb\", listen = \"127.0.0.1:8081\" }\n" + minimal().String()
	path := writeFile(t, dir, "tillbox.toml", text, 0o600)
	c := mustLoad(t, path)
	c.Display.Language = "da"
	err := c.Save()
	if err == nil || !strings.Contains(err.Error(), "by hand") {
		t.Fatalf("Save: %v", err)
	}
	if read(t, path) != text {
		t.Error("the file changed")
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
