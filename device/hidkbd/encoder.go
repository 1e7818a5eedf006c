package hidkbd

import "fmt"

// Report is one boot keyboard report.
type Report [ReportLen]byte

// Encode returns the reports a keyboard-mode scanner set to layout l sends
// to type text: for each character a press (modifiers and key) and a
// release (an all-zero report). '\n' types Enter and '\t' Tab. A character
// only reachable through a dead key is typed as the dead key, then Space
// (for the bare accent, like the Nordic "~") or the letter (for "ñ").
// It fails on characters the layout cannot type.
func Encode(l *Layout, text string) ([]Report, error) {
	var out []Report
	press := func(s stroke) {
		out = append(out, Report{s.mods, 0, s.usage}, Report{})
	}
	for i, r := range text {
		strokes, err := l.strokes(r)
		if err != nil {
			return nil, fmt.Errorf("hidkbd: layout %s, character %d of %q: %w", l.name, i, text, err)
		}
		for _, s := range strokes {
			press(s)
		}
	}
	return out, nil
}

// strokes are the key presses that type r.
func (l *Layout) strokes(r rune) ([]stroke, error) {
	switch r {
	case '\n':
		return []stroke{{usageEnter, 0}}, nil
	case '\t':
		return []stroke{{usageTab, 0}}, nil
	}
	if s, ok := l.inverse[r]; ok && !isDead(r) {
		return []stroke{s}, nil
	}
	for mark, sp := range spacing {
		if sp != r {
			continue
		}
		if s, ok := l.inverse[mark]; ok {
			return []stroke{s, {usageSpace, 0}}, nil
		}
	}
	if b, m := decompose(r); m != 0 {
		dk, ok1 := l.inverse[m]
		base, ok2 := l.inverse[b]
		if ok1 && ok2 && !isDead(b) {
			return []stroke{dk, base}, nil
		}
	}
	return nil, fmt.Errorf("%q cannot be typed", r)
}
