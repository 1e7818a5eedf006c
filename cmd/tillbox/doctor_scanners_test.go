package main

import (
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/device"
)

// TestDoctorScanners: with tillbox stopped, each configured scanner is
// looked for on the machine (a path that is there or missing, a USB
// identity plugged in or not); with tillbox running, each is reported as
// the running tillbox sees it (open, or not and why).
func TestDoctorScanners(t *testing.T) {
	_, link := scannerPty(t)
	missing := filepath.Join(t.TempDir(), "no-such-tty")
	dir := t.TempDir()
	cfgPath := testConfig(t, dir, "http://127.0.0.1:1", "127.0.0.1:1", "")
	text, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	scanners := `
[[scanner]]
name = "counter"
driver = "serial"
match = "` + link + `"

[[scanner]]
name = "gone"
driver = "serial"
match = "` + missing + `"

[[scanner]]
name = "customer"
driver = "hid"
match = "0c2e:0b61"

[[scanner]]
name = "spare"
driver = "serial"
match = "0403:6001:A1B2"
`
	if err := os.WriteFile(cfgPath, append(text, scanners...), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	en := enumerators{
		serial: func() ([]device.SerialPort, error) {
			return []device.SerialPort{{Path: "/dev/ttyUSB0", USB: true, VID: 0x0403, PID: 0x6001, SerialNumber: "OTHER"}}, nil
		},
		hid: func() ([]device.HIDDevice, error) {
			return []device.HIDDevice{{VID: 0x0c2e, PID: 0x0b61, Path: "0001:0004:00"}}, nil
		},
	}
	got := map[string]finding{}
	for _, f := range scannerFindings(context.Background(), c, en, time.Second) {
		got[f.name] = f
	}
	for name, want := range map[string]struct{ status, detail string }{
		"scanner counter":  {"ok", link + " is there"},
		"scanner gone":     {"fail", missing + " is missing"},
		"scanner customer": {"ok", "0c2e:0b61 is plugged in at /dev/bus/usb/001/004"},
		"scanner spare":    {"fail", "0403:6001:A1B2 is not plugged in"}, // another serial number
	} {
		if f := got[name]; f.status != want.status || !strings.Contains(f.detail, want.detail) {
			t.Errorf("%s: %+v, want %s with %q", name, f, want.status, want.detail)
		}
	}

	// Running: the till reads the pty; the missing one cannot be opened.
	tl := startTill(t, "", "--scanner", "serial:"+link+",name=counter", "--scanner", "serial:"+missing+",name=gone")
	agenttest.Until(t, "the scanner open", func() bool {
		st := scannerStatuses(t, tl.url)
		return len(st) == 2 && st[0].Connected && st[1].LastError != ""
	})
	u, err := url.Parse(tl.url)
	if err != nil {
		t.Fatal(err)
	}
	c.POS.Listen = u.Host
	got = map[string]finding{}
	for _, f := range scannerFindings(context.Background(), c, en, 5*time.Second) {
		got[f.name] = f
	}
	if f := got["scanner counter"]; f.status != "ok" || !strings.Contains(f.detail, "open in the running tillbox") {
		t.Errorf("counter, running: %+v", f)
	}
	if f := got["scanner gone"]; f.status != "fail" || !strings.Contains(f.detail, "not open in the running tillbox: ") {
		t.Errorf("gone, running: %+v", f)
	}
	if len(got) != 2 {
		t.Errorf("findings of the running till: %v", got)
	}
}

// TestDoctorUdevRules: the rules install.sh wrote are those of the
// configured scanners, or the doctor says to run it again (a scanner
// changed on the technician page), or that they are missing.
func TestDoctorUdevRules(t *testing.T) {
	dir := t.TempDir()
	cfgPath := testConfig(t, dir, "http://127.0.0.1:1", "127.0.0.1:1", "")
	text, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	rulesDir := t.TempDir()
	if f := udevFinding(c, cfgPath, "tillbox", rulesDir); f.status != "ok" || !strings.Contains(f.detail, "no scanners configured") {
		t.Errorf("no scanners, no rules: %+v", f)
	}
	if err := os.WriteFile(cfgPath, append(text, "\n[[scanner]]\nname = \"counter\"\ndriver = \"serial\"\nmatch = \"0c2e:0b61\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = config.Load(cfgPath); err != nil {
		t.Fatal(err)
	}
	if f := udevFinding(c, cfgPath, "tillbox", rulesDir); f.status != "warn" || !strings.Contains(f.detail, "is missing") {
		t.Errorf("a scanner, no rules: %+v", f)
	}
	// As install.sh makes them: tillbox udev-rules --config FILE --group tillbox.
	var rules strings.Builder
	if err := run(t.Context(), []string{"udev-rules", "--config", cfgPath, "--group", "tillbox"}, &rules, io.Discard); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(rulesDir, "70-tillbox.rules")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if f := udevFinding(c, cfgPath, "tillbox", rulesDir); f.status != "ok" || !strings.Contains(f.detail, "grants the 1 configured scanner(s)") {
		t.Errorf("rules in step: %+v", f)
	}
	c.Scanners[0].Match = "0c2e:0b62" // changed since
	if f := udevFinding(c, cfgPath, "tillbox", rulesDir); f.status != "warn" || !strings.Contains(f.detail, "run scripts/install.sh as root again") {
		t.Errorf("rules of other scanners: %+v", f)
	}
}
