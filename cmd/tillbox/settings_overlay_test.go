package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/display/technician"
)

// When the configuration holds the technician password's hash, a password
// set on the page goes to the page's overlay (which wins over it), not to
// the configuration, which the service cannot write; the next tillbox
// passwd removes the page's hash, so it cannot shadow the new one.
func TestPagePasswordOverConfigurationsHash(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "http://127.0.0.1:8090", "127.0.0.1:0", "")
	first, err := technician.HashPassword("the first technician password")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(cfg)
	text = bytes.Replace(text, []byte("[console]\n"), []byte("[console]\npassword_hash = \""+first+"\"\n"), 1)
	if err := os.WriteFile(cfg, text, 0o640); err != nil {
		t.Fatal(err)
	}
	s := &settingsFile{path: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	second, err := technician.HashPassword("the second technician password")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(second); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(cfg); !bytes.Equal(after, text) {
		t.Error("the page wrote the configuration file")
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if src := c.SecretSource("console.password_hash"); src.Kind != config.FromOverlay || technician.CheckPassword(c.Console.PasswordHash.Reveal(), "the second technician password") != nil {
		t.Errorf("the hash in force comes from %v, want the page's second one", src)
	}
	var out bytes.Buffer
	if err := runPasswd(t.Context(), []string{"--config", cfg}, bytes.NewBufferString("the third technician password\n"), &out, &out); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	c, err = config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if src := c.SecretSource("console.password_hash"); src.Kind != config.FromConfig || technician.CheckPassword(c.Console.PasswordHash.Reveal(), "the third technician password") != nil {
		t.Errorf("after tillbox passwd the hash in force comes from %v, want the configuration's new one\n%s", src, out.String())
	}
}
