package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/cmd/internal/cli"
)

// TestExitCode: 0, 2 for a wrapped ErrUsage with nothing printed again, 1
// with the error after the program's name.
func TestExitCode(t *testing.T) {
	var errOut bytes.Buffer
	if c := cli.ExitCode("prog", nil, &errOut); c != 0 {
		t.Errorf("no error: %d", c)
	}
	if c := cli.ExitCode("prog", fmt.Errorf("x: %w", cli.ErrUsage), &errOut); c != 2 || errOut.Len() != 0 {
		t.Errorf("usage: %d, stderr %q", c, errOut.String())
	}
	if c := cli.ExitCode("prog", errors.New("boom"), &errOut); c != 1 || errOut.String() != "prog: boom\n" {
		t.Errorf("error: %d, stderr %q", c, errOut.String())
	}
}

// TestParseArgs: flags after arguments, "--", a missing argument named.
func TestParseArgs(t *testing.T) {
	var errOut, out bytes.Buffer
	fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
	fs.SetOutput(&errOut)
	v := fs.Bool("v", false, "")
	pos, err := cli.ParseArgs(fs, []string{"a", "-v", "--", "-b"}, &out, "A", "B")
	if err != nil || !*v || strings.Join(pos, " ") != "a -b" {
		t.Errorf("%v %v %q", err, *v, pos)
	}
	_, err = cli.ParseArgs(fs, []string{"a"}, &out, "A", "B")
	if !errors.Is(err, cli.ErrUsage) || !strings.Contains(errOut.String(), "cmd: missing B") {
		t.Errorf("%v, stderr %q", err, errOut.String())
	}
	if !cli.WantsHelp([]string{"x", "--help"}) || cli.WantsHelp([]string{"--", "-h"}) {
		t.Error("WantsHelp")
	}
}

// TestReadPassword: from a pipe or file, the first line without its end and
// no prompt.
func TestReadPassword(t *testing.T) {
	var errOut bytes.Buffer
	p, err := cli.ReadPassword(strings.NewReader("s3cret pass\r\nmore\n"), &errOut, "Password: ")
	if err != nil || p != "s3cret pass" || errOut.Len() != 0 {
		t.Errorf("%q %v, stderr %q", p, err, errOut.String())
	}
}
