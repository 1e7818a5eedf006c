package cli_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/cmd/internal/cli"
)

// TestRun: a command gets the arguments after its name; help on stdout;
// no command or an unknown one is a usage error with the usage on stderr;
// a command's flag.ErrHelp is no error.
func TestRun(t *testing.T) {
	var got []string
	commands := map[string]cli.Command{
		"echo":    func(_ context.Context, args []string, _, _ io.Writer) error { got = args; return nil },
		"help-me": func(context.Context, []string, io.Writer, io.Writer) error { return flag.ErrHelp },
	}
	run := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := cli.Run(t.Context(), "prog", "Usage: prog\n", commands, args, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	if _, _, err := run("echo", "a", "-b"); err != nil || strings.Join(got, " ") != "a -b" {
		t.Errorf("echo: %v, args %q", err, got)
	}
	for _, h := range []string{"help", "-h", "-help", "--help"} {
		if out, errOut, err := run(h); err != nil || out != "Usage: prog\n" || errOut != "" {
			t.Errorf("%s: %v, stdout %q, stderr %q", h, err, out, errOut)
		}
	}
	if out, errOut, err := run(); !errors.Is(err, cli.ErrUsage) || out != "" || errOut != "Usage: prog\n" {
		t.Errorf("no command: %v, stdout %q, stderr %q", err, out, errOut)
	}
	if _, errOut, err := run("nope"); !errors.Is(err, cli.ErrUsage) || !strings.HasPrefix(errOut, "prog: unknown command \"nope\"\n\nUsage: prog") {
		t.Errorf("unknown: %v, stderr %q", err, errOut)
	}
	if _, _, err := run("help-me"); err != nil {
		t.Errorf("a command's flag.ErrHelp: %v", err)
	}
	if out, _, err := run("version"); err != nil || out == "" {
		t.Errorf("version: %v, %q", err, out)
	}
}
