package uevent

import (
	"log/slog"
	"sync"
)

// shared is the process's one listener, opened at first use and never
// closed: the socket and its reading goroutine live as long as the
// process, whatever number of scanners wait on it.
var shared struct {
	once sync.Once
	l    *Listener
	err  error
}

// Shared returns the process's listener, opened at the first call; every
// call returns the same listener, or the same error.
func Shared() (*Listener, error) {
	shared.once.Do(func() { shared.l, shared.err = Listen() })
	return shared.l, shared.err
}

var unavailable sync.Once

// Default is the Source of the retry loops: the shared listener, or nil
// when it cannot be opened. In that case log hears once in the process
// that missing scanners are looked for on a timer instead.
func Default(log *slog.Logger) Source {
	l, err := Shared()
	if err != nil {
		unavailable.Do(func() {
			log.Warn("no hotplug events: missing scanners are looked for again every few seconds", "err", err)
		})
		return nil
	}
	return l
}
