package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
)

// TestHelpAndBadFlags: -h and --help print the usage on stdout and exit 0;
// an unknown flag or command exits 2 with one message on stderr.
func TestHelpAndBadFlags(t *testing.T) {
	for _, cmd := range [][]string{{}, {"run"}, {"migrate"}, {"config"}, {"passwd"}} {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, cmd...), h)
			var out, errOut bytes.Buffer
			err := run(t.Context(), args, &out, &errOut)
			if code := exitCode(err, &errOut); code != 0 {
				t.Errorf("%q: exit status %d (%v), want 0; stderr %q", args, code, err, errOut.String())
			}
			if !strings.Contains(strings.ToLower(out.String()), "usage") || errOut.Len() != 0 {
				t.Errorf("%q: stdout %q, stderr %q: want the usage on stdout only", args, out.String(), errOut.String())
			}
		}
	}
	for _, args := range [][]string{{"run", "--no-such-flag"}, {"migrate", "--no-such-flag"}, {"passwd", "--no-such-flag"}, {"frobnicate"}, {"config", "frobnicate"}, {}} {
		var out, errOut bytes.Buffer
		err := run(t.Context(), args, &out, &errOut)
		if code := exitCode(err, io.Discard); code != 2 {
			t.Errorf("%q: exit status %d (%v), want 2", args, code, err)
		}
		if errOut.Len() == 0 || out.Len() != 0 {
			t.Errorf("%q: stdout %q, stderr %q: want the message on stderr", args, out.String(), errOut.String())
		}
	}
}

// TestConfigExampleChecks: the printed example, with its secret files
// beside it, passes `config check`; a broken file names its problems and
// fails with status 1.
func TestConfigExampleChecks(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"config", "example"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write("hq.toml", out.String())
	write("nats-password", "pw")
	write("postgres-dsn", "postgres://hq:pw@127.0.0.1/tillbox")
	write("webhook-123456", "hook")
	out.Reset()
	if err := run(t.Context(), []string{"config", "check", filepath.Join(dir, "hq.toml")}, &out, io.Discard); err != nil {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	if !strings.HasSuffix(out.String(), "hq.toml: ok\n") {
		t.Errorf("check printed %q", out.String())
	}
	write("bad.toml", "[hq]\nchain = \"\"\nsurprise = 1\n")
	out.Reset()
	err := run(t.Context(), []string{"config", "check", filepath.Join(dir, "bad.toml")}, &out, io.Discard)
	if exitCode(err, io.Discard) != 1 || !strings.Contains(out.String(), "hq.chain:") || !strings.Contains(out.String(), "hq.surprise: unknown key") {
		t.Errorf("check of a bad file: %v\n%s", err, out.String())
	}
}

// TestRunRefusesABadConfiguration names the problems and starts nothing.
func TestRunRefusesABadConfiguration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hq.toml")
	if err := os.WriteFile(path, []byte("[hq]\nchain = \"a.b\"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"run", "--config", path}, io.Discard, &errOut)
	var ce *hqconfig.Error
	if err == nil || errors.As(err, &ce) || !strings.Contains(errOut.String(), "hq.chain:") || !strings.Contains(errOut.String(), "postgres.dsn:") {
		t.Errorf("run: %v; stderr %q", err, errOut.String())
	}
}

// TestPasswd prints a hash the fleet page's users take, never the password.
func TestPasswd(t *testing.T) {
	var out bytes.Buffer
	if err := runPasswd(nil, strings.NewReader("correct horse battery\n"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out.String())
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "correct horse") {
		t.Fatalf("passwd printed %q", hash)
	}
	if err := runPasswd(nil, strings.NewReader("short\n"), io.Discard, io.Discard); err == nil {
		t.Error("a short password was taken")
	}
}
