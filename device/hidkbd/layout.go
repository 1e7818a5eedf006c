package hidkbd

import (
	"fmt"
	"slices"
	"strings"
)

// key is what one key types at each level: without modifiers, with Shift,
// with AltGr. 0 is nothing. A combining mark (U+0300...) is a dead key: it
// changes the next character instead of typing one.
type key struct {
	base, shift, altgr rune
}

// Dead keys, as the combining marks they add.
const (
	deadGrave      = '\u0300'
	deadAcute      = '\u0301'
	deadCircumflex = '\u0302'
	deadTilde      = '\u0303'
	deadDiaeresis  = '\u0308'
)

// spacing is what a dead key types when followed by Space (or by a
// character it does not combine with).
var spacing = map[rune]rune{
	deadGrave:      '`',
	deadAcute:      '´',
	deadCircumflex: '^',
	deadTilde:      '~',
	deadDiaeresis:  '¨',
}

func isDead(r rune) bool { _, ok := spacing[r]; return ok }

// Layout is a keyboard layout a keyboard-mode scanner emulates: which
// character each key usage types with which modifiers.
type Layout struct {
	name     string
	keys     [256]key
	hasAltGr bool
	inverse  map[rune]stroke // for Encode
}

// Name is the layout's name in the configuration ("us", "no", ...).
func (l *Layout) Name() string { return l.name }

func (l *Layout) String() string { return l.name }

// Layouts are the names of the supported layouts, as in the configuration.
var Layouts = []string{"us", "no", "da", "sv-fi", "de"}

// LayoutByName returns the layout called name (see Layouts).
func LayoutByName(name string) (*Layout, error) {
	switch strings.ToLower(name) {
	case "us":
		return layoutUS, nil
	case "no":
		return layoutNO, nil
	case "da", "dk":
		return layoutDA, nil
	case "sv-fi", "sv", "se", "fi":
		return layoutSVFI, nil
	case "de":
		return layoutDE, nil
	}
	return nil, fmt.Errorf("keyboard layout %q is not one of %s", name, strings.Join(Layouts, ", "))
}

// The tables below were written from the xkeyboard-config symbols files
// that Linux uses (symbols/us; symbols/no, dk and se, which include
// latin(type2); symbols/de; the <LSGT> key of symbols/pc) and checked key by
// key against the printed Norwegian, Danish, Swedish/Finnish and German
// keyboards and the Windows layouts of the same names (KBDNO, KBDDA, KBDSW,
// KBDFI, KBDGR), which agree on every key a scanner types. The key usages
// are those of the USB HID Usage Tables (Keyboard/Keypad page 0x07); like
// the Linux kernel (drivers/hid/hid-input.c), the ISO key left of Enter is
// read the same whether it comes as 0x31 or 0x32. Only the first three
// levels are kept: no scanner types a character with Shift+AltGr.
//
// The keys of a URL, by layout:
//
//	      :        /        ?        =        &        _       ~             #        +       %
//	us    S+;      /        S+/      =        S+7      S+-     S+`           S+3      S+=     S+5
//	no    S+.      S+7      S+(+)    S+0      S+6      S+-     AltGr+¨ dead  S+3      +       S+5
//	da    S+.      S+7      S+(+)    S+0      S+6      S+-     AltGr+¨ dead  S+3      +       S+5
//	sv-fi S+.      S+7      S+(+)    S+0      S+6      S+-     AltGr+¨ dead  S+3      +       S+5
//	de    S+.      S+7      S+ß      S+0      S+6      S+-     AltGr++       #        +       S+5
//
// (Nordic and German keys named by what they print: "+" is usage 0x2D on
// the Nordic layouts and 0x30 on German; "-" is 0x38 on all four.)

var (
	layoutUS = build("us", false, func(k *[256]key) {
		letters(k, false)
		digitRow(k, "!@#$%^&*()", "")
		set(k, 0x2D, '-', '_', 0)
		set(k, 0x2E, '=', '+', 0)
		set(k, 0x2F, '[', '{', 0)
		set(k, 0x30, ']', '}', 0)
		set(k, 0x31, '\\', '|', 0)
		set(k, 0x33, ';', ':', 0)
		set(k, 0x34, '\'', '"', 0)
		set(k, 0x35, '`', '~', 0)
		set(k, 0x36, ',', '<', 0)
		set(k, 0x37, '.', '>', 0)
		set(k, 0x38, '/', '?', 0)
		set(k, 0x64, '<', '>', 0)
		keypad(k, '.')
	})

	layoutNO = build("no", true, func(k *[256]key) {
		nordic(k)
		set(k, 0x2D, '+', '?', '±')
		set(k, 0x2E, '\\', deadGrave, deadAcute)
		set(k, 0x33, 'ø', 'Ø', 0)
		set(k, 0x34, 'æ', 'Æ', 0)
		set(k, 0x35, '|', '§', 0)
		set(k, 0x64, '<', '>', 0)
	})

	layoutDA = build("da", true, func(k *[256]key) {
		nordic(k)
		set(k, 0x2D, '+', '?', '±')
		set(k, 0x2E, deadAcute, deadGrave, '|')
		set(k, 0x33, 'æ', 'Æ', 0)
		set(k, 0x34, 'ø', 'Ø', 0)
		set(k, 0x35, '½', '§', 0)
		set(k, 0x64, '<', '>', '\\')
	})

	layoutSVFI = build("sv-fi", true, func(k *[256]key) {
		nordic(k)
		set(k, 0x2D, '+', '?', '\\')
		set(k, 0x2E, deadAcute, deadGrave, 0)
		set(k, 0x33, 'ö', 'Ö', 0)
		set(k, 0x34, 'ä', 'Ä', 0)
		set(k, 0x35, '§', '½', 0)
		set(k, 0x64, '<', '>', '|')
	})

	layoutDE = build("de", true, func(k *[256]key) {
		letters(k, true)
		digitRow(k, "!\"§$%&/()=", "\x00²³\x00\x00\x00{[]}")
		set(k, 0x14, 'q', 'Q', '@')
		set(k, 0x08, 'e', 'E', '€')
		set(k, 0x10, 'm', 'M', 'µ')
		set(k, 0x2D, 'ß', '?', '\\')
		set(k, 0x2E, deadAcute, deadGrave, 0)
		set(k, 0x2F, 'ü', 'Ü', 0)
		set(k, 0x30, '+', '*', '~')
		set(k, 0x31, '#', '\'', 0)
		set(k, 0x33, 'ö', 'Ö', 0)
		set(k, 0x34, 'ä', 'Ä', 0)
		set(k, 0x35, deadCircumflex, '°', 0)
		set(k, 0x36, ',', ';', 0)
		set(k, 0x37, '.', ':', 0)
		set(k, 0x38, '-', '_', 0)
		set(k, 0x64, '<', '>', '|')
		keypad(k, ',')
	})
)

