//go:build !linux

package uevent

import (
	"errors"
	"fmt"
)

// Listen fails: uevents are Linux's.
func Listen() (*Listener, error) {
	return listen(Event.Plugged)
}

func listen(func(Event) bool) (*Listener, error) {
	return nil, fmt.Errorf("uevent: no kernel uevents on this system: %w", errors.ErrUnsupported)
}
