package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/hid"
)

// enumerators list the candidate scanners of this machine; tests inject
// their own.
type enumerators struct {
	serial func() ([]device.SerialPort, error)
	hid    func() ([]device.HIDDevice, error)
}

var machine = enumerators{
	serial: device.ListSerial,
	hid:    func() ([]device.HIDDevice, error) { return hid.Enumerate(0, 0) },
}

// deviceList is what `tillbox devices --json` prints.
type deviceList struct {
	Serial      []serialCandidate `json:"serial"`
	SerialError string            `json:"serialError,omitempty"`
	HID         []hidCandidate    `json:"hid"`
	HIDError    string            `json:"hidError,omitempty"`
}

type serialCandidate struct {
	device.SerialPort
	Driver string `json:"driver"`
	Match  string `json:"match"`
}

type hidCandidate struct {
	device.HIDDevice
	Kind   string `json:"kind,omitempty"`
	Node   string `json:"node,omitempty"`
	Driver string `json:"driver"`
	Match  string `json:"match"`
	Mode   string `json:"mode,omitempty"` // the mode to configure, when the usage page tells
}

// runDevices is `tillbox devices`: the serial ports and USB HID devices a
// scanner could be, each with the [[scanner]] lines that read it.
func runDevices(_ context.Context, args []string, stdout, stderr io.Writer, en enumerators) error {
	fs := flag.NewFlagSet("tillbox devices", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: tillbox devices [--json]\n\nList the serial ports and USB HID devices a scanner could be, with the [[scanner]]\nlines to paste into the configuration.\n\n")
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseArgs(fs, args, stdout); err != nil {
		return err
	}
	var list deviceList
	ports, err := en.serial()
	if err != nil {
		list.SerialError = err.Error()
	}
	list.Serial = []serialCandidate{}
	for _, p := range ports {
		list.Serial = append(list.Serial, serialCandidate{SerialPort: p, Driver: "serial", Match: p.Match()})
	}
	devs, err := en.hid()
	if err != nil {
		list.HIDError = err.Error()
	}
	hid.SortDevices(devs)
	list.HID = []hidCandidate{}
	for _, d := range devs {
		c := hidCandidate{HIDDevice: d, Kind: d.Kind(), Node: d.Node(), Driver: "hid", Match: d.Match()}
		switch c.Kind {
		case "HID POS":
			c.Mode = hid.ModePOS
		case "keyboard":
			c.Mode = hid.ModeKeyboard
		}
		list.HID = append(list.HID, c)
	}
	if list.HIDError != "" {
		fmt.Fprintln(stderr, "tillbox devices: USB HID:", list.HIDError)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	printDevices(stdout, list)
	return nil
}

func printDevices(w io.Writer, list deviceList) {
	fmt.Fprintln(w, "Serial ports:")
	switch {
	case list.SerialError != "":
		fmt.Fprintf(w, "  cannot list them: %s\n", list.SerialError)
	case len(list.Serial) == 0:
		fmt.Fprintln(w, "  none")
	}
	for _, p := range list.Serial {
		fmt.Fprintf(w, "  %s\n", p.SerialPort)
		fmt.Fprintf(w, "    [[scanner]]\n    driver = \"serial\"\n    match = %s\n", strconv.Quote(p.Match))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "USB HID devices:")
	switch {
	case list.HIDError != "":
		fmt.Fprintf(w, "  %s\n", list.HIDError)
	case len(list.HID) == 0:
		fmt.Fprintln(w, "  none")
	}
	// One [[scanner]] per device: after its last interface.
	for i, d := range list.HID {
		fmt.Fprintf(w, "  %s  path %s", d.HIDDevice, d.Path)
		if d.Node != "" {
			fmt.Fprintf(w, " (%s)", d.Node)
		}
		fmt.Fprintln(w)
		if i+1 < len(list.HID) && list.HID[i+1].Match == d.Match {
			continue
		}
		fmt.Fprintf(w, "    [[scanner]]\n    driver = \"hid\"\n    match = %s\n", strconv.Quote(d.Match))
		mode := ""
		for j := i; j >= 0 && list.HID[j].Match == d.Match; j-- {
			if m := list.HID[j].Mode; m == hid.ModePOS || mode == "" {
				mode = m
			}
		}
		switch mode {
		case hid.ModePOS:
			fmt.Fprintf(w, "    mode = %q\n", mode)
		case hid.ModeKeyboard:
			fmt.Fprintf(w, "    mode = %q\n    layout = \"us\"   # the layout the scanner is set to: %s\n", mode, strings.Join(config.Layouts, ", "))
		default:
			fmt.Fprintf(w, "    # mode = \"auto\" (the default), \"keyboard\" (then layout = %s) or \"hidpos\"\n", strings.Join(config.Layouts, ", "))
		}
	}
}
