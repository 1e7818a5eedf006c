// Package hidkbd decodes the boot keyboard reports of a scanner in keyboard
// mode into the text it typed, through the keyboard layout the scanner
// emulates, and encodes text into such reports (for test fixtures and the
// emulated scanners of the hardware tests).
//
// A boot keyboard report is 8 bytes: a modifier byte (bit 0 left Ctrl, 1
// left Shift, 2 left Alt, 3 left GUI, 4..7 the same on the right; right Alt
// is AltGr), a reserved byte, and six slots with the usages of the keys that
// are down (USB HID Device Class Definition 1.11, appendix B.1).
package hidkbd

import (
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/tillbox/tillbox/device"
)

// Stats count what a Decoder saw and what it threw away.
type Stats struct {
	Reports   uint64 // reports fed
	Keys      uint64 // key presses (down edges)
	Scans     uint64 // scans completed
	Unknown   uint64 // presses that type nothing in the layout (F1, Esc, Ctrl+digit, GUI+key...): ignored
	Malformed uint64 // reports that are not 8 bytes, or error-rollover reports: ignored
	Dropped   uint64 // scans longer than the bound, dropped up to the next Enter or Tab
}

// Decoder turns a keyboard-mode scanner's reports into scans. A key counts
// when it goes down: a key held across reports is one press, and the same
// key typed twice comes as press, release (an all-zero report, or a report
// without it), press. Several new keys in one report (rollover) are taken
// in slot order. Enter, keypad Enter and Tab end a scan.
//
// Beyond the layout's characters it understands dead keys (the Nordic "~"
// is AltGr+¨ then Space), Caps Lock, Ctrl+letter (a control character, which
// the classifier refuses), and Alt+keypad codes (Alt held while typing the
// decimal code on the keypad: 0NNN is Windows-1252, NNN below 256 code page
// 437), which some scanners use for characters outside the layout.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	layout *Layout
	max    int

	down     []byte // keys down in the last report
	caps     bool
	dead     rune   // pending dead key, 0 when none
	altCode  []byte // keypad digits typed with Alt held
	buf      []byte // the scan so far, UTF-8
	dropping bool   // the scan overflowed: skip to Enter or Tab
	stats    Stats
}

// NewDecoder returns a Decoder for layout l that drops scans longer than
// device.MaxScan bytes.
func NewDecoder(l *Layout) *Decoder {
	return &Decoder{layout: l, max: device.MaxScan, down: make([]byte, 0, 6)}
}

