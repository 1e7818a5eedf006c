package technician

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogTail keeps the latest records of the process's log for the technician
// page: at most a number of records and of bytes, the oldest dropped first.
// Its Handler tees records into it besides the normal output. It keeps what
// the log writes — records are formatted as the text log formats them, so a
// Secret prints "[redacted]" here as there.
type LogTail struct {
	maxRecords int
	maxBytes   int

	mu      sync.Mutex
	seq     uint64
	list    []LogRecord // oldest first
	bytes   int
	pending LogRecord // the record being formatted (under mu)
}

// LogRecord is one record of the tail.
type LogRecord struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Level   string    `json:"level"` // DEBUG, INFO, WARN or ERROR
	Message string    `json:"msg"`
	Attrs   string    `json:"attrs"` // key=value ..., as the text log writes them
}

// maxLine bounds one record's message and attributes.
const maxLine = 4 << 10

// NewLogTail keeps the last maxRecords records (default 500) within
// maxBytes (default 256 KiB).
func NewLogTail(maxRecords, maxBytes int) *LogTail {
	return &LogTail{maxRecords: cmp(maxRecords, 500), maxBytes: cmp(maxBytes, 256<<10)}
}

// Handler returns a handler that passes each record to next and, when next
// takes it, keeps it in the tail.
func (t *LogTail) Handler(next slog.Handler) slog.Handler {
	text := slog.NewTextHandler(tailWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug - 4,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return a
		}})
	return &teeHandler{next: next, text: text, tail: t}
}

// Records returns the kept records after seq at level min or above, oldest
// first.
func (t *LogTail) Records(after uint64, min slog.Level) []LogRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []LogRecord
	for _, r := range t.list {
		if r.Seq > after && levelOf(r.Level) >= min {
			out = append(out, r)
		}
	}
	return out
}

func levelOf(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}

type teeHandler struct {
	next slog.Handler
	text slog.Handler // formats the attributes into the tail
	tail *LogTail
}

func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.next.Handle(ctx, r)
	t := h.tail
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = LogRecord{Time: r.Time, Level: r.Level.String(), Message: clip(r.Message)}
	_ = h.text.Handle(ctx, r) // calls tailWriter.Write once, with t.mu held
	return err
}

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &teeHandler{next: h.next.WithAttrs(as), text: h.text.WithAttrs(as), tail: h.tail}
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	return &teeHandler{next: h.next.WithGroup(name), text: h.text.WithGroup(name), tail: h.tail}
}

// tailWriter receives one formatted record per Write, from teeHandler.Handle
// (which holds the tail's lock).
type tailWriter struct{ t *LogTail }

func (w tailWriter) Write(p []byte) (int, error) {
	t := w.t
	r := t.pending
	r.Attrs = clip(strings.TrimSuffix(string(p), "\n"))
	t.seq++
	r.Seq = t.seq
	t.list = append(t.list, r)
	t.bytes += size(r)
	drop := 0
	for len(t.list)-drop > t.maxRecords || t.bytes > t.maxBytes && len(t.list)-drop > 1 {
		t.bytes -= size(t.list[drop])
		drop++
	}
	// Appending past the slice's capacity copies only the live records:
	// the array stays bounded.
	t.list = t.list[drop:]
	return len(p), nil
}

func size(r LogRecord) int { return len(r.Message) + len(r.Attrs) + 64 }

func clip(s string) string {
	if len(s) <= maxLine {
		return s
	}
	return strings.ToValidUTF8(s[:maxLine], "") + "…"
}

// last is the newest record's sequence number (0: none yet).
func (t *LogTail) last() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seq
}
