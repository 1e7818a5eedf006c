package hidkbd

import (
	"strings"
	"testing"
)

const (
	vippsClear = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"
	// vippsToken is a tokenised code with every character a URL may hold.
	vippsToken = "https://qr.vipps.no/p/AbYz-09_x.Q~w:v/k?m=1&n=%2B#f+Z"
)

// typeOne decodes one key press (mods, usage) followed by Enter.
func typeOne(t *testing.T, l *Layout, mods, usage byte) string {
	t.Helper()
	d := NewDecoder(l)
	var got []string
	for _, r := range []Report{{mods, 0, usage}, {}, {0, 0, usageEnter}, {}} {
		got = append(got, d.Feed(r[:])...)
	}
	return strings.Join(got, "|")
}

// TestLayoutFacts checks keys of each layout against facts written down by
// hand from the printed keyboards, independently of the tables: the
// characters of a Vipps URL above all.
func TestLayoutFacts(t *testing.T) {
	const (
		S = modLShift
		R = modRShift
		G = modRAlt
		N = 0
	)
	for _, f := range []struct {
		layout string
		mods   byte
		usage  byte
		want   string
	}{
		// US
		{"us", N, 0x04, "a"}, {"us", S, 0x04, "A"}, {"us", N, 0x1C, "y"}, {"us", N, 0x1D, "z"},
		{"us", S, 0x33, ":"}, {"us", N, 0x38, "/"}, {"us", S, 0x38, "?"}, {"us", N, 0x2E, "="},
		{"us", S, 0x24, "&"}, {"us", S, 0x2D, "_"}, {"us", N, 0x2D, "-"}, {"us", N, 0x37, "."},
		{"us", S, 0x35, "~"}, {"us", S, 0x22, "%"}, {"us", S, 0x20, "#"}, {"us", S, 0x2E, "+"},
		{"us", S, 0x1F, "@"}, {"us", R, 0x27, ")"}, {"us", N, 0x31, "\\"}, {"us", N, 0x32, "\\"},
		// Norwegian
		{"no", S, 0x37, ":"}, {"no", S, 0x24, "/"}, {"no", S, 0x2D, "?"}, {"no", S, 0x27, "="},
		{"no", S, 0x23, "&"}, {"no", S, 0x38, "_"}, {"no", N, 0x38, "-"}, {"no", N, 0x37, "."},
		{"no", S, 0x22, "%"}, {"no", S, 0x20, "#"}, {"no", N, 0x2D, "+"}, {"no", G, 0x1F, "@"},
		{"no", S, 0x1F, "\""}, {"no", S, 0x21, "¤"}, {"no", G, 0x21, "$"}, {"no", G, 0x24, "{"},
		{"no", G, 0x25, "["}, {"no", G, 0x26, "]"}, {"no", G, 0x27, "}"}, {"no", N, 0x2F, "å"},
		{"no", N, 0x33, "ø"}, {"no", N, 0x34, "æ"}, {"no", S, 0x34, "Æ"}, {"no", N, 0x2E, "\\"},
		{"no", N, 0x35, "|"}, {"no", S, 0x35, "§"}, {"no", N, 0x31, "'"}, {"no", S, 0x32, "*"},
		{"no", N, 0x64, "<"}, {"no", S, 0x64, ">"}, {"no", S, 0x36, ";"}, {"no", G, 0x08, "€"},
		// Danish
		{"da", S, 0x37, ":"}, {"da", S, 0x24, "/"}, {"da", S, 0x2D, "?"}, {"da", S, 0x27, "="},
		{"da", N, 0x33, "æ"}, {"da", N, 0x34, "ø"}, {"da", N, 0x35, "½"}, {"da", G, 0x64, "\\"},
		{"da", G, 0x2E, "|"}, {"da", G, 0x1F, "@"}, {"da", S, 0x20, "#"}, {"da", N, 0x2D, "+"},
		// Swedish/Finnish
		{"sv-fi", S, 0x37, ":"}, {"sv-fi", S, 0x24, "/"}, {"sv-fi", S, 0x2D, "?"}, {"sv-fi", S, 0x27, "="},
		{"sv-fi", N, 0x33, "ö"}, {"sv-fi", N, 0x34, "ä"}, {"sv-fi", N, 0x35, "§"}, {"sv-fi", G, 0x2D, "\\"},
		{"sv-fi", G, 0x64, "|"}, {"sv-fi", G, 0x1F, "@"}, {"sv-fi", G, 0x21, "$"}, {"sv-fi", N, 0x2F, "å"},
		// German
		{"de", N, 0x1C, "z"}, {"de", N, 0x1D, "y"}, {"de", S, 0x1C, "Z"}, {"de", S, 0x1D, "Y"},
		{"de", S, 0x37, ":"}, {"de", S, 0x24, "/"}, {"de", S, 0x2D, "?"}, {"de", N, 0x2D, "ß"},
		{"de", S, 0x27, "="}, {"de", S, 0x23, "&"}, {"de", S, 0x38, "_"}, {"de", N, 0x38, "-"},
		{"de", N, 0x30, "+"}, {"de", S, 0x30, "*"}, {"de", G, 0x30, "~"}, {"de", N, 0x31, "#"},
		{"de", N, 0x32, "#"}, {"de", S, 0x31, "'"}, {"de", G, 0x14, "@"}, {"de", S, 0x20, "§"},
		{"de", S, 0x21, "$"}, {"de", S, 0x1F, "\""}, {"de", N, 0x2F, "ü"}, {"de", N, 0x33, "ö"},
		{"de", N, 0x34, "ä"}, {"de", G, 0x2D, "\\"}, {"de", G, 0x64, "|"}, {"de", S, 0x35, "°"},
		{"de", G, 0x24, "{"}, {"de", G, 0x27, "}"}, {"de", G, 0x08, "€"}, {"de", G, 0x10, "µ"},
		// Ctrl+Alt is AltGr, as on Windows.
		{"no", modLCtrl | modLAlt, 0x1F, "@"}, {"de", modLCtrl | modLAlt, 0x14, "@"},
		// The keypad types digits in every layout.
		{"no", N, 0x59, "1"}, {"de", N, 0x62, "0"}, {"us", N, 0x63, "."}, {"no", N, 0x63, ","},
		{"sv-fi", N, 0x54, "/"}, {"da", N, 0x57, "+"},
	} {
		l, err := LayoutByName(f.layout)
		if err != nil {
			t.Fatal(err)
		}
		if got := typeOne(t, l, f.mods, f.usage); got != f.want {
			t.Errorf("%s: mods %02x usage %02x typed %q, want %q", f.layout, f.mods, f.usage, got, f.want)
		}
	}
}

