package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tillbox/tillbox/agent/version"
)

// A Command runs one subcommand of a program with the arguments after its
// name. Its -h or --help prints its usage on stdout and returns
// [flag.ErrHelp] (as [ParseArgs] does); a command line it does not
// understand returns an error wrapping [ErrUsage].
type Command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Run runs the command line args (without the program's name) of program:
// args[0] names one of commands, which runs with the rest; "version"
// (-version, --version) prints the build's version; "help" (-h, -help,
// --help) prints usage on stdout. No command, or an unknown one, prints
// usage on stderr (after naming the unknown command) and returns
// ErrUsage. A command's flag.ErrHelp is no error. Run is main without the
// process around it: main gives its error to [ExitCode].
func Run(ctx context.Context, program, usage string, commands map[string]Command, args []string, stdout, stderr io.Writer) error {
	if err := dispatch(ctx, program, usage, commands, args, stdout, stderr); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil
}

func dispatch(ctx context.Context, program, usage string, commands map[string]Command, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ErrUsage
	}
	name, args := args[0], args[1:]
	switch name {
	case "version", "-version", "--version":
		return version.Print(stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if cmd, ok := commands[name]; ok {
		return cmd(ctx, args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n%s", program, name, usage)
	return ErrUsage
}
