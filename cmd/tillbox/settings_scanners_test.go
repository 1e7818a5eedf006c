package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment/sim"
)

// A configuration written by hand may list more scanners than the page
// offers empty rows for: the page shows every one, and saving another
// setting (the language) keeps them all.
func TestSettingsKeepEveryScanner(t *testing.T) {
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Ignore}})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	dir := t.TempDir()
	cfg := testConfig(t, dir, simHTTP.URL, "127.0.0.1:0", "")
	const n = 10
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		fmt.Fprintf(f, "\n[[scanner]]\nname = \"lane%d\"\ndriver = \"serial\"\nmatch = \"/dev/ttyACM%d\"\n", i, i)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	hash := writeTechPassword(t, dir, techPassword)
	logs, done := runTill(t, cfg)
	tt := &techTill{t: t, config: cfg, hash: hash, logs: logs}
	tt.tech = waitPrinted(t, logs, done, techPrinted)

	h := tt.client()
	tok := h.signIn(techPassword)
	_, page := h.do("GET", "settings", nil)
	// What the browser posts: every row the page shows, the language changed.
	form := url.Values{"csrf": {tok}, "environment": {"simulator"}, "base_url": {simHTTP.URL}, "msn": {"123456"},
		"client_id": {"6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"}, "language": {"da"}, "customer_present_window": {"2m"}}
	for i := range n {
		p := "scanner" + strconv.Itoa(i) + "_"
		if !inputNamed(page, p+"match") {
			t.Fatalf("the page shows no row for scanner %d", i+1)
		}
		form.Set(p+"name", fmt.Sprintf("lane%d", i))
		form.Set(p+"driver", "serial")
		form.Set(p+"match", fmt.Sprintf("/dev/ttyACM%d", i))
		form.Set(p+"baud", "9600")
		form.Set(p+"terminator", "CR")
	}
	if resp, body := h.do("POST", "settings", form); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST settings: %s\n%s", resp.Status, body)
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Display.Language != "da" || len(c.Scanners) != n {
		t.Errorf("after saving the language: language %s, %d scanners, want da and %d", c.Display.Language, len(c.Scanners), n)
	}
}

func inputNamed(page []byte, name string) bool {
	return bytes.Contains(page, []byte(`name="`+name+`"`))
}

// The page does not show a scanner's prefix and suffix: removing the first
// scanner keeps those of the next one, which moves up a row.
func TestSettingsRemovingAScannerKeepsTheOthersPrefix(t *testing.T) {
	s := sim.New(sim.Options{App: sim.AppPolicy{Action: sim.Ignore}})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	dir := t.TempDir()
	cfg := testConfig(t, dir, simHTTP.URL, "127.0.0.1:0", "")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "\n[[scanner]]\nname = \"old\"\ndriver = \"serial\"\nmatch = \"/dev/ttyACM0\"\nprefix = \"AA\"\n"+
		"\n[[scanner]]\nname = \"kept\"\ndriver = \"serial\"\nmatch = \"/dev/ttyACM1\"\nprefix = \"]C1\"\nsuffix = \"ZZ\"\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	hash := writeTechPassword(t, dir, techPassword)
	logs, done := runTill(t, cfg)
	tt := &techTill{t: t, config: cfg, hash: hash, logs: logs}
	tt.tech = waitPrinted(t, logs, done, techPrinted)
	h := tt.client()
	tok := h.signIn(techPassword)
	// The first row emptied (driver and match): that scanner is removed.
	form := url.Values{"csrf": {tok}, "environment": {"simulator"}, "base_url": {simHTTP.URL}, "msn": {"123456"},
		"client_id": {"6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"}, "language": {"en"}, "customer_present_window": {"2m"},
		"scanner0_name": {"old"}, "scanner1_name": {"kept"}, "scanner1_driver": {"serial"}, "scanner1_match": {"/dev/ttyACM1"},
		"scanner1_baud": {"9600"}, "scanner1_terminator": {"CR"}}
	if resp, body := h.do("POST", "settings", form); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST settings: %s\n%s", resp.Status, body)
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Scanners) != 1 || c.Scanners[0].Name != "kept" || c.Scanners[0].Prefix != "]C1" || c.Scanners[0].Suffix != "ZZ" {
		t.Errorf("after removing the first scanner: %+v, want kept with prefix ]C1 and suffix ZZ", c.Scanners)
	}
}
