package hil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// guestStream is a command of hilguest whose answer is still coming.
type guestStream struct {
	conn net.Conn
	sc   *bufio.Scanner
}

// guestOpen sends a command to hilguest and reads the first line of its
// answer, which must be "ok".
func (m *machine) guestOpen(ctx context.Context, command string) (*guestStream, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.guestAddr)
	if err != nil {
		return nil, fmt.Errorf("hilguest %q: %w", command, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := fmt.Fprintf(conn, "%s\n", command); err != nil {
		conn.Close()
		return nil, fmt.Errorf("hilguest %q: %w", command, err)
	}
	sc := bufio.NewScanner(conn)
	if !sc.Scan() {
		conn.Close()
		return nil, fmt.Errorf("hilguest %q: no answer (%v)", command, sc.Err())
	}
	if first := sc.Text(); first != "ok" {
		conn.Close()
		return nil, fmt.Errorf("hilguest %q: %s", command, first)
	}
	return &guestStream{conn: conn, sc: sc}, nil
}

// next returns the next line of the answer; io.EOF-like errors end it.
func (s *guestStream) next(ctx context.Context) (string, error) {
	stop := context.AfterFunc(ctx, func() { s.conn.SetDeadline(time.Now()) })
	defer stop()
	if !s.sc.Scan() {
		if err := s.sc.Err(); err != nil {
			return "", err
		}
		return "", errors.New("end of answer")
	}
	return s.sc.Text(), nil
}

func (s *guestStream) close() { s.conn.Close() }

// guest sends a command to hilguest and returns the lines after "ok".
func (m *machine) guest(ctx context.Context, command string) ([]string, error) {
	s, err := m.guestOpen(ctx, command)
	if err != nil {
		return nil, err
	}
	defer s.close()
	var lines []string
	for {
		l, err := s.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return lines, ctx.Err()
			}
			return lines, nil
		}
		if msg, ok := strings.CutPrefix(l, "error: "); ok {
			return lines, fmt.Errorf("hilguest %q: %s", command, msg)
		}
		lines = append(lines, l)
	}
}

// waitGuest waits until hilguest answers (QEMU accepts the forwarded port
// before the guest listens on it).
func (m *machine) waitGuest(ctx context.Context) error {
	for {
		_, err := m.guest(ctx, "usb")
		if err == nil {
			return nil
		}
		if err := m.alive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hilguest never answered: %w (last: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
