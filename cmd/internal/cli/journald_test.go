package cli_test

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/cmd/internal/cli"
	"github.com/tillbox/tillbox/display/technician"
)

// TestJournaldHandler: each priority, attributes and groups of a derived
// logger, JSON too; the level set while running applies; the technician
// page's tail keeps the records without the prefix.
func TestJournaldHandler(t *testing.T) {
	for _, format := range []func(io.Writer, *slog.HandlerOptions) slog.Handler{
		func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) },
		func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) },
	} {
		var buf bytes.Buffer
		var level slog.LevelVar
		level.Set(slog.LevelInfo)
		tail := technician.NewLogTail(0, 0)
		log := slog.New(tail.Handler(cli.NewJournaldHandler(&buf, slog.HandlerOptions{Level: &level}, format))).With("component", "agent").WithGroup("g")
		log.Debug("hidden")
		log.Info("info", "k", 1)
		log.Warn("warning")
		log.Error("error")
		level.Set(slog.LevelDebug)
		log.Debug("debug")
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if len(lines) != 4 {
			t.Fatalf("%d lines:\n%s", len(lines), buf.String())
		}
		for i, p := range []string{"<6>", "<4>", "<3>", "<7>"} {
			l := lines[i]
			if !strings.HasPrefix(l, p) || strings.Contains(l, "time") || !strings.Contains(l, "component") {
				t.Errorf("line %d: %q, want %s, no time, the logger's attributes", i, l, p)
			}
		}
		if !strings.Contains(lines[0], "g.k=1") && !strings.Contains(lines[0], `"g":{"k":1}`) {
			t.Errorf("the group is lost: %q", lines[0])
		}
		for _, r := range tail.Records(0, slog.LevelDebug) {
			if strings.Contains(r.Message+r.Attrs, "<") {
				t.Errorf("the technician page's tail shows %+v", r)
			}
		}
		if n := len(tail.Records(0, slog.LevelDebug)); n != 4 {
			t.Errorf("the tail kept %d records, want 4", n)
		}
	}
}
