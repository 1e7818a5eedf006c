package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
)

// JournalStream reports whether w is the stream systemd connected to
// journald: $JOURNAL_STREAM holds the DEVICE:INODE of that stream, and
// w, a file, has the same. A process that logs to such a stream should log
// through [NewJournaldHandler].
func JournalStream(w io.Writer) bool {
	want := os.Getenv("JOURNAL_STREAM")
	f, ok := w.(*os.File)
	if want == "" || !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fmt.Sprintf("%d:%d", st.Dev, st.Ino) == want
}

// journaldHandler is the handler of NewJournaldHandler.
type journaldHandler struct {
	level slog.Leveler
	// by priority: error, warning, info, debug; each writes its prefix
	byPrio [4]slog.Handler
}

// NewJournaldHandler returns a handler that writes each record to w as
// format's handler would, with no time of its own (journald stamps each
// line) and after its syslog priority: <3> error, <4> warning, <6> info,
// <7> debug (sd-daemon(3)), so that `journalctl -p warning` selects by
// level. opts.Level (info when nil) decides which records are written, and
// may change while running (a [slog.LevelVar]); opts.ReplaceAttr applies.
// format makes the handler that writes a record to its writer with the
// options given, e.g. [slog.NewTextHandler].
func NewJournaldHandler(w io.Writer, opts slog.HandlerOptions, format func(io.Writer, *slog.HandlerOptions) slog.Handler) slog.Handler {
	level := opts.Level
	if level == nil {
		level = slog.LevelInfo
	}
	replace := opts.ReplaceAttr
	opts.Level = slog.LevelDebug - 8 // journaldHandler.Enabled decides
	opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		if replace != nil {
			return replace(groups, a)
		}
		return a
	}
	out := &lockedWriter{w: w}
	h := &journaldHandler{level: level}
	for i, p := range []string{"<3>", "<4>", "<6>", "<7>"} {
		h.byPrio[i] = format(prefixWriter{out, p}, &opts)
	}
	return h
}

func (h *journaldHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *journaldHandler) Handle(ctx context.Context, r slog.Record) error {
	i := 3
	switch {
	case r.Level >= slog.LevelError:
		i = 0
	case r.Level >= slog.LevelWarn:
		i = 1
	case r.Level >= slog.LevelInfo:
		i = 2
	}
	return h.byPrio[i].Handle(ctx, r)
}

func (h *journaldHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &journaldHandler{level: h.level}
	for i, p := range h.byPrio {
		n.byPrio[i] = p.WithAttrs(as)
	}
	return n
}

func (h *journaldHandler) WithGroup(name string) slog.Handler {
	n := &journaldHandler{level: h.level}
	for i, p := range h.byPrio {
		n.byPrio[i] = p.WithGroup(name)
	}
	return n
}

// prefixWriter writes each record (one Write from a slog handler) after
// its prefix, in one Write.
type prefixWriter struct {
	w      *lockedWriter
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	line := make([]byte, 0, len(p.prefix)+len(b))
	line = append(append(line, p.prefix...), b...)
	if _, err := p.w.Write(line); err != nil {
		return 0, err
	}
	return len(b), nil
}

// SyncWriter returns a writer that serialises the Writes of its users to
// w, e.g. of several processes' output copied to one stderr.
func SyncWriter(w io.Writer) io.Writer { return &lockedWriter{w: w} }

// lockedWriter serialises the writes of the four handlers of one stream.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
