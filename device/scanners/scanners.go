// Package scanners opens the scanners it is given (device.Specs), hands their
// scans to one consumer, keeps them open (a driver that stops is opened
// again) and reports their states for the technician page.
package scanners

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/hid"
	"github.com/tillbox/tillbox/device/serial"
	"github.com/tillbox/tillbox/device/uevent"
)

// Opener opens one scanner of a driver.
type Opener func(device.Spec, *slog.Logger) (device.Scanner, error)

// ErrNoDriver is the error (wrapping errors.ErrUnsupported) of a scanner
// whose driver this build lacks. The manager does not retry it.
var ErrNoDriver = fmt.Errorf("driver not available in this build: %w", errors.ErrUnsupported)

// DefaultDrivers are the drivers of this build: serial, and USB HID
// (keyboard mode and HID POS). In a build without cgo the HID driver cannot
// work: a "hid" scanner then reports an error wrapping ErrNoDriver that says
// so, instead of pretending that no scanner is plugged in.
func DefaultDrivers() map[string]Opener {
	return map[string]Opener{
		device.DriverSerial: openSerial,
		device.DriverHID:    openHID,
	}
}

func openHID(s device.Spec, log *slog.Logger) (device.Scanner, error) {
	c, err := hid.FromSpec(s)
	if err != nil {
		return nil, err
	}
	c.Logger = log
	sc, err := hid.Open(c)
	if errors.Is(err, hid.ErrNotBuilt) {
		return nil, noDriver{err}
	}
	if err != nil {
		return nil, err
	}
	return sc, nil
}

// noDriver is the error of a driver this build lacks: its own words, and
// ErrNoDriver for errors.Is.
type noDriver struct{ err error }

func (e noDriver) Error() string   { return e.err.Error() }
func (e noDriver) Unwrap() []error { return []error{e.err, ErrNoDriver} }

func openSerial(s device.Spec, log *slog.Logger) (device.Scanner, error) {
	c, err := serial.FromSpec(s)
	if err != nil {
		return nil, err
	}
	c.Logger = log
	return serial.Open(c)
}

// Options tune a Manager; the zero value is the default.
type Options struct {
	// Drivers open scanners by driver name; nil means DefaultDrivers.
	Drivers map[string]Opener
	// Logger receives the manager's and the drivers' logs; nil discards.
	Logger *slog.Logger
	// RestartBackoff is the first wait before a scanner whose driver
	// stopped or failed to open is opened again; it doubles while opening
	// fails, up to MaxRestartBackoff, and starts again after an open
	// worked. 0 means 1s. (A USB HID scanner that was unplugged is found
	// again this way.)
	RestartBackoff time.Duration
	// MaxRestartBackoff bounds that wait, so that a scanner plugged back in
	// is read again soon; 0 means 5s. Once a wait of MaxRestartBackoff
	// passed in vain, a scanner that fails to open is opened again at the
	// next hotplug event, or after IdleRetry (see uevent.Backoff).
	MaxRestartBackoff time.Duration
	// IdleRetry bounds the wait for a hotplug event while a scanner fails
	// to open; 0 means uevent.DefaultIdle (a minute), and a negative value
	// means no waiting for hotplug events: retries every
	// MaxRestartBackoff. (The serial driver waits for its port by itself,
	// with its own defaults.)
	IdleRetry time.Duration
	// Hotplug tells of hotplug events; nil means the kernel's uevents
	// (uevent.Default), or timed retries where those cannot be read.
	Hotplug uevent.Source
}

