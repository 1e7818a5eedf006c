package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/display/technician"
)

// tillbox passwd writes the password's hash, never the password, 0600.
func TestPasswd(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	err := runPasswd(context.Background(), []string{"--data-dir", dir}, strings.NewReader("a long technician password\n"), &out, &out)
	if err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	data, err := os.ReadFile(filepath.Join(dir, technician.PasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("a long technician password")) || bytes.Contains(out.Bytes(), []byte("a long technician password")) {
		t.Errorf("the password itself was written")
	}
	hash, err := technician.ReadPasswordFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := technician.CheckPassword(hash, "a long technician password"); err != nil {
		t.Errorf("the hash does not match: %v", err)
	}
	if err := runPasswd(context.Background(), []string{"--data-dir", dir}, strings.NewReader("short\n"), &out, &out); err == nil {
		t.Errorf("a short password was accepted")
	}
}

// As root, the hash goes to the data folder's owner (the service's user on
// an installed box), still 0600: a file of root's would be unreadable to
// the service.
func TestPasswdAsRootGivesTheFileToTheService(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (make test runs as root)")
	}
	dir := t.TempDir()
	if err := os.Chown(dir, 4242, 4243); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runPasswd(context.Background(), []string{"--data-dir", dir}, strings.NewReader("a long technician password\n"), &out, &out); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	fi, err := os.Stat(filepath.Join(dir, technician.PasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	if uid, gid := ids(fi); uid != 4242 || gid != 4243 || fi.Mode().Perm() != 0o600 {
		t.Errorf("the password file is %d:%d %v, want 4242:4243 0600", uid, gid, fi.Mode().Perm())
	}
}

// When the configuration holds the hash, tillbox passwd (run as root, who
// may write it) replaces it there: the data directory's file would be
// shadowed by it.
func TestPasswdReplacesTheConfigurationsHash(t *testing.T) {
	dir := t.TempDir()
	old, err := technician.HashPassword("the first technician password")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, dir, "http://127.0.0.1:8090", "127.0.0.1:0", "")
	text, _ := os.ReadFile(cfg)
	text = bytes.Replace(text, []byte("[console]\n"), []byte("[console]\npassword_hash = \""+old+"\"\n"), 1)
	if err := os.WriteFile(cfg, text, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg, 0o640); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runPasswd(context.Background(), []string{"--config", cfg}, strings.NewReader("the second technician password\n"), &out, &out); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if !strings.Contains(out.String(), cfg) {
		t.Errorf("tillbox passwd says %q, not naming %s", out.String(), cfg)
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := technician.CheckPassword(c.Console.PasswordHash.Reveal(), "the second technician password"); err != nil {
		t.Errorf("the configuration's hash is not the new password's: %v", err)
	}
	if fi, _ := os.Stat(cfg); fi.Mode().Perm() != 0o640 {
		t.Errorf("the configuration's mode is now %v, want its 0640 kept", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(c.Box.DataDir, technician.PasswordFile)); err == nil {
		t.Error("a shadowed password file was written to the data directory")
	}
}

// A hash saved on the technician page (in the overlay, where it would
// shadow the data directory's file) is removed by tillbox passwd, which
// says so: the new password is the one in force.
func TestPasswdRemovesThePagesHash(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "http://127.0.0.1:8090", "127.0.0.1:0", "")
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	old, err := technician.HashPassword("the first technician password")
	if err != nil {
		t.Fatal(err)
	}
	c.Console.PasswordHash = epayment.Secret(old)
	c.Display.Language = "da"
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(cfg)
	var out bytes.Buffer
	if err := runPasswd(context.Background(), []string{"--config", cfg}, strings.NewReader("the second technician password\n"), &out, &out); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if !strings.Contains(out.String(), "removed") || !strings.Contains(out.String(), c.OverlayFile) {
		t.Errorf("tillbox passwd says %q, not that it removed the page's hash from %s", out.String(), c.OverlayFile)
	}
	c, err = config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Console.PasswordHash != "" || c.Display.Language != "da" {
		t.Errorf("after tillbox passwd: a hash still in force from %v; language %s (want the page's da kept)", c.SecretSource("console.password_hash"), c.Display.Language)
	}
	hash, err := technician.ReadPasswordFile(c.Box.DataDir)
	if err != nil || technician.CheckPassword(hash, "the second technician password") != nil {
		t.Errorf("the data directory's hash is not the new password's (%v)", err)
	}
	if after, _ := os.ReadFile(cfg); !bytes.Equal(before, after) {
		t.Error("the configuration file changed")
	}
}

// tillbox passwd waits for the password at its prompt as long as it takes;
// what the technician page saved meanwhile (a new client secret, the
// language) stays in the overlay: only the page's hash goes.
func TestPasswdKeepsChangesMadeWhileItWaits(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "http://127.0.0.1:8090", "127.0.0.1:0", "")
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	old, err := technician.HashPassword("the first technician password")
	if err != nil {
		t.Fatal(err)
	}
	c.Console.PasswordHash = epayment.Secret(old)
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	stdin, typing := io.Pipe()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runPasswd(context.Background(), []string{"--config", cfg}, stdin, &out, &out)
	}()
	// The prompt waits (nothing typed yet): the page saves meanwhile.
	// A write to the pipe returns once tillbox passwd reads it, so the
	// first byte proves it got past loading the configuration.
	if _, err := typing.Write([]byte("t")); err != nil {
		t.Fatal(err)
	}
	page, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	page.Display.Language = "fi"
	page.Vipps.ClientSecret = newClientSecret
	if err := page.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := typing.Write([]byte("he second technician password\n")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	c, err = config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := technician.ReadPasswordFile(c.Box.DataDir)
	if err != nil || technician.CheckPassword(hash, "the second technician password") != nil || c.Console.PasswordHash != "" {
		t.Errorf("the new password is not the one in force (%v)", err)
	}
	if c.Display.Language != "fi" || c.Vipps.ClientSecret.Reveal() != newClientSecret {
		t.Errorf("tillbox passwd undid what was saved while it waited: language %s, client secret new: %v",
			c.Display.Language, c.Vipps.ClientSecret.Reveal() == newClientSecret)
	}
}
