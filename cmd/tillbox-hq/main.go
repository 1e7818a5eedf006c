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
	"os/signal"
	"sync"
	"syscall"

	"github.com/tillbox/tillbox/agent/version"
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

// errUsage is returned after a usage message was printed.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signalContext()
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if code := exitCode(err, os.Stderr); code != 0 {
		stop()
		os.Exit(code)
	}
}

// exitCode is the exit status of a command that returned err: 0 without
// one, 2 for a command line that was not understood (its message and the
// usage are printed already), or 1 after printing err to stderr.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "tillbox-hq:", err)
	return 1
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

// signalContext is cancelled by the first SIGINT or SIGTERM; a second one
// kills the process at once.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	released := make(chan struct{}) // the caller is done: stop listening
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-released:
			return
		}
		// ctx is done now; only the caller's release ends the wait for a
		// second signal, which exits at once.
		select {
		case <-ch:
			fmt.Fprintln(os.Stderr, "tillbox-hq: second signal, exiting now")
			os.Exit(1)
		case <-released:
		}
	}()
	var once sync.Once
	return ctx, func() { once.Do(func() { signal.Stop(ch); close(released); cancel() }) }
}
