package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
)

// ParseArgs parses the command line of a subcommand with fs, flags and
// positional arguments in any order ("--" ends the flags), and checks that
// the positional arguments are the ones named (e.g. "FILE"). What the user
// sees is conventional:
//   - -h, -help or --help print fs's usage on stdout and return
//     [flag.ErrHelp] (a command turns it into exit status 0);
//   - a bad flag or a wrong number of arguments prints one message, naming
//     it, and the usage on fs's output (stderr), and returns an error
//     wrapping [ErrUsage] (exit status 2 by [ExitCode], nothing printed
//     again).
//
// It returns the positional arguments, in order.
//
// fs.Usage must write to fs.Output().
func ParseArgs(fs *flag.FlagSet, args []string, stdout io.Writer, positional ...string) ([]string, error) {
	var pos []string
	for {
		n, err := ParseFlags(fs, args, stdout)
		if err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...) // all that follows "--" is positional
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) == len(positional) {
		return pos, nil
	}
	var err error
	if len(pos) < len(positional) {
		err = fmt.Errorf("%s: missing %s", fs.Name(), positional[len(pos)])
	} else {
		err = fmt.Errorf("%s: unexpected argument %q", fs.Name(), pos[len(positional)])
	}
	fmt.Fprintf(fs.Output(), "%v\n\n", err)
	fs.Usage()
	return nil, fmt.Errorf("%w: %w", err, ErrUsage)
}

// ParseFlags is fs.Parse(args) with the usage of -h on stdout and a bad
// flag reported once, as ParseArgs says; n is the number of arguments it
// took. Unlike ParseArgs, it stops at the first positional argument (e.g.
// the name of a subcommand's own command), which fs.Args() then starts
// with.
func ParseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (n int, err error) {
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err = fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case err == nil:
		return len(args) - fs.NArg(), nil
	case errors.Is(err, flag.ErrHelp):
		if _, err := stdout.Write(buf.Bytes()); err != nil {
			return 0, err
		}
		return 0, flag.ErrHelp
	}
	_, _ = out.Write(buf.Bytes()) // the flag package's message and the usage
	return 0, fmt.Errorf("%s: %w: %w", fs.Name(), err, ErrUsage)
}

// WantsHelp reports whether args ask for help (-h, -help or --help) before
// any "--", for a command that parses its arguments without a flag set.
func WantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}
