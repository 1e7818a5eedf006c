package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/device"
)

// The demo's terminal is one more scanner of the box: a line typed or
// pasted on it that is not one of the demo's commands (sale, help) is a
// scan of the scanner "terminal", which the Main opens through its
// scanners.Manager like a serial or HID one (openScanners, scanners.go).
// So it is listed on the technician page, in GET /api/v1/status and in
// /metrics, and its scans are taken by readScans as every scanner's are.

// driverTerminal is the driver of the demo's terminal.
const driverTerminal = "terminal"

// terminalSpec is the demo's terminal among the box's scanners.
var terminalSpec = device.Spec{Name: "terminal", Driver: driverTerminal, Match: device.Match{Path: "stdin"}}

// terminal reads the demo's terminal: one goroutine reads its lines, for
// one Main after another (a restart), until shutdown. A command goes to
// the demo's script (commands), any other line to the scanner the Main
// opened on the terminal (open).
type terminal struct {
	in    io.Reader
	once  sync.Once
	cmds  chan command
	codes chan string
	eof   chan struct{} // closed at the end of the input
	stop  chan struct{}
	done  chan struct{} // closed when the reader ends (at shutdown if it never started)

	mu      sync.Mutex
	inRead  bool // the reader waits for the terminal's next line
	stopped bool
}

// command is a line of the demo's commands; the next line is read once it
// is done, so that "sale 4990" and a code pasted with it come in order.
type command struct {
	line string
	done chan struct{}
}

func newTerminal(in io.Reader) *terminal {
	return &terminal{in: in, cmds: make(chan command), codes: make(chan string), eof: make(chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// start starts the reader, once.
func (t *terminal) start() {
	t.once.Do(func() { go t.read() })
}

func (t *terminal) read() {
	defer close(t.done)
	defer close(t.eof)
	sc := bufio.NewScanner(t.in)
	for t.reading() && t.scan(sc) {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case line == "help" || line == "?" || line == "sale" || strings.HasPrefix(line, "sale "):
			c := command{line: line, done: make(chan struct{})}
			select {
			case t.cmds <- c:
			case <-t.stop:
				return
			}
			select {
			case <-c.done:
			case <-t.stop:
				return
			}
		default:
			select {
			case t.codes <- line:
			case <-t.stop:
				return
			}
		}
	}
}

// reading marks the reader as waiting for a line; false after shutdown.
func (t *terminal) reading() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inRead = !t.stopped
	return t.inRead
}

// scan reads the next line.
func (t *terminal) scan(sc *bufio.Scanner) bool {
	ok := sc.Scan()
	t.mu.Lock()
	t.inRead = false
	t.mu.Unlock()
	return ok
}

// paste hands code to the terminal's scanner as if it had been typed
// there, once a Main has it open; the error is ctx's when it ends first.
func (t *terminal) paste(ctx context.Context, code string) error {
	select {
	case t.codes <- code:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown stops the reader and waits for it, unless it waits for the
// terminal's next line: a read of the terminal cannot be interrupted, and
// the demo does not wait for a key to stop. The reader then ends at that
// line (handing it to no one) or at the end of the input, or with the
// process.
func (t *terminal) shutdown() {
	t.mu.Lock()
	t.stopped = true
	close(t.stop)
	inRead := t.inRead
	t.mu.Unlock()
	t.once.Do(func() { close(t.done) }) // never started
	if !inRead {
		<-t.done
	}
}

// commands carries out the terminal's commands on a until ctx ends:
// "sale AMOUNT" rings up a sale as the POS would, "help" lists what the
// terminal takes.
func (t *terminal) commands(ctx context.Context, a *agent.Agent, out io.Writer, simURL string) {
	t.start()
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-t.cmds:
			runCommand(ctx, a, c.line, out, simURL)
			close(c.done)
		}
	}
}

// runCommand carries out one command.
func runCommand(ctx context.Context, a *agent.Agent, line string, out io.Writer, simURL string) {
	if line == "help" || line == "?" {
		fmt.Fprint(out, demoHelp(simURL))
		return
	}
	amount, err := strconv.ParseInt(strings.TrimSpace(line[len("sale"):]), 10, 64)
	if err != nil {
		fmt.Fprintln(out, "  usage: sale AMOUNT-IN-ØRE, e.g. sale 4990")
		return
	}
	s, err := a.CreateSale(ctx, agent.SaleRequest{Amount: amount, Currency: "NOK"})
	if err != nil {
		fmt.Fprintln(out, "  sale refused:", err)
		return
	}
	fmt.Fprintf(out, "  pos          sale %s of %s NOK: %s\n", s.Reference, kroner(s.Amount), s.State)
}

// open is the terminal's scanners.Opener: a scanner delivering the codes
// of the terminal until Close.
func (t *terminal) open(spec device.Spec, log *slog.Logger) (device.Scanner, error) {
	t.start()
	s := &terminalScanner{t: t, log: log, name: spec.Name, scans: make(chan device.Scan), stop: make(chan struct{}), done: make(chan struct{}),
		st: device.Status{Name: spec.Name, Driver: spec.Driver, Match: spec.Match.String(), Mode: "a code per line",
			Connected: true, Path: spec.Match.Path, Since: time.Now()}}
	go s.run()
	return s, nil
}

// terminalScanner is the terminal as a device.Scanner.
type terminalScanner struct {
	t     *terminal
	log   *slog.Logger
	name  string
	scans chan device.Scan
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	mu sync.Mutex
	st device.Status
}

func (s *terminalScanner) run() {
	defer close(s.done)
	defer close(s.scans)
	eof := s.t.eof
	for {
		select {
		case <-s.stop:
			return
		case <-eof:
			// Nothing more is typed; the demo may still paste its code.
			eof = nil
			now := time.Now()
			s.mu.Lock()
			s.st.Connected, s.st.Since, s.st.LastError, s.st.LastErrorAt = false, now, "the terminal's input ended", now
			s.mu.Unlock()
		case code := <-s.t.codes:
			if !s.deliver(code) {
				return
			}
		}
	}
}

// deliver passes code on as a scan, as a driver does: a code over
// device.MaxScan bytes is dropped and counted. False when closed first.
func (s *terminalScanner) deliver(code string) bool {
	now := time.Now()
	s.mu.Lock()
	if len(code) > device.MaxScan {
		s.st.Dropped++
		s.st.LastError, s.st.LastErrorAt = fmt.Sprintf("a line of %d bytes, over %d: dropped", len(code), device.MaxScan), now
		s.mu.Unlock()
		s.log.Warn("line too long for a scan: dropped", "bytes", len(code), "max", device.MaxScan)
		return true
	}
	s.st.Scans++
	s.st.LastScanAt, s.st.LastScan = now, device.Shorten([]byte(code))
	s.mu.Unlock()
	select {
	case s.scans <- device.Scan{Data: []byte(code), Source: s.name, At: now}:
		return true
	case <-s.stop:
		return false
	}
}

// Scans delivers the terminal's codes; it is closed after Close.
func (s *terminalScanner) Scans() <-chan device.Scan { return s.scans }

// Status is the scanner's state.
func (s *terminalScanner) Status() device.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Close stops the scanner (the terminal goes on being read, for the next
// Main) and waits for it.
func (s *terminalScanner) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return nil
}
