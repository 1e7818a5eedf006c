package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Restart from the technician page: Run shuts down gracefully as on
// SIGTERM (requests finish, the agent parks its commands, the store
// closes), returns errRestart, and runRun replaces the process with the
// same binary and the same arguments (execve). The PID stays, so under
// systemd (Type=notify, NotifyAccess=main) the service never stops: it
// says RELOADING=1 before and the new program READY=1 after. Without
// systemd it works the same in a terminal or under any supervisor.

// errRestart ends Run after a restart was asked for.
var errRestart = errors.New("restart requested")

// requestRestart is the technician page's restart: it refuses while a
// payment is in flight (returning the sales) unless force, and otherwise
// asks Run to stop and restart.
func (m *Main) requestRestart(force bool) ([]string, error) {
	b, err := m.agent.Busy()
	if err != nil {
		return nil, fmt.Errorf("restart: is a payment in flight? %w", err)
	}
	if b.Busy && !force {
		return b.InFlight, nil
	}
	m.restartOnce.Do(func() { close(m.restart) })
	return b.InFlight, nil
}

// reexec replaces the process with the same binary, arguments and
// environment. It returns only on failure.
func reexec() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	// An update replaced the binary while it ran: run the new one.
	exe = strings.TrimSuffix(exe, " (deleted)")
	if err := syscall.Exec(exe, os.Args, os.Environ()); err != nil {
		return fmt.Errorf("restart: exec %s: %w", exe, err)
	}
	return nil
}
