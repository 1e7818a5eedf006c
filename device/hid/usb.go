package hid

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/karalabe/usb"

	"github.com/tillbox/tillbox/device"
)

// ErrNotBuilt is the error of every HID operation in a build without cgo:
// github.com/karalabe/usb is then a stub that finds no device at all, which
// must never read as "no scanner plugged in". It wraps errors.ErrUnsupported.
var ErrNotBuilt = fmt.Errorf("this tillbox was built without cgo: USB HID scanners cannot be read; use a build with cgo (make build)%w", quiet{errors.ErrUnsupported})

// quiet wraps an error without adding its text, so that ErrNotBuilt reads
// as one sentence and still matches errors.ErrUnsupported.
type quiet struct{ err error }

func (quiet) Error() string   { return "" }
func (q quiet) Unwrap() error { return q.err }

// Supported tells whether this build can read USB HID devices (it was built
// with cgo, on a platform the bundled libusb supports).
func Supported() bool { return usb.Supported() }

// Enumerate lists the HID interfaces of the USB devices with identity
// vid:pid (0 matches any), sorted by identity, serial number, interface
// and path; on Linux with the strings and usage pages sysfs tells (see
// describe). Without cgo it returns ErrNotBuilt.
func Enumerate(vid, pid uint16) ([]device.HIDDevice, error) {
	if !usb.Supported() {
		return nil, ErrNotBuilt
	}
	infos, err := usb.EnumerateHid(vid, pid)
	if err != nil {
		return nil, fmt.Errorf("listing USB HID devices: %w", err)
	}
	out := make([]device.HIDDevice, 0, len(infos))
	for _, i := range infos {
		out = append(out, device.HIDDevice{
			VID: i.VendorID, PID: i.ProductID, SerialNumber: i.Serial,
			Manufacturer: strings.TrimSpace(i.Manufacturer), Product: strings.TrimSpace(i.Product),
			UsagePage: i.UsagePage, Usage: i.Usage, Interface: i.Interface, Path: i.Path,
		})
	}
	describe(sysfsRoot, out)
	SortDevices(out)
	return out, nil
}

// SortDevices sorts a listing by identity, serial number, interface and path.
func SortDevices(list []device.HIDDevice) {
	slices.SortFunc(list, func(a, b device.HIDDevice) int {
		switch {
		case a.VID != b.VID:
			return int(a.VID) - int(b.VID)
		case a.PID != b.PID:
			return int(a.PID) - int(b.PID)
		case a.SerialNumber != b.SerialNumber:
			return strings.Compare(a.SerialNumber, b.SerialNumber)
		case a.Interface != b.Interface:
			return a.Interface - b.Interface
		}
		return strings.Compare(a.Path, b.Path)
	})
}

// OpenDevice opens an interface Enumerate listed. Opening detaches the
// kernel's driver from it (the scanner's keystrokes then stop reaching the
// till's screen); closing gives it back.
func OpenDevice(d device.HIDDevice) (Device, error) {
	if !usb.Supported() {
		return nil, ErrNotBuilt
	}
	dev, err := usb.DeviceInfo{Path: d.Path, VendorID: d.VID, ProductID: d.PID, Interface: d.Interface}.Open()
	if err != nil {
		return nil, fmt.Errorf("opening USB HID %s (%s): %w (may this user read and write %s? On an installed box the udev rules of scripts/install.sh grant the configured scanners: run it again after changing them)", device.VIDPID(d.VID, d.PID), d.Path, err, d.Node())
	}
	return dev, nil
}
