package hil

import (
	"context"
	"fmt"

	"github.com/tillbox/tillbox/device/hidkbd"
)

// qcodes names the keys of the HID keyboard page (usage → QEMU QKeyCode)
// that the rig types. QEMU's usb-kbd turns each qcode back into its usage,
// so a layout's key presses (hidkbd.Encode) can be replayed as qcodes:
// what the guest reads is what a scanner emulating that layout sends.
var qcodes = qcodeTable()

func qcodeTable() map[byte]string {
	t := map[byte]string{
		0x28: "ret", 0x29: "esc", 0x2A: "backspace", 0x2B: "tab", 0x2C: "spc",
		0x2D: "minus", 0x2E: "equal", 0x2F: "bracket_left", 0x30: "bracket_right",
		0x31: "backslash", 0x33: "semicolon", 0x34: "apostrophe", 0x35: "grave_accent",
		0x36: "comma", 0x37: "dot", 0x38: "slash", 0x64: "less",
	}
	for i := range 26 {
		t[byte(0x04+i)] = string(rune('a' + i))
	}
	for i, d := range "1234567890" {
		t[byte(0x1E+i)] = string(d)
	}
	return t
}

// modifierQcodes are the modifier bits of a boot report as qcodes.
var modifierQcodes = []struct {
	bit   byte
	qcode string
}{
	{0x01, "ctrl"}, {0x02, "shift"}, {0x04, "alt"}, {0x08, "meta_l"},
	{0x10, "ctrl_r"}, {0x20, "shift_r"}, {0x40, "alt_r"}, {0x80, "meta_r"},
}

type keyEvent struct {
	Type string `json:"type"`
	Data struct {
		Down bool `json:"down"`
		Key  struct {
			Type string `json:"type"`
			Data string `json:"data"`
		} `json:"key"`
	} `json:"data"`
}

func keyEv(qcode string, down bool) keyEvent {
	var e keyEvent
	e.Type = "key"
	e.Data.Down = down
	e.Data.Key.Type = "qcode"
	e.Data.Key.Data = qcode
	return e
}

// keystrokes turns text into the key events a keyboard-mode scanner set to
// layout sends, one group per character: modifiers down, key down, key up,
// modifiers up.
func keystrokes(layout, text string) ([][]keyEvent, error) {
	l, err := hidkbd.LayoutByName(layout)
	if err != nil {
		return nil, err
	}
	reports, err := hidkbd.Encode(l, text)
	if err != nil {
		return nil, err
	}
	var groups [][]keyEvent
	for _, r := range reports {
		if r == (hidkbd.Report{}) {
			continue // the release, typed with the press below
		}
		key, ok := qcodes[r[2]]
		if !ok {
			return nil, fmt.Errorf("layout %s, %q: HID usage %#02x has no QEMU qcode in the rig's table", layout, text, r[2])
		}
		var g []keyEvent
		for _, m := range modifierQcodes {
			if r[0]&m.bit != 0 {
				g = append(g, keyEv(m.qcode, true))
			}
		}
		g = append(g, keyEv(key, true), keyEv(key, false))
		for _, m := range modifierQcodes {
			if r[0]&m.bit != 0 {
				g = append(g, keyEv(m.qcode, false))
			}
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// typeText types text on the emulated USB keyboard as a scanner set to
// layout would, through QMP input-send-event, one key event at a time:
// each is sent once the guest has taken the one before from usb-kbd's
// queue (QEMU traces hid_kbd_queue_empty when a poll of the interrupt
// endpoint leaves it empty). The queue holds 16 key codes and a key event
// is at most 2 (an E0-prefixed key), so no key event can be dropped,
// however little CPU the guest gets; a drop (hid_kbd_queue_full) would
// mean something else typed, and fails the typing.
func (m *machine) typeText(ctx context.Context, layout, text string) error {
	groups, err := keystrokes(layout, text)
	if err != nil {
		return err
	}
	full := m.traces.count(traceKbdFull)
	dropped := func() error {
		if m.traces.count(traceKbdFull) > full {
			return fmt.Errorf("QEMU's keyboard queue was full and dropped a key event (%s), though each was sent only when the queue was empty", traceKbdFull)
		}
		return nil
	}
	for i, g := range groups {
		for _, e := range g {
			empty := m.traces.count(traceKbdEmpty)
			if _, err := m.qmp.execute(ctx, "input-send-event", map[string]any{"events": []keyEvent{e}}); err != nil {
				return fmt.Errorf("typing %q: %w", text, err)
			}
			// waitLimit is a failure bound (nobody reads the keyboard),
			// not a pace: the wait ends when the guest has taken the key.
			wctx, cancel := context.WithTimeout(ctx, waitLimit)
			_, err := m.traces.wait(wctx, traceKbdEmpty, empty, m.exited, dropped)
			cancel()
			if err != nil {
				upDown := "up"
				if e.Data.Down {
					upDown = "down"
				}
				return fmt.Errorf("typing %q, key group %d of %d (%s %s): waiting for the guest to take it from QEMU's keyboard queue (%s): %w",
					text, i+1, len(groups), e.Data.Key.Data, upDown, traceKbdEmpty, err)
			}
		}
	}
	if err := dropped(); err != nil {
		return fmt.Errorf("typing %q: %w", text, err)
	}
	return nil
}