// nordic sets the keys the Norwegian, Danish and Swedish/Finnish layouts
// share (xkb latin(type2)).
func nordic(k *[256]key) {
	letters(k, false)
	digitRow(k, "!\"#¤%&/()=", "\x00@£$€\x00{[]}")
	set(k, 0x08, 'e', 'E', '€')
	set(k, 0x2F, 'å', 'Å', 0)
	set(k, 0x30, deadDiaeresis, deadCircumflex, deadTilde)
	set(k, 0x31, '\'', '*', 0)
	set(k, 0x36, ',', ';', 0)
	set(k, 0x37, '.', ':', 0)
	set(k, 0x38, '-', '_', 0)
	keypad(k, ',')
}

func set(k *[256]key, usage byte, base, shift, altgr rune) {
	k[usage] = key{base, shift, altgr}
}

// letters sets a..z on usages 0x04..0x1D; German swaps y and z.
func letters(k *[256]key, swapYZ bool) {
	for i := range 26 {
		r := rune('a' + i)
		if swapYZ && r == 'y' {
			r = 'z'
		} else if swapYZ && r == 'z' {
			r = 'y'
		}
		set(k, byte(0x04+i), r, r-'a'+'A', 0)
	}
}

// digitRow sets 1..9, 0 on usages 0x1E..0x27 with the given shifted and
// AltGr characters (NUL for none).
func digitRow(k *[256]key, shift, altgr string) {
	s, a := []rune(shift), []rune(altgr)
	for i, d := range "1234567890" {
		var ag rune
		if i < len(a) {
			ag = a[i]
		}
		set(k, byte(0x1E+i), d, s[i], ag)
	}
}

// keypad sets Space and the keypad (NumLock on), the same in every layout
// but for the decimal key: a comma in the Nordic and German layouts (xkb
// kpdl(comma)).
func keypad(k *[256]key, decimal rune) {
	set(k, usageSpace, ' ', ' ', ' ')
	for i, r := range "/*-+" {
		set(k, byte(0x54+i), r, r, 0)
	}
	for i := range 9 {
		r := rune('1' + i)
		set(k, byte(usageKP1+i), r, r, 0)
	}
	set(k, usageKP0, '0', '0', 0)
	set(k, 0x63, decimal, decimal, 0)
}

// stroke is how to type one character: a key and the modifiers.
type stroke struct {
	usage byte
	mods  byte
}

func build(name string, hasAltGr bool, fill func(*[256]key)) *Layout {
	l := &Layout{name: name, hasAltGr: hasAltGr}
	fill(&l.keys)
	l.keys[usageNonUSHash] = l.keys[0x31]
	l.inverse = inverse(l)
	return l
}

// inverse maps each character to the first way to type it, in this order:
// the main block before the ISO key left of Z (so US "<" is Shift+comma),
// no modifier before Shift before AltGr, lower usages first. The keypad and
// the alias 0x32 are left out: scanners type on the main block.
func inverse(l *Layout) map[rune]stroke {
	inv := map[rune]stroke{}
	var usages []byte
	for u := byte(0x04); u <= 0x38; u++ {
		if u != usageNonUSHash && u != usageEnter && u != usageTab {
			usages = append(usages, u)
		}
	}
	for _, block := range [][]byte{usages, {usageNonUSBackslash}} {
		for level := range 3 {
			for _, u := range block {
				r, mods := l.keys[u].base, byte(0)
				switch level {
				case 1:
					r, mods = l.keys[u].shift, modLShift
				case 2:
					r, mods = l.keys[u].altgr, modRAlt
				}
				if _, ok := inv[r]; r != 0 && !ok {
					inv[r] = stroke{u, mods}
				}
			}
		}
	}
	return inv
}

// Typable reports the characters the layout types with one key, sorted;
// for tests and documentation.
func (l *Layout) Typable() []rune {
	var rs []rune
	for r := range l.inverse {
		if !isDead(r) {
			rs = append(rs, r)
		}
	}
	slices.Sort(rs)
	return rs
}
