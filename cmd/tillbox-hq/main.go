// Command tillbox-hq is the headquarters of a chain of tillbox boxes: it
// copies every box's journal from NATS JetStream into PostgreSQL exactly
// once, records their heartbeats, relays Vipps MobilePay webhooks to the
// box whose payment each is, and serves /healthz, /readyz and /metrics.
// docs/chain.md describes it ("## Headquarters").
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tillbox/tillbox/agent/version"
	"github.com/tillbox/tillbox/cmd/internal/cli"
)

const usage = `tillbox-hq — headquarters of a chain of tillbox boxes

Usage:
  tillbox-hq version                print the version, commit, date and dependencies of this build
  tillbox-hq run [--config FILE]    consume the boxes' journals and heartbeats, relay webhooks, serve HTTP
  tillbox-hq config example|check   print a commented configuration file, or check one
  tillbox-hq migrate [--config FILE]  apply the PostgreSQL schema migrations and exit
  tillbox-hq passwd                 print the hash of a fleet page user's password (read from stdin)
  tillbox-hq demo [--tillbox PATH]  a whole chain on this machine: NATS, PostgreSQL, headquarters, three boxes

Run 'tillbox-hq COMMAND -h' for a command's flags.
`

// errUsage is returned after a usage message was printed (cli.ErrUsage).
var errUsage = cli.ErrUsage

// parseArgs parses a subcommand's command line: cli.ParseArgs.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer, positional ...string) ([]string, error) {
	return cli.ParseArgs(fs, args, stdout, positional...)
}

// wantsHelp reports whether args ask for help: cli.WantsHelp.
func wantsHelp(args []string) bool { return cli.WantsHelp(args) }

func main() {
	ctx, stop := cli.SignalContext("tillbox-hq")
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if code := exitCode(err, os.Stderr); code != 0 {
		stop()
		os.Exit(code)
	}
}

// exitCode is the exit status of a command that returned err: cli.ExitCode's
// (0, 2 for a command line that was not understood, or 1 after printing err
// to stderr).
func exitCode(err error, stderr io.Writer) int {
	return cli.ExitCode("tillbox-hq", err, stderr)
}

// run dispatches a command line; it is main without the process around it.
// A command's -h or --help prints its usage on stdout and is no error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := dispatch(ctx, args, stdout, stderr); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "version", "-version", "--version":
		return version.Print(stdout)
	case "run":
		return runRun(ctx, args, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args, stdout, stderr)
	case "config":
		return runConfig(args, stdout, stderr)
	case "passwd":
		return runPasswd(args, os.Stdin, stdout, stderr)
	case "demo":
		return runDemo(ctx, args, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "tillbox-hq: unknown command %q\n\n%s", cmd, usage)
	return errUsage
}
