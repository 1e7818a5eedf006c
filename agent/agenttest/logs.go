package agenttest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// Logs captures a log for a test: a buffer safe for concurrent use, and a
// text logger at debug level writing to it.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// NewLogs returns an empty capture.
func NewLogs() *Logs { return &Logs{} }

// Write appends p; it never fails.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Bytes is a copy of everything written so far.
func (l *Logs) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// Contains reports whether s was written.
func (l *Logs) Contains(s string) bool { return strings.Contains(l.String(), s) }

// Lines are the lines written so far that hold every one of words (all
// lines when there are none), without their newlines.
func (l *Logs) Lines(words ...string) []string {
	var out []string
	for line := range strings.Lines(l.String()) {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			out = append(out, strings.TrimSuffix(line, "\n"))
		}
	}
	return out
}

// Handler is a text handler at debug level writing to l.
func (l *Logs) Handler() slog.Handler {
	return slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})
}

// Logger is a logger over [Logs.Handler].
func (l *Logs) Logger() *slog.Logger { return slog.New(l.Handler()) }