// TestDeadKeys: the characters of the dead keys, bare (dead key + Space)
// and combined.
func TestDeadKeys(t *testing.T) {
	for _, tc := range []struct {
		layout string
		in     []Report
		want   string
	}{
		{"no", []Report{{modRAlt, 0, 0x30}, {}, {0, 0, usageSpace}, {}}, "~"},
		{"da", []Report{{modRAlt, 0, 0x30}, {}, {0, 0, usageSpace}, {}}, "~"},
		{"sv-fi", []Report{{modRAlt, 0, 0x30}, {}, {0, 0, usageSpace}, {}}, "~"},
		{"no", []Report{{modRAlt, 0, 0x30}, {}, {0, 0, 0x11}, {}}, "ñ"},
		{"no", []Report{{modLShift, 0, 0x30}, {}, {0, 0, usageSpace}, {}}, "^"},
		{"no", []Report{{0, 0, 0x30}, {}, {modLShift, 0, 0x18}, {}}, "Ü"},
		{"de", []Report{{0, 0, 0x35}, {}, {0, 0, usageSpace}, {}}, "^"},
		{"de", []Report{{0, 0, 0x2E}, {}, {0, 0, 0x08}, {}}, "é"},
		{"de", []Report{{modLShift, 0, 0x2E}, {}, {0, 0, 0x04}, {}}, "à"},
		// A dead key that does not combine types its accent, then the key.
		{"no", []Report{{modRAlt, 0, 0x30}, {}, {0, 0, 0x1B}, {}}, "~x"},
		// Two dead keys: the first types its accent.
		{"no", []Report{{modRAlt, 0, 0x30}, {}, {modLShift, 0, 0x30}, {}, {0, 0, usageSpace}, {}}, "~^"},
		// A dead key before Enter types its accent.
		{"sv-fi", []Report{{0, 0, 0x04}, {}, {modRAlt, 0, 0x30}, {}}, "a~"},
	} {
		l, _ := LayoutByName(tc.layout)
		d := NewDecoder(l)
		var got []string
		for _, r := range append(tc.in, Report{0, 0, usageEnter}, Report{}) {
			got = append(got, d.Feed(r[:])...)
		}
		if strings.Join(got, "|") != tc.want {
			t.Errorf("%s %v: got %q, want %q", tc.layout, tc.in, got, tc.want)
		}
	}
}

// TestRoundTrip types the Vipps codes and every character each layout can
// type through Encode and back through the Decoder.
func TestRoundTrip(t *testing.T) {
	for _, name := range Layouts {
		l, err := LayoutByName(name)
		if err != nil {
			t.Fatal(err)
		}
		texts := []string{vippsClear, vippsToken, string(l.Typable())}
		for _, text := range texts {
			reports, err := Encode(l, text+"\n")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			d := NewDecoder(l)
			var got []string
			for _, r := range reports {
				got = append(got, d.Feed(r[:])...)
			}
			if len(got) != 1 || got[0] != text {
				t.Errorf("%s: typed %q, decoded %q", name, text, got)
			}
			if st := d.Stats(); st.Unknown != 0 || st.Malformed != 0 || st.Scans != 1 {
				t.Errorf("%s: stats %+v", name, st)
			}
		}
	}
}

// TestURLCharactersEverywhere: every layout types the characters of a URL.
func TestURLCharactersEverywhere(t *testing.T) {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~:/?=&%#+@!$'()*,;[]"
	for _, name := range Layouts {
		l, _ := LayoutByName(name)
		if _, err := Encode(l, chars); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	us, _ := LayoutByName("us")
	if _, err := Encode(us, "blåbær"); err == nil || !strings.Contains(err.Error(), "'å'") {
		t.Errorf("US typing å: %v", err)
	}
	no, _ := LayoutByName("no")
	if _, err := Encode(no, "日本"); err == nil {
		t.Error("no error for CJK")
	}
}

func TestLayoutByName(t *testing.T) {
	for _, n := range []string{"us", "no", "da", "sv-fi", "de", "NO", "se", "fi", "dk"} {
		if _, err := LayoutByName(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := LayoutByName("fr"); err == nil || !strings.Contains(err.Error(), "us, no, da, sv-fi, de") {
		t.Errorf("fr: %v", err)
	}
	if l, _ := LayoutByName("sv-fi"); l.Name() != "sv-fi" || l.String() != "sv-fi" {
		t.Errorf("name %q", l.Name())
	}
}
