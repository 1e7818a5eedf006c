// Package cli is what the commands tillbox and tillbox-hq share around
// their subcommands: the command line's conventions (ParseArgs, WantsHelp,
// ErrUsage, ExitCode), the signals that stop a process (SignalContext),
// a log for journald (JournalStream, NewJournaldHandler) and the prompt for
// a password (ReadPassword).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// ErrUsage is returned, wrapped or not, after a usage message was printed:
// the command line was not understood.
var ErrUsage = errors.New("usage")

// ExitCode is the exit status of the command program that returned err: 0
// without one, 2 for a command line that was not understood (an error
// wrapping ErrUsage: its message and the usage are printed already), or 1
// after printing err to stderr after the program's name.
func ExitCode(program string, err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", program, err)
	return 1
}

// SignalContext returns a context cancelled by the first SIGINT or SIGTERM;
// a second one, before the returned function is called, makes the process
// say so on stderr (after the program's name) and exit at once with status
// 1. The returned function stops listening and cancels the context; it may
// be called more than once.
func SignalContext(program string) (context.Context, context.CancelFunc) {
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
			fmt.Fprintf(os.Stderr, "%s: second signal, exiting now\n", program)
			os.Exit(1)
		case <-released:
		}
	}()
	var once sync.Once
	return ctx, func() { once.Do(func() { signal.Stop(ch); close(released); cancel() }) }
}
