// Package serial reads scans from a serial scanner (USB CDC-ACM, USB-serial
// or RS-232) with go.bug.st/serial: it finds the port by path or USB
// identity, cuts the byte stream into scans (device/frame), and reopens the
// port when it is lost (unplug, read error) without a restart: after short
// waits, then at hotplug events (device/uevent).
package serial

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bugst "go.bug.st/serial"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/frame"
	"github.com/tillbox/tillbox/device/uevent"
)

// Scanner is an open serial scanner: a device.Scanner.
type Scanner struct {
	cfg    Config
	split  *frame.Splitter
	scans  chan device.Scan
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when run returns
	err    error         // run's result, read after exited

	mu      sync.Mutex
	closing bool
	port    bugst.Port // the open port, for Close to interrupt a Read
	status  device.Status
}

var _ device.Scanner = (*Scanner)(nil)

// Open starts reading the scanner c describes. It fails only on a bad
// configuration: a scanner that is not there yet is waited for (Status
// says so), and one that goes away is waited for again.
func Open(c Config) (*Scanner, error) {
	if err := c.setDefaults(); err != nil {
		return nil, err
	}
	split, err := frame.New(frame.Config{Terminator: c.Terminator, Affixes: c.Affixes})
	if err != nil {
		return nil, fmt.Errorf("serial: scanner %q: %w", c.Name, err)
	}
	s := &Scanner{
		cfg:    c,
		split:  split,
		scans:  make(chan device.Scan, 16),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		status: device.Status{Name: c.Name, Driver: "serial", Match: c.Match.String(), Mode: c.mode()},
	}
	go func() {
		defer close(s.exited)
		defer close(s.scans)
		s.err = s.run()
	}()
	return s, nil
}

// Scans implements device.Scanner.
func (s *Scanner) Scans() <-chan device.Scan { return s.scans }

// Status implements device.Scanner.
func (s *Scanner) Status() device.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Close implements device.Scanner: it stops the reading goroutine, closes
// the port and waits.
func (s *Scanner) Close() error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
		if s.port != nil {
			s.port.Close() // interrupts a Read in progress
		}
	}
	s.mu.Unlock()
	<-s.exited
	return s.err
}

// run opens the port, reads it until it is lost, and again, until Close.
// While the port is missing it is looked for again after short waits, then
// at hotplug events (uevent.Backoff).
func (s *Scanner) run() error {
	log := s.cfg.Logger.With("scanner", s.cfg.Name)
	b := uevent.Backoff{Min: s.cfg.MinBackoff, Max: s.cfg.MaxBackoff, Idle: s.cfg.IdleRetry, Hotplug: s.cfg.Hotplug, Jitter: true}
	everOpen := false
	woken := false // by a hotplug event since the port was lost
	idleLevel := slog.LevelInfo
	for {
		b.Arm()
		p, err := s.open()
		if errors.Is(err, errStopped) {
			return nil
		}
		if err != nil {
			s.setError(err)
			if b.Idling() {
				// Said once at Info per loss: later rounds (after an
				// event of some other device) at Debug.
				log.Log(context.Background(), idleLevel, "scanner missing: waiting for a hotplug event", "err", err, "or_after", b.Upcoming())
				idleLevel = slog.LevelDebug
			} else {
				log.Debug("scanner not opened", "err", err, "retry", b.Upcoming())
			}
			switch b.Wait(s.done) {
			case uevent.Stopped:
				return nil
			case uevent.Hotplug:
				woken = true
				log.Debug("hotplug event: looking for the scanner")
			}
			continue
		}
		b.Reset()
		s.connected(p.info, everOpen)
		log.Info("scanner connected", "path", p.info.path, "vidpid", s.Status().VIDPID)
		if woken {
			log.Info("scanner found after a hotplug event", "path", p.info.path)
		}
		woken, idleLevel = false, slog.LevelInfo
		if p.info.others > 0 {
			log.Warn("several ports match the scanner's USB identity: reading the first; add the serial number to match", "match", s.cfg.Match.String(), "others", p.info.others)
		}
		everOpen = true
		err = s.read(p.port)
		p.port.Close()
		s.mu.Lock()
		s.port = nil
		stopping := s.closing
		s.mu.Unlock()
		if stopping {
			s.disconnected(nil)
			return nil
		}
		s.disconnected(err)
		log.Warn("scanner lost", "path", p.info.path, "err", err)
		s.split.Reset()
	}
}

