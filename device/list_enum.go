//go:build !darwin || cgo

package device

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.bug.st/serial/enumerator"
)

// ListSerial lists the serial ports of this machine with their USB identity,
// USB ports first, by path. Pseudo-terminals are never listed.
func ListSerial() ([]SerialPort, error) {
	list, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, fmt.Errorf("listing serial ports: %w", err)
	}
	return serialPorts(list), nil
}

func serialPorts(list []*enumerator.PortDetails) []SerialPort {
	out := make([]SerialPort, 0, len(list))
	for _, d := range list {
		p := SerialPort{Path: d.Name}
		vid, err1 := strconv.ParseUint(d.VID, 16, 16)
		pid, err2 := strconv.ParseUint(d.PID, 16, 16)
		if d.IsUSB && err1 == nil && err2 == nil {
			p.USB, p.VID, p.PID = true, uint16(vid), uint16(pid)
			p.SerialNumber, p.Product, p.Manufacturer = d.SerialNumber, d.Product, d.Manufacturer
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b SerialPort) int {
		if a.USB != b.USB {
			if a.USB {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Path, b.Path)
	})
	return out
}
