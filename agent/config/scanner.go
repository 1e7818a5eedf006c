package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/hidkbd"
)

// Scanner is one [[scanner]] entry: a QR scanner the box reads.
type Scanner struct {
	// Name labels the scanner in logs and on the technician page; default
	// "scanner<N>" for the Nth entry.
	Name string `toml:"name"`
	// Driver is "serial" (USB CDC-ACM, USB-serial, RS-232) or "hid" (USB HID).
	Driver string `toml:"driver"`
	// Match finds the scanner: "VID:PID" or "VID:PID:SERIAL" (hex USB ids,
	// stable across unplug and replug), or a device path ("/dev/ttyACM0",
	// "/dev/serial/by-id/...").
	Match string `toml:"match"`

	// Serial only: the baud rate and what ends a scan: "CR", "LF", "CRLF" or
	// "idle:DURATION" (a gap in the bytes, e.g. "idle:50ms").
	Baud       int    `toml:"baud,omitempty"`
	Terminator string `toml:"terminator,omitempty"`

	// HID only: the mode ("auto", "keyboard" or "hidpos" for usage page
	// 0x8C) and, for keyboard mode, the keyboard layout the scanner
	// emulates: "us", "no", "da", "sv-fi" or "de".
	Mode   string `toml:"mode,omitempty"`
	Layout string `toml:"layout,omitempty"`

	// Prefix and Suffix are stripped from each scan when present.
	Prefix string `toml:"prefix,omitempty"`
	Suffix string `toml:"suffix,omitempty"`
}

// Scanner drivers.
const (
	DriverSerial = device.DriverSerial
	DriverHID    = device.DriverHID
)

// Defaults of a scanner entry.
const (
	DefaultBaud       = 9600
	DefaultTerminator = "CR"
	DefaultMode       = "auto"
	DefaultLayout     = "us"
)

var (
	// Layouts are the keyboard layouts a keyboard-mode scanner may emulate:
	// those device/hidkbd decodes.
	Layouts = hidkbd.Layouts
	// Modes are the modes of a HID scanner.
	Modes = []string{"auto", "keyboard", "hidpos"}
	// Bauds are the baud rates a serial scanner may use.
	Bauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}
)

var scannerNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,32}$`)

// withDefaults fills the unset fields that apply to the driver; fields of
// the other driver stay empty, so that Validate can tell they were set.
func (s Scanner) withDefaults(n int) Scanner {
	if s.Name == "" {
		s.Name = "scanner" + strconv.Itoa(n)
	}
	switch s.Driver {
	case DriverSerial:
		if s.Baud == 0 {
			s.Baud = DefaultBaud
		}
		if s.Terminator == "" {
			s.Terminator = DefaultTerminator
		}
	case DriverHID:
		if s.Mode == "" {
			s.Mode = DefaultMode
		}
		if s.Layout == "" && s.Mode != "hidpos" {
			s.Layout = DefaultLayout
		}
	}
	return s
}

// validate adds the problems of the scanner at field prefix p ("scanner[1]").
func (s *Scanner) validate(p string, add func(field, format string, a ...any)) {
	if !scannerNamePattern.MatchString(s.Name) && s.Name != "" {
		add(p+".name", "%q: use 1 to 32 letters, digits, dashes or underscores", s.Name)
	}
	switch s.Driver {
	case DriverSerial, DriverHID:
	case "":
		add(p+".driver", "missing: set \"serial\" or \"hid\"")
	default:
		add(p+".driver", "%q is not \"serial\" or \"hid\"", s.Driver)
	}
	if s.Match == "" {
		add(p+".match", "missing: set \"VID:PID\", \"VID:PID:SERIAL\" or a device path such as \"/dev/ttyACM0\" (`tillbox devices` lists them)")
	} else if _, err := device.ParseMatch(s.Match); err != nil {
		add(p+".match", "%v", err)
	}
	serial, hid := s.Driver == DriverSerial, s.Driver == DriverHID
	if s.Baud != 0 {
		if hid {
			add(p+".baud", "applies to serial scanners only")
		} else if !slices.Contains(Bauds, s.Baud) {
			add(p+".baud", "%d is not a standard baud rate (%s)", s.Baud, joinInts(Bauds))
		}
	}
	if s.Terminator != "" {
		if hid {
			add(p+".terminator", "applies to serial scanners only (a HID scanner ends a scan with Enter or Tab)")
		} else if _, err := device.ParseTerminator(s.Terminator); err != nil {
			add(p+".terminator", "%v", err)
		}
	}
	if s.Mode != "" {
		if serial {
			add(p+".mode", "applies to HID scanners only")
		} else if !slices.Contains(Modes, s.Mode) {
			add(p+".mode", "%q is not one of %s", s.Mode, strings.Join(Modes, ", "))
		}
	}
	if s.Layout != "" {
		switch {
		case serial:
			add(p+".layout", "applies to HID scanners only")
		case s.Mode == "hidpos":
			add(p+".layout", "applies to keyboard mode only; a HID POS scanner sends the code itself")
		case !slices.Contains(Layouts, s.Layout):
			add(p+".layout", "%q is not one of %s", s.Layout, strings.Join(Layouts, ", "))
		}
	}
	for _, f := range []struct{ name, v string }{{"prefix", s.Prefix}, {"suffix", s.Suffix}} {
		if len(f.v) > 32 {
			add(p+"."+f.name, "is %d bytes long, at most 32 allowed", len(f.v))
		}
	}
}

// Spec converts a validated entry into what the drivers take: the match
// and the terminator parsed, the rest as it is (withDefaults filled it).
func (s Scanner) Spec() (device.Spec, error) {
	m, err := device.ParseMatch(s.Match)
	if err != nil {
		return device.Spec{}, err
	}
	spec := device.Spec{Name: s.Name, Driver: s.Driver, Match: m, Baud: s.Baud, Mode: s.Mode, Layout: s.Layout, Prefix: s.Prefix, Suffix: s.Suffix}
	if s.Driver == DriverSerial {
		t := s.Terminator
		if t == "" {
			t = DefaultTerminator
		}
		if spec.Terminator, err = device.ParseTerminator(t); err != nil {
			return device.Spec{}, err
		}
	}
	return spec, nil
}

// Specs converts validated entries into what device/scanners.Open and
// device/udevrules.Generate take. An error names the scanner (its default
// name "scanner<N>" when it has none).
func Specs(list []Scanner) ([]device.Spec, error) {
	specs := make([]device.Spec, 0, len(list))
	for i, s := range list {
		spec, err := s.Spec()
		if err != nil {
			name := s.Name
			if name == "" {
				name = "scanner" + strconv.Itoa(i+1)
			}
			return nil, fmt.Errorf("scanner %q: %w", name, err)
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// ParseScanner parses the --scanner flag: DRIVER:MATCH followed by
// optional ,KEY=VALUE settings with the keys of a [[scanner]] entry, e.g.
// "serial:/dev/ttyACM0,baud=115200,terminator=CRLF" or
// "hid:0c2e:0b61,layout=no". The result is not validated; Validate does that
// with the rest of the configuration.
func ParseScanner(spec string) (Scanner, error) {
	fields := strings.Split(spec, ",")
	driver, match, ok := strings.Cut(fields[0], ":")
	if !ok || driver == "" || match == "" {
		return Scanner{}, fmt.Errorf("scanner %q: write DRIVER:MATCH[,KEY=VALUE...], e.g. serial:/dev/ttyACM0,baud=9600 or hid:0c2e:0b61,layout=no", spec)
	}
	s := Scanner{Driver: driver, Match: match}
	var errs []error
	for _, kv := range fields[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("scanner %q: %q is not KEY=VALUE", spec, kv))
			continue
		}
		switch k {
		case "name":
			s.Name = v
		case "baud":
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("scanner %q: baud %q is not a number", spec, v))
			}
			s.Baud = n
		case "terminator":
			s.Terminator = v
		case "mode":
			s.Mode = v
		case "layout":
			s.Layout = v
		case "prefix":
			s.Prefix = v
		case "suffix":
			s.Suffix = v
		default:
			errs = append(errs, fmt.Errorf("scanner %q: unknown setting %q (name, baud, terminator, mode, layout, prefix, suffix)", spec, k))
		}
	}
	return s, errors.Join(errs...)
}

func joinInts(list []int) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ", ")
}