// Feed decodes one report and returns the scans it completes (normally at
// most one).
func (d *Decoder) Feed(report []byte) []string {
	d.stats.Reports++
	if len(report) != ReportLen {
		d.stats.Malformed++
		return nil
	}
	mods, slots := report[0], report[2:8]
	if slots[0] >= usageErrorRollOver && slots[0] <= usageErrorUndef {
		// Phantom state: the keyboard cannot tell which keys are down.
		// Keep the previous state; the next good report sorts it out.
		d.stats.Malformed++
		return nil
	}
	var out []string
	if len(d.altCode) > 0 && !d.altHeld(mods) {
		d.endAltCode()
	}
	var held [6]byte
	down := held[:0]
	for _, u := range slots {
		if u == 0 || containsByte(down, u) {
			continue
		}
		if u >= usageLeftCtrl && u <= usageRightGUI {
			continue // a modifier sent as a key too: byte 0 has it
		}
		down = append(down, u)
		if containsByte(d.down, u) {
			continue // still held
		}
		d.stats.Keys++
		if s, ok := d.press(u, mods); ok {
			out = append(out, s)
		}
	}
	d.down = append(d.down[:0], down...)
	return out
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// altGr reports whether mods select the AltGr level: right Alt, or Ctrl+Alt
// as Windows reads it, on layouts that have the level.
func (d *Decoder) altGr(mods byte) bool {
	if !d.layout.hasAltGr {
		return false
	}
	return mods&modRAlt != 0 || (mods&modCtrl != 0 && mods&modLAlt != 0)
}

// altHeld reports whether Alt (not AltGr) is held: keys then type no text,
// but keypad digits make an Alt+keypad code.
func (d *Decoder) altHeld(mods byte) bool {
	switch {
	case d.altGr(mods):
		return false
	case d.layout.hasAltGr:
		return mods&modLAlt != 0
	default:
		return mods&(modLAlt|modRAlt) != 0
	}
}

// press handles one key going down; it returns a scan when the key ends one.
func (d *Decoder) press(u, mods byte) (string, bool) {
	switch u {
	case usageEnter, usageKPEnter, usageTab:
		return d.end()
	case usageCapsLock:
		d.caps = !d.caps
		return "", false
	}
	if d.altHeld(mods) {
		if u >= usageKP1 && u <= usageKP0 {
			digit := byte('1' + u - usageKP1)
			if u == usageKP0 {
				digit = '0'
			}
			d.altCode = append(d.altCode, digit)
			return "", false
		}
		d.stats.Unknown++ // Alt+key: a menu shortcut, not text
		return "", false
	}
	k := d.layout.keys[u]
	if mods&modGUI != 0 {
		d.stats.Unknown++
		return "", false
	}
	if mods&modCtrl != 0 && !d.altGr(mods) {
		// Ctrl+letter is the control character of the letter (Ctrl+M is
		// CR); anything else with Ctrl types nothing.
		if k.base >= 'a' && k.base <= 'z' {
			d.emit(k.base - 'a' + 1)
		} else {
			d.stats.Unknown++
		}
		return "", false
	}
	var r rune
	switch shift := mods&modShift != 0; {
	case d.altGr(mods):
		r = k.altgr
	case d.caps && unicode.IsLetter(k.base) && unicode.ToUpper(k.base) == k.shift:
		r = k.base
		if !shift {
			r = k.shift
		}
	case shift:
		r = k.shift
	default:
		r = k.base
	}
	if r == 0 {
		d.stats.Unknown++
		return "", false
	}
	d.typeRune(r)
	return "", false
}

// typeRune handles a character or dead key from the layout.
func (d *Decoder) typeRune(r rune) {
	if isDead(r) {
		if d.dead != 0 {
			d.emit(spacing[d.dead])
		}
		d.dead = r
		return
	}
	if d.dead != 0 {
		dead := d.dead
		d.dead = 0
		if r == ' ' {
			d.emit(spacing[dead])
			return
		}
		if c, ok := compose(r, dead); ok {
			d.emit(c)
			return
		}
		d.emit(spacing[dead])
	}
	d.emit(r)
}

// endAltCode types the character of the Alt+keypad code typed so far.
func (d *Decoder) endAltCode() {
	digits := string(d.altCode)
	d.altCode = d.altCode[:0]
	n, err := strconv.Atoi(digits)
	switch {
	case err != nil || n > 255:
		d.stats.Unknown++
	case n < 128:
		d.typeRune(rune(n))
	default:
		d.typeRune(altCode(n, digits[0] == '0'))
	}
}

// emit adds r to the scan, or drops the scan when it grows over the bound.
func (d *Decoder) emit(r rune) {
	if d.dropping {
		return
	}
	d.buf = utf8.AppendRune(d.buf, r)
	if len(d.buf) > d.max {
		d.dropping = true
		d.stats.Dropped++
		d.buf = d.buf[:0]
	}
}

// end finishes the scan at Enter or Tab.
func (d *Decoder) end() (string, bool) {
	if len(d.altCode) > 0 {
		d.endAltCode()
	}
	if d.dead != 0 {
		d.emit(spacing[d.dead])
		d.dead = 0
	}
	s := string(d.buf)
	d.buf = d.buf[:0]
	if d.dropping {
		d.dropping = false
		return "", false
	}
	if s == "" {
		return "", false
	}
	d.stats.Scans++
	return s, true
}

// Flush ends the scan in progress as if Enter came, for a scanner set up
// without a terminator: call it after a gap in the reports. It returns false
// when nothing was typed.
func (d *Decoder) Flush() (string, bool) {
	return d.end()
}

// Buffered is the number of bytes typed since the last scan ended.
func (d *Decoder) Buffered() int { return len(d.buf) }

// Stats returns the counts so far.
func (d *Decoder) Stats() Stats { return d.stats }

// Reset forgets the keys down and the scan in progress, e.g. after the
// device was lost; the counts stay.
func (d *Decoder) Reset() {
	d.down = d.down[:0]
	d.caps = false
	d.dead = 0
	d.altCode = d.altCode[:0]
	d.buf = d.buf[:0]
	d.dropping = false
}
