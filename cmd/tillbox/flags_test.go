package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpAndBadFlags checks the conventions of every subcommand: -h and
// --help print the usage on stdout and exit 0; an unknown flag exits 2
// with one message; a flag after a positional argument works or is named.
func TestHelpAndBadFlags(t *testing.T) {
	t.Setenv("TILLBOX_POS_TOKEN", "")
	commands := [][]string{
		{}, {"sim"}, {"demo"}, {"run"}, {"config"}, {"config", "check"}, {"backup"}, {"devices"},
		{"repair"}, {"repair", "journal"}, {"passwd"}, {"busy"}, {"doctor"}, {"udev-rules"},
		{"pos"}, {"pos", "sale"}, {"pos", "get"}, {"pos", "list"}, {"pos", "cancel"}, {"pos", "capture"},
		{"pos", "refund"}, {"pos", "events"}, {"pos", "status"}, {"pos", "scan"},
	}
	for _, cmd := range commands {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, cmd...), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var out, errOut bytes.Buffer
				err := run(t.Context(), args, &out, &errOut)
				if code := exitCode(err, &errOut); code != 0 {
					t.Errorf("exit status %d (%v), want 0; stderr %q", code, err, errOut.String())
				}
				if !strings.Contains(strings.ToLower(out.String()), "usage") || errOut.Len() != 0 {
					t.Errorf("stdout %q, stderr %q: want the usage on stdout only", out.String(), errOut.String())
				}
			})
		}
		if len(cmd) == 0 || cmd[0] == "config" || (len(cmd) == 1 && cmd[0] == "repair") {
			continue // no flags: an unknown word is an unknown command (TestUnknownCommandAndNoArgs)
		}
		args := append(append([]string{}, cmd...), "--no-such-flag")
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Setenv("TILLBOX_POS_TOKEN", "t") // tillbox pos asks for one before its command's flags
			var out, errOut bytes.Buffer
			err := run(t.Context(), args, &out, &errOut)
			if code := exitCode(err, &errOut); code != 2 {
				t.Errorf("exit status %d (%v), want 2", code, err)
			}
			if n := strings.Count(errOut.String(), "no-such-flag"); n != 1 || out.Len() != 0 {
				t.Errorf("stderr names the flag %d times, stdout %q: want once, nothing on stdout\n%s", n, out.String(), errOut.String())
			}
		})
	}
}

// TestFlagAfterArgument: `tillbox backup out.db --config F` reads F; an
// argument too many is named.
func TestFlagAfterArgument(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "missing.toml")
	var errOut bytes.Buffer
	err := run(t.Context(), []string{"backup", filepath.Join(dir, "out.db"), "--config", cfg}, io.Discard, &errOut)
	if err == nil || !strings.Contains(err.Error()+errOut.String(), cfg) {
		t.Errorf("backup FILE --config F: %v, stderr %q: want a problem naming %s", err, errOut.String(), cfg)
	}
	errOut.Reset()
	err = run(t.Context(), []string{"backup", "a.db", "b.db"}, io.Discard, &errOut)
	if exitCode(err, io.Discard) != 2 || strings.Count(errOut.String(), `unexpected argument "b.db"`) != 1 {
		t.Errorf("backup a.db b.db: %v, stderr %q", err, errOut.String())
	}
	errOut.Reset()
	err = run(t.Context(), []string{"backup", "--config", cfg}, io.Discard, &errOut)
	if exitCode(err, io.Discard) != 2 || !strings.Contains(errOut.String(), "missing FILE") {
		t.Errorf("backup without FILE: %v, stderr %q", err, errOut.String())
	}
	errOut.Reset()
	err = run(t.Context(), []string{"run", "extra", "--config", cfg}, io.Discard, &errOut)
	if exitCode(err, io.Discard) != 2 || !strings.Contains(errOut.String(), `unexpected argument "extra"`) {
		t.Errorf("run extra: %v, stderr %q", err, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "out.db")); err == nil {
		t.Error("backup wrote a file without a database")
	}
}