// Manager runs the configured scanners.
type Manager struct {
	opts    Options
	entries []*entry
	scans   chan device.Scan
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// entry is one scanner and the goroutine that keeps it open.
type entry struct {
	cfg device.Spec

	mu       sync.Mutex
	current  device.Scanner // nil while not open
	restarts uint64
	lastErr  error
	errAt    time.Time
}

// Open starts every scanner of cfgs (what the wiring made of the
// configuration's validated [[scanner]] entries, with their defaults). A
// scanner that cannot be opened does not stop the others: its Status tells
// why and it is tried again. Open fails only when a scanner names a driver
// no Opener handles.
func Open(cfgs []device.Spec, opts Options) (*Manager, error) {
	if opts.Drivers == nil {
		opts.Drivers = DefaultDrivers()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RestartBackoff <= 0 {
		opts.RestartBackoff = time.Second
	}
	if opts.MaxRestartBackoff <= 0 {
		opts.MaxRestartBackoff = 5 * time.Second
	}
	opts.MaxRestartBackoff = max(opts.MaxRestartBackoff, opts.RestartBackoff)
	if opts.Hotplug == nil && opts.IdleRetry >= 0 {
		opts.Hotplug = uevent.Default(opts.Logger)
	}
	m := &Manager{opts: opts, scans: make(chan device.Scan), done: make(chan struct{})}
	for i, c := range cfgs {
		if c.Name == "" {
			c.Name = fmt.Sprintf("scanner%d", i+1)
		}
		if _, ok := opts.Drivers[c.Driver]; !ok {
			return nil, fmt.Errorf("scanner %q: no driver %q", c.Name, c.Driver)
		}
		m.entries = append(m.entries, &entry{cfg: c})
	}
	for _, e := range m.entries {
		m.wg.Add(1)
		go m.keep(e)
	}
	return m, nil
}

// Scans delivers the scans of all scanners, each with its Source. It is
// closed after Close.
func (m *Manager) Scans() <-chan device.Scan { return m.scans }

// Statuses returns the state of every configured scanner, in the order of
// the configuration.
func (m *Manager) Statuses() []device.Status {
	out := make([]device.Status, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, e.status())
	}
	return out
}

// Close stops every scanner and waits for them; Scans is closed after.
func (m *Manager) Close() error {
	m.once.Do(func() {
		close(m.done)
		m.wg.Wait()
		close(m.scans)
	})
	return nil
}

// keep opens the scanner of e, forwards its scans, and opens it again when
// it stops, until Close. A scanner that fails to open is tried again after
// short waits, then at hotplug events (uevent.Backoff).
func (m *Manager) keep(e *entry) {
	defer m.wg.Done()
	log := m.opts.Logger.With("scanner", e.cfg.Name, "driver", e.cfg.Driver)
	b := uevent.Backoff{Min: m.opts.RestartBackoff, Max: m.opts.MaxRestartBackoff, Idle: m.opts.IdleRetry, Hotplug: m.opts.Hotplug}
	opened := false // once: later opens are reconnects
	lastFailure := ""
	woken := false // by a hotplug event since the last open
	saidIdle := false
	for first := true; ; first = false {
		if !first {
			switch b.Wait(m.done) {
			case uevent.Stopped:
				return
			case uevent.Hotplug:
				woken = true
				log.Debug("hotplug event: opening the scanner")
			}
		}
		b.Arm()
		sc, err := m.opts.Drivers[e.cfg.Driver](e.cfg, log)
		if err != nil {
			e.fail(err)
			if errors.Is(err, errors.ErrUnsupported) {
				log.Error("scanner cannot work in this build", "err", err)
				<-m.done
				return
			}
			// Warn once per kind of failure, not at every retry of a
			// scanner left unplugged.
			level := slog.LevelWarn
			if err.Error() == lastFailure {
				level = slog.LevelDebug
			}
			lastFailure = err.Error()
			if b.Idling() {
				level = max(level, slog.LevelInfo)
				if saidIdle {
					level = slog.LevelDebug
				}
				saidIdle = true
				log.Log(context.Background(), level, "scanner missing: waiting for a hotplug event", "err", err, "or_after", b.Upcoming())
				continue
			}
			log.Log(context.Background(), level, "scanner not opened", "err", err, "retry", b.Upcoming())
			continue
		}
		b.Reset()
		lastFailure, saidIdle = "", false
		if woken {
			log.Info("scanner found after a hotplug event")
			woken = false
		}
		e.set(sc, opened)
		opened = true
		if !m.forward(sc) {
			sc.Close()
			return
		}
		// The driver stopped by itself: close it for its error, start again.
		err = sc.Close()
		if err == nil {
			err = errors.New("the driver stopped")
		}
		e.fail(err)
		log.Warn("scanner stopped; opening it again", "err", err, "after", b.Upcoming())
	}
}

// forward passes the scans of sc on until sc stops (true) or Close (false).
func (m *Manager) forward(sc device.Scanner) bool {
	for {
		select {
		case s, ok := <-sc.Scans():
			if !ok {
				return true
			}
			select {
			case m.scans <- s:
			case <-m.done:
				return false
			}
		case <-m.done:
			return false
		}
	}
}

func (e *entry) set(sc device.Scanner, restart bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.current = sc
	if restart {
		e.restarts++
	}
}

func (e *entry) fail(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.current = nil
	e.lastErr, e.errAt = err, time.Now()
}

// status is the driver's status, or what the manager knows when the
// scanner is not open; restarts of the driver count as reconnects.
func (e *entry) status() device.Status {
	e.mu.Lock()
	cur, restarts, lastErr, errAt := e.current, e.restarts, e.lastErr, e.errAt
	e.mu.Unlock()
	if cur != nil {
		st := cur.Status()
		st.Name = e.cfg.Name
		st.Reconnects += restarts
		return st
	}
	st := device.Status{Name: e.cfg.Name, Driver: e.cfg.Driver, Match: e.cfg.Match.String(), Mode: mode(e.cfg), Reconnects: restarts}
	if lastErr != nil {
		st.LastError, st.LastErrorAt = lastErr.Error(), errAt
	}
	return st
}

func mode(c device.Spec) string {
	if c.Driver == device.DriverSerial {
		return fmt.Sprintf("%d baud, %s", c.Baud, c.Terminator)
	}
	if c.Mode == "hidpos" || c.Layout == "" {
		return c.Mode
	}
	return c.Mode + ", " + c.Layout
}
