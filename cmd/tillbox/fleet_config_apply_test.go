package main

import (
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/tillbox/tillbox/agent/config"
)

// TestFleetConfigLiveFails: a field that can change live but whose setter
// fails waits for a restart, and the heartbeat's restart list says so,
// until a later layer sets it live.
func TestFleetConfigLiveFails(t *testing.T) {
	started := config.Default()
	fail := true
	var set []string
	f := &fleetConfig{started: started, running: started, log: slog.New(slog.DiscardHandler),
		live: map[string]func(c *config.Config) error{
			"display.language": func(c *config.Config) error {
				if fail {
					return errors.New("the display is gone")
				}
				set = append(set, c.Display.Language)
				return nil
			},
		}}
	fi := *started
	fi.Display.Language = "fi"
	if fi.Display.Language == started.Display.Language {
		t.Fatal("the test needs another language than the default")
	}
	f.apply("till", 1, &fi)
	if !slices.Contains(f.restart, "display.language") {
		t.Fatalf("restart %q: want display.language, its live change failed", f.restart)
	}
	// Another layer leaving the language as it is: still waiting.
	f.apply("till", 2, &fi)
	if !slices.Contains(f.restart, "display.language") {
		t.Fatalf("restart %q after a layer not changing it: want display.language still", f.restart)
	}
	fail = false
	da := fi
	da.Display.Language = "da"
	f.apply("till", 3, &da)
	if slices.Contains(f.restart, "display.language") || !slices.Equal(set, []string{"da"}) {
		t.Fatalf("restart %q, set live %q: want the language set live and no restart", f.restart, set)
	}
}
