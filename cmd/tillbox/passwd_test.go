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

// When the configuration holds the hash (a password set on the technician
// page at first boot), tillbox passwd replaces it there: the data
// directory's file would be shadowed by it.
func TestPasswdReplacesTheConfigurationsHash(t *testing.T) {
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
	var out bytes.Buffer
	if err := runPasswd(context.Background(), []string{"--config", cfg}, strings.NewReader("the second technician password\n"), &out, &out); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if !strings.Contains(out.String(), cfg) {
		t.Errorf("tillbox passwd says %q, not naming %s", out.String(), cfg)
	}
	c, err = config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := technician.CheckPassword(c.Console.PasswordHash.Reveal(), "the second technician password"); err != nil {
		t.Errorf("the configuration's hash is not the new password's: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.Box.DataDir, technician.PasswordFile)); err == nil {
		t.Error("a shadowed password file was written to the data directory")
	}
}

// tillbox passwd waits for the password at its prompt as long as it takes;
// what the technician page saved meanwhile (a new client secret, the
// language) stays: only the hash changes.
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
	if err := technician.CheckPassword(c.Console.PasswordHash.Reveal(), "the second technician password"); err != nil {
		t.Errorf("the configuration's hash is not the new password's: %v", err)
	}
	if c.Display.Language != "fi" || c.Vipps.ClientSecret.Reveal() != newClientSecret {
		t.Errorf("tillbox passwd undid what was saved while it waited: language %s, client secret new: %v",
			c.Display.Language, c.Vipps.ClientSecret.Reveal() == newClientSecret)
	}
}
