package hidkbd

// A composition is a character made of a base character and a dead key's
// mark (tables.go, generated from golang.org/x/text's NFC and NFD).
type composition struct {
	base, comp uint16 // all in the Basic Multilingual Plane
	mark       uint8  // the mark is U+0300 + mark
	whole      bool   // comp's canonical decomposition is exactly base and mark
}

// compose combines a character with a dead key's mark: n and ~ make ñ. It
// is NFC of the two, when that is one character.
func compose(r, mark rune) (rune, bool) {
	if r > 0xffff || mark < 0x300 || mark > 0x3ff {
		return 0, false
	}
	b, m := uint16(r), uint8(mark-0x300)
	lo, hi := 0, len(composed)
	for lo < hi {
		i := int(uint(lo+hi) >> 1)
		if c := composed[i]; c.mark < m || c.mark == m && c.base < b {
			lo = i + 1
		} else {
			hi = i
		}
	}
	if lo < len(composed) && composed[lo].mark == m && composed[lo].base == b {
		return rune(composed[lo].comp), true
	}
	return 0, false
}

// decompose splits a character whose canonical decomposition is a base and
// a dead key's mark (é: e and U+0301); 0, 0 for any other.
func decompose(r rune) (base, mark rune) {
	for _, c := range composed {
		if rune(c.comp) == r && c.whole {
			return rune(c.base), 0x300 + rune(c.mark)
		}
	}
	return 0, 0
}

// altCode is the character of Alt+keypad code n (128 to 255): from
// Windows-1252 when the code was typed with a leading 0, else from code
// page 437.
func altCode(n int, leadingZero bool) rune {
	if leadingZero {
		return win1252High[n-128]
	}
	return cp437High[n-128]
}
