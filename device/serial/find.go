package serial

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tillbox/tillbox/device"
)

// port is a serial port found to open, with what is known of it.
type port struct {
	path         string
	vid, pid     uint16
	serial       string
	product      string
	manufacturer string
	others       int // further ports with the same identity, left alone
}

// find picks the port m names from the listed ports: by path, or by USB
// identity (the first by path when several match and no serial number
// tells them apart).
func find(m device.Match, list []device.SerialPort) (port, error) {
	if m.Path != "" {
		p := port{path: m.Path}
		real, err := filepath.EvalSymlinks(m.Path)
		if err != nil {
			return p, nil // open says what is wrong
		}
		for _, d := range list {
			if d.Path == real || d.Path == m.Path {
				p = fromList(d)
				p.path = m.Path
				break
			}
		}
		return p, nil
	}
	var found []device.SerialPort
	for _, d := range list {
		if d.USB && d.VID == m.VID && d.PID == m.PID && (m.Serial == "" || d.SerialNumber == m.Serial) {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return port{}, fmt.Errorf("no serial port with USB identity %s: is the scanner plugged in? (tillbox devices lists the ports)", m)
	}
	slices.SortFunc(found, func(a, b device.SerialPort) int { return strings.Compare(a.Path, b.Path) })
	p := fromList(found[0])
	p.others = len(found) - 1
	return p, nil
}

func fromList(d device.SerialPort) port {
	return port{path: d.Path, vid: d.VID, pid: d.PID, serial: d.SerialNumber, product: d.Product, manufacturer: d.Manufacturer}
}
