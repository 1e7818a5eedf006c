package hid

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/frame"
	"github.com/tillbox/tillbox/device/hidkbd"
)

// Modes of a HID scanner (device.Spec.Mode).
const (
	ModeAuto     = "auto"     // HID POS when the interface's usage page is 0x8C, else keyboard
	ModeKeyboard = "keyboard" // boot keyboard reports, decoded through Layout
	ModePOS      = "hidpos"   // HID POS scanned data reports (usage page 0x8C)
)

// Config is one USB HID scanner.
type Config struct {
	// Name labels the scanner in its scans, logs and status.
	Name string
	// Match finds the device: a USB identity VID:PID[:SERIAL] (stable
	// across replug), or the device's usbfs node /dev/bus/usb/BBB/DDD or a
	// symlink to it (a udev rule's SYMLINK), followed at each open.
	Match device.Match
	// Mode is ModeAuto (the default), ModeKeyboard or ModePOS.
	Mode string
	// Layout is the keyboard layout a keyboard-mode scanner emulates;
	// nil means US.
	Layout *hidkbd.Layout
	// Affixes are stripped from each scan where present.
	Affixes frame.Affixes
	// Logger receives connects, losses and dropped input; nil discards.
	// Scans are never logged whole.
	Logger *slog.Logger

	// Enumerate lists the HID interfaces with the given USB identity (0, 0:
	// all of them); nil means the bundled libusb (Enumerate). Tests set it.
	Enumerate func(vid, pid uint16) ([]device.HIDDevice, error)
	// OpenDevice opens an interface Enumerate listed; nil means the bundled
	// libusb (OpenDevice). Tests set it.
	OpenDevice func(device.HIDDevice) (Device, error)
}

// FromSpec makes a Config of a scanner with driver "hid".
func FromSpec(s device.Spec) (Config, error) {
	if s.Driver != device.DriverHID {
		return Config{}, fmt.Errorf("scanner %q: driver %q is not hid", s.Name, s.Driver)
	}
	c := Config{Name: s.Name, Match: s.Match, Mode: s.Mode, Affixes: frame.Affixes{Prefix: s.Prefix, Suffix: s.Suffix}}
	if s.Layout != "" {
		var err error
		if c.Layout, err = hidkbd.LayoutByName(s.Layout); err != nil {
			return Config{}, fmt.Errorf("scanner %q: %w", s.Name, err)
		}
	}
	return c, nil
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		return errors.New("hid: the scanner has no name")
	}
	if c.Match.Path == "" && c.Match.VID == 0 {
		return fmt.Errorf("hid: scanner %q: no device path or USB identity to find it by", c.Name)
	}
	switch c.Mode {
	case "":
		c.Mode = ModeAuto
	case ModeAuto, ModeKeyboard, ModePOS:
	default:
		return fmt.Errorf("hid: scanner %q: mode %q is not %s, %s or %s", c.Name, c.Mode, ModeAuto, ModeKeyboard, ModePOS)
	}
	if c.Layout == nil {
		c.Layout, _ = hidkbd.LayoutByName("us")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Enumerate == nil || c.OpenDevice == nil {
		if !Supported() {
			return ErrNotBuilt
		}
		if c.Enumerate == nil {
			c.Enumerate = Enumerate
		}
		if c.OpenDevice == nil {
			c.OpenDevice = OpenDevice
		}
	}
	return nil
}
