package hid

import (
	"fmt"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/hidkbd"
	"github.com/tillbox/tillbox/device/hidpos"
)

// newlandVID is Newland's USB vendor id: its scanners' HID POS reports
// carry the data from byte 2, without a symbology identifier
// (hidpos.Newland).
const newlandVID = 0x1eab

// decoded is one scan out of the decoder.
type decoded struct {
	data      []byte
	symbology string
}

// decoder turns the reports of one interface into scans, in the mode
// configured or, in auto mode, found: the interface's usage page when
// enumeration tells it (0x8C is HID POS, anything else a keyboard), else
// the first report (8 bytes is a boot keyboard report, anything else HID
// POS). On Linux the usage page comes from the report descriptor in sysfs
// (see describe), which is unknown only when the kernel's HID driver did
// not hold a non-keyboard interface when it was listed.
type decoder struct {
	configured string // ModeAuto, ModeKeyboard or ModePOS
	resolved   string // ModeKeyboard or ModePOS; "" until auto mode knows
	layout     *hidkbd.Layout
	kbd        *hidkbd.Decoder
	pos        *hidpos.Decoder
}

func newDecoder(mode string, layout *hidkbd.Layout, info device.HIDDevice) (*decoder, error) {
	f := hidpos.Standard
	if info.VID == newlandVID {
		f = hidpos.Newland
	}
	pos, err := hidpos.NewDecoder(f)
	if err != nil {
		return nil, err
	}
	d := &decoder{configured: mode, layout: layout, kbd: hidkbd.NewDecoder(layout), pos: pos}
	switch {
	case mode != ModeAuto:
		d.resolved = mode
	case info.UsagePage == device.UsagePagePOS:
		d.resolved = ModePOS
	case info.UsagePage != 0:
		d.resolved = ModeKeyboard
	}
	return d, nil
}

// mode describes the mode for Status.Mode: "keyboard, no", "hidpos",
// "auto: keyboard, no" once auto mode knows, "auto" before.
func (d *decoder) mode() string {
	var m string
	switch d.resolved {
	case ModeKeyboard:
		m = ModeKeyboard + ", " + d.layout.Name()
	case ModePOS:
		m = ModePOS
	}
	switch {
	case d.configured != ModeAuto:
		return m
	case m == "":
		return ModeAuto
	}
	return ModeAuto + ": " + m
}

// feed decodes one report.
func (d *decoder) feed(report []byte) []decoded {
	if d.resolved == "" {
		d.resolved = ModePOS
		if len(report) == hidkbd.ReportLen {
			d.resolved = ModeKeyboard
		}
	}
	if d.resolved == ModePOS {
		sc, ok := d.pos.Feed(report)
		if !ok {
			return nil
		}
		return []decoded{{data: sc.Data, symbology: sc.Symbology}}
	}
	var out []decoded
	for _, s := range d.kbd.Feed(report) {
		out = append(out, decoded{data: []byte(s)})
	}
	return out
}

// dropped counts the input thrown away so far, with what it was.
func (d *decoder) dropped() (uint64, string) {
	if d.resolved == ModePOS {
		st := d.pos.Stats()
		return st.Malformed + st.Dropped, fmt.Sprintf("dropped HID POS reports: %d malformed, %d codes over %d bytes (is the mode right?)", st.Malformed, st.Dropped, device.MaxScan)
	}
	st := d.kbd.Stats()
	return st.Malformed + st.Dropped, fmt.Sprintf("dropped keyboard reports: %d not 8 bytes or rollover errors, %d scans over %d bytes without Enter or Tab (is the mode right?)", st.Malformed, st.Dropped, device.MaxScan)
}
