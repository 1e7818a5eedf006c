// Command tillbox is the software of a till box that takes Vipps MobilePay
// payments in a store. One binary, several subcommands; see usage.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"

	"github.com/tillbox/tillbox/agent/gcpolicy"
	"github.com/tillbox/tillbox/cmd/internal/cli"
)

const usage = `tillbox — in-store Vipps MobilePay payments

Usage:
  tillbox version               print the version, commit, date and dependencies of this build
  tillbox sim [flags]           run the Vipps MobilePay API simulator (tillbox sim -h)
  tillbox demo [flags]          run the simulator and one in-store payment through the client, step by step
  tillbox run [flags]           run the agent of a till (tillbox run -h)
  tillbox config example|check  print a commented configuration file, or check one
  tillbox devices [--json]      list the serial ports and USB HID devices a scanner could be, with the config to read each
  tillbox backup FILE           write a consistent copy of the database to FILE (tillbox backup -h)
  tillbox repair journal [flags]  salvage a damaged journal into a checked copy of the database (tillbox repair -h)
  tillbox passwd [flags]        set the technician page's password (tillbox passwd -h)
  tillbox busy [flags]          is a payment in flight? exit 0 idle, 3 busy (for update tools)
  tillbox doctor [--config F]   check configuration, data, database, clock and the way to Vipps MobilePay
  tillbox udev-rules [--config F]  print the udev rules that give the service its configured scanners
  tillbox pos COMMAND           talk to a box's POS API: sale, get, list, cancel, capture, refund, events (tillbox pos -h)

Run 'tillbox COMMAND -h' for a command's flags.
`

// errUsage is returned after a usage message was printed (cli.ErrUsage).
var errUsage = cli.ErrUsage

// parseArgs parses a subcommand's command line: cli.ParseArgs.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer, positional ...string) ([]string, error) {
	return cli.ParseArgs(fs, args, stdout, positional...)
}

// parseFlags parses the flags before a subcommand's own command:
// cli.ParseFlags.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (int, error) {
	return cli.ParseFlags(fs, args, stdout)
}

// wantsHelp reports whether args ask for help: cli.WantsHelp.
func wantsHelp(args []string) bool { return cli.WantsHelp(args) }

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "run" || os.Args[1] == "demo") {
		gcpolicy.Apply() // the agent's process; not tests running run() in theirs
	}
	ctx, stop := cli.SignalContext("tillbox")
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if code := exitCode(err, os.Stderr); code != 0 {
		stop()
		os.Exit(code)
	}
}

// exitCode is the exit status of a command that returned err: an
// exitError's code, or cli.ExitCode's (0, 2 for a command line that was
// not understood, or 1 after printing err to stderr).
func exitCode(err error, stderr io.Writer) int {
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	return cli.ExitCode("tillbox", err, stderr)
}

// run dispatches a command line; it is main without the process around it.
// A command's -h or --help prints its usage on stdout and is no error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.Run(ctx, "tillbox", usage, commands(), args, stdout, stderr)
}

// commands are tillbox's subcommands but version and help (cli.Run).
func commands() map[string]cli.Command {
	return map[string]cli.Command{
		"sim":    runSim,
		"demo":   runDemo,
		"run":    runRun,
		"config": runConfig,
		"backup": runBackup,
		"devices": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return runDevices(ctx, args, stdout, stderr, machine)
		},
		"repair": runRepair,
		"passwd": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return runPasswd(ctx, args, os.Stdin, stdout, stderr)
		},
		"pos":        runPOS,
		"busy":       runBusy,
		"doctor":     runDoctor,
		"udev-rules": runUdevRules,
	}
}

// newLogger is the one slog logger of the process.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