var errStopped = errors.New("serial: scanner closed")

type opened struct {
	port bugst.Port
	info port
}

// open finds and opens the port, and registers it for Close.
func (s *Scanner) open() (opened, error) {
	list, listErr := s.cfg.List()
	if listErr != nil && s.cfg.Match.Path == "" {
		return opened{}, fmt.Errorf("listing serial ports: %w", listErr)
	}
	info, err := find(s.cfg.Match, list)
	if err != nil {
		return opened{}, err
	}
	p, err := bugst.Open(info.path, &bugst.Mode{BaudRate: s.cfg.Baud, DataBits: 8, Parity: bugst.NoParity, StopBits: bugst.OneStopBit})
	if err != nil {
		var pe *bugst.PortError
		if errors.As(err, &pe) && pe.Code() == bugst.PermissionDenied {
			return opened{}, fmt.Errorf("opening %s: %w: this user may not read and write it (on an installed box the udev rules of scripts/install.sh grant the configured scanners: run it again after changing them)", info.path, err)
		}
		return opened{}, fmt.Errorf("opening %s: %w", info.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		p.Close()
		return opened{}, errStopped
	}
	s.port = p
	return opened{p, info}, nil
}

// read reads scans from p until an error.
func (s *Scanner) read(p bugst.Port) error {
	buf := make([]byte, 1024)
	for {
		timeout := bugst.NoTimeout
		if d, ok := s.split.Deadline(); ok {
			timeout = max(time.Until(d), 0)
		}
		if err := p.SetReadTimeout(timeout); err != nil {
			return err
		}
		n, err := p.Read(buf)
		now := time.Now()
		if n > 0 {
			for _, f := range s.split.Feed(buf[:n], now) {
				if !s.deliver(f) {
					return nil
				}
			}
		} else if err == nil {
			if f, ok := s.split.Tick(now); ok && !s.deliver(f) {
				return nil
			}
		}
		s.noteDropped()
		if err != nil {
			return err
		}
	}
}

// deliver hands a frame to the consumer; false when closed meanwhile.
func (s *Scanner) deliver(f frame.Frame) bool {
	s.mu.Lock()
	s.status.Scans++
	s.status.LastScanAt = f.At
	s.status.LastScan = device.Shorten(f.Data)
	s.mu.Unlock()
	select {
	case s.scans <- device.Scan{Data: f.Data, Source: s.cfg.Name, At: f.At}:
		return true
	case <-s.done:
		return false
	}
}

// noteDropped copies the splitter's count of dropped frames into the
// status, with an error when it grew.
func (s *Scanner) noteDropped() {
	n := s.split.Dropped()
	s.mu.Lock()
	grew := n > s.status.Dropped
	s.status.Dropped = n
	s.mu.Unlock()
	if grew {
		err := fmt.Errorf("dropped input longer than %d bytes without a terminator (is the terminator %s right?)", device.MaxScan, s.cfg.mode())
		s.setError(err)
		s.cfg.Logger.Warn("scanner input dropped", "scanner", s.cfg.Name, "err", err, "dropped", n)
	}
}

func (s *Scanner) setError(err error) {
	s.mu.Lock()
	s.status.LastError = err.Error()
	s.status.LastErrorAt = time.Now()
	s.mu.Unlock()
}

func (s *Scanner) connected(p port, reconnect bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.status
	st.Connected = true
	st.Path = p.path
	st.Since = time.Now()
	st.Product, st.Manufacturer, st.SerialNumber = p.product, p.manufacturer, p.serial
	st.VIDPID = ""
	if p.vid != 0 {
		st.VIDPID = device.VIDPID(p.vid, p.pid)
	}
	if reconnect {
		st.Reconnects++
	}
}

func (s *Scanner) disconnected(err error) {
	s.mu.Lock()
	s.status.Connected = false
	s.status.Since = time.Now()
	if err != nil {
		s.status.LastError = "lost: " + err.Error()
		s.status.LastErrorAt = s.status.Since
	}
	s.mu.Unlock()
}
