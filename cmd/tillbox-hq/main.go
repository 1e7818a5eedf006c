// Command tillbox-hq is the headquarters of a chain of tillbox boxes: it
// copies every box's journal from NATS JetStream into PostgreSQL exactly
// once, records their heartbeats, relays Vipps MobilePay webhooks to the
// box whose payment each is, and serves /healthz, /readyz and /metrics.
// docs/chain.md describes it ("## Headquarters").
package main

import (
	"context"
	"io"
	"os"

	"github.com/tillbox/tillbox/cmd/internal/cli"
)

const usage = `tillbox-hq — headquarters of a chain of tillbox boxes

Usage:
  tillbox-hq version                print the version, commit, date and dependencies of this build
  tillbox-hq run [--config FILE]    consume the boxes' journals and heartbeats, relay webhooks, serve HTTP
  tillbox-hq config example|check   print a commented configuration file, or check one
  tillbox-hq migrate [--config FILE]  apply the PostgreSQL schema migrations and exit
  tillbox-hq passwd                 print the hash of a fleet page user's password (read from stdin)
  tillbox-hq recon --day DATE       reconcile a ledger date against the Vipps MobilePay settlement ledger now
  tillbox-hq settings COMMAND       set the boxes' settings for the chain, a store or a till (canary, rollback)
  tillbox-hq demo [--tillbox PATH]  a whole chain on this machine: NATS, PostgreSQL, headquarters, three boxes

Run 'tillbox-hq COMMAND -h' for a command's flags.
`

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
	return cli.Run(ctx, "tillbox-hq", usage, map[string]cli.Command{
		"run":     runRun,
		"migrate": runMigrate,
		"config": func(_ context.Context, args []string, stdout, stderr io.Writer) error {
			return runConfig(args, stdout, stderr)
		},
		"passwd": func(_ context.Context, args []string, stdout, stderr io.Writer) error {
			return runPasswd(args, os.Stdin, stdout, stderr)
		},
		"demo": runDemo,
		"recon": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return runReconCmd(ctx, args, stdout, stderr, nil) // nil: the units' own keys (recon.go)
		},
		"settings": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return runSettings(ctx, args, os.Stdin, stdout, stderr)
		},
	}, args, stdout, stderr)
}
