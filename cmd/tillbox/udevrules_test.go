package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/config"
)

// TestUdevRules: tillbox udev-rules prints one rule per configured scanner
// and nothing else; the example configuration (no scanner) grants nothing;
// a broken [[scanner]] table is refused with the field named.
func TestUdevRules(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "http://127.0.0.1:8090", "127.0.0.1:0", "")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n[[scanner]]\nname = \"counter\"\ndriver = \"serial\"\nmatch = \"0c2e:0b61:17001\"\n\n[[scanner]]\nname = \"customer\"\ndriver = \"hid\"\nmatch = \"05e0:1200\"\n")
	f.Close()

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"udev-rules", "--config", cfg}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rules []string
	for _, l := range strings.Split(out.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			rules = append(rules, l)
		}
	}
	if len(rules) != 2 || !strings.HasPrefix(rules[0], `SUBSYSTEM=="tty", ATTRS{idVendor}=="0c2e", ATTRS{idProduct}=="0b61", ATTRS{serial}=="17001", GROUP="tillbox", MODE="0660"`) ||
		!strings.HasPrefix(rules[1], `SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{idVendor}=="05e0", ATTR{idProduct}=="1200", GROUP="tillbox", MODE="0660"`) {
		t.Errorf("rules:\n%s", out.String())
	}
	if errOut.Len() != 0 || strings.Contains(out.String(), testToken) || strings.Contains(out.String(), "client-secret-of-the-tests") {
		t.Errorf("stderr %q, or a secret in the rules:\n%s", errOut.String(), out.String())
	}

	example := filepath.Join(dir, "example.toml")
	if err := os.WriteFile(example, []byte(config.Example()), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"udev-rules", "--config", example, "--group", "shop"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "no device is granted") || strings.Contains(out.String(), "GROUP=") {
		t.Errorf("rules of the example:\n%s", out.String())
	}

	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte(config.Example()+"\n[[scanner]]\ndriver = \"serial\"\nmatch = \"12:34\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	err = run(context.Background(), []string{"udev-rules", "--config", bad}, &out, &errOut)
	if err == nil || out.Len() != 0 || !strings.Contains(errOut.String(), "scanner[1].match") {
		t.Errorf("a broken scanner: %v, stdout %q, stderr %q", err, out.String(), errOut.String())
	}
}

// A value typed on the technician page cannot add configuration or udev
// rules: a serial number holding quotes, brackets, a backslash and a
// table header is saved escaped (the file loads to the same scanner and
// the same Vipps MobilePay address), and its udev rule stays one rule
// with no assignment of its own.
func TestTypedValuesAddNoConfigurationOrRule(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "http://127.0.0.1:8090", "127.0.0.1:0", "")
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const match = `0c2e:0b61:x"]\u0022,RUN+="/bin/sh"[vipps]base_url="https://vipps.example.net"[[scanner]]`
	c.Scanners = []config.Scanner{{Name: "counter", Driver: config.DriverSerial, Match: match}}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Scanners) != 1 || got.Scanners[0].Match != match || got.Vipps.BaseURL != "http://127.0.0.1:8090" {
		t.Fatalf("after saving, the file loads to %d scanners (match %q) and base_url %s", len(got.Scanners), got.Scanners[0].Match, got.Vipps.BaseURL)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"udev-rules", "--config", cfg}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rules []string
	for _, l := range strings.Split(out.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			rules = append(rules, l)
		}
	}
	// Without its values (udev reads a value to the next quote), the rule
	// is the keys it should have, and no other.
	const keys = `SUBSYSTEM=="", ATTRS{idVendor}=="", ATTRS{idProduct}=="", ATTRS{serial}=="", GROUP="", MODE="", SYMLINK+="", ENV{ID_MM_DEVICE_IGNORE}=""`
	if len(rules) != 1 || regexp.MustCompile(`"[^"]*"`).ReplaceAllString(rules[0], `""`) != keys {
		t.Errorf("rules:\n%s", out.String())
	}
}
