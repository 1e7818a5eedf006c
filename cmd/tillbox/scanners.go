package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/scanners"
)

// openScanners opens the box's scanners, and the demo's terminal as one
// more when the Main has one: all through one scanners.Manager.
func (m *Main) openScanners(specs []device.Spec, log *slog.Logger) (*scanners.Manager, error) {
	o := scanners.Options{Logger: log}
	if m.terminal != nil {
		o.Drivers = scanners.DefaultDrivers()
		o.Drivers[driverTerminal] = m.terminal.open
		specs = append(slices.Clip(specs), terminalSpec)
	}
	return scanners.Open(specs, o)
}

// scanReader hands every scan of the box's scanners to the agent, as
// POST /api/v1/scans does, until the manager's Scans closes. It is owned by
// the Main (or the demo) that started it: Close the manager, then wait.
type scanReader struct {
	done chan struct{}
}

// readScans starts a scanReader on m for a. Refusals are logged with the
// scan shortened and masked (device.Shorten), never whole; out, when not
// nil, gets a line per scan (the demo's terminal).
func readScans(m *scanners.Manager, a *agent.Agent, log *slog.Logger, out io.Writer) *scanReader {
	r := &scanReader{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for s := range m.Scans() {
			handleScan(s, a, log, out)
		}
	}()
	return r
}

// wait waits until the reader has handled the last scan of a closed manager.
func (r *scanReader) wait() { <-r.done }

func handleScan(s device.Scan, a *agent.Agent, log *slog.Logger, out io.Writer) {
	res, err := a.Scan(string(s.Data))
	var ve *agent.ValidationError
	switch {
	case err == nil:
		log.Info("scan taken", "scanner", s.Source, "outcome", res.Outcome, "reference", res.Reference)
		if out != nil {
			fmt.Fprintf(out, "  scanner      %s: scan %s %s\n", s.Source, res.Outcome, res.Reference)
		}
		return
	case errors.As(err, &ve), errors.Is(err, agent.ErrPaymentPending):
		log.Info("scan refused", "scanner", s.Source, "scan", device.Shorten(s.Data), "bytes", len(s.Data), "reason", res.Message)
	default:
		log.Error("scan not taken", "scanner", s.Source, "scan", device.Shorten(s.Data), "err", err)
		res.Message = "the box could not take it; see its log"
	}
	if out != nil {
		fmt.Fprintf(out, "  scanner      %s: refused: %s\n", s.Source, res.Message)
	}
}
