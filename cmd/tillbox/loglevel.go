package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// watchLogLevel changes the log level while tillbox runs, until ctx ends:
// SIGUSR1 turns debug on, SIGUSR2 goes back to the configured level
// (`systemctl kill -s SIGUSR1 tillbox`). The change itself is logged at
// warning level, so that it shows whatever the level.
func (m *Main) watchLogLevel(ctx context.Context, configured slog.Level) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-ch:
				lv := configured
				if s == syscall.SIGUSR1 {
					lv = slog.LevelDebug
				}
				m.level.Set(lv)
				m.log.Warn("log level changed", "level", lv.String(), "signal", s.String())
			}
		}
	}()
}
