//go:build darwin && !cgo

package device

import (
	"errors"
	"fmt"
)

// ListSerial cannot list serial ports on macOS without cgo.
func ListSerial() ([]SerialPort, error) {
	return nil, fmt.Errorf("listing serial ports on macOS needs a build with cgo: %w", errors.ErrUnsupported)
}
