package hidkbd

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tillbox/tillbox/device"
)

func feedAll(d *Decoder, reports []Report) []string {
	var out []string
	for _, r := range reports {
		out = append(out, d.Feed(r[:])...)
	}
	return out
}

// TestLayoutsByName: every layout the configuration accepts (its Layouts
// are these) can be had by its name.
func TestLayoutsByName(t *testing.T) {
	for _, name := range Layouts {
		if l, err := LayoutByName(name); err != nil || l.Name() != name {
			t.Errorf("LayoutByName(%q) = %v, %v", name, l, err)
		}
	}
}

func TestOversizeResync(t *testing.T) {
	us, _ := LayoutByName("us")
	long, err := Encode(us, strings.Repeat("a", device.MaxScan)+"b\n")
	if err != nil {
		t.Fatal(err)
	}
	exact, _ := Encode(us, strings.Repeat("c", device.MaxScan)+"\n")
	next, _ := Encode(us, vippsClear+"\n")
	d := NewDecoder(us)
	got := feedAll(d, long)
	if len(got) != 0 || d.Stats().Dropped != 1 {
		t.Fatalf("oversize scan: got %d scans, dropped %d", len(got), d.Stats().Dropped)
	}
	if d.Buffered() != 0 {
		t.Fatalf("buffered %d after a dropped scan", d.Buffered())
	}
	got = feedAll(d, append(exact, next...))
	if len(got) != 2 || len(got[0]) != device.MaxScan || got[1] != vippsClear {
		t.Fatalf("after resync: %d scans", len(got))
	}
}

func TestFlush(t *testing.T) {
	no, _ := LayoutByName("no")
	reports, _ := Encode(no, vippsClear)
	d := NewDecoder(no)
	if got := feedAll(d, reports); len(got) != 0 {
		t.Fatalf("scan without Enter: %q", got)
	}
	if d.Buffered() != len(vippsClear) {
		t.Fatalf("buffered %d", d.Buffered())
	}
	if s, ok := d.Flush(); !ok || s != vippsClear {
		t.Fatalf("Flush = %q %v", s, ok)
	}
	if _, ok := d.Flush(); ok {
		t.Fatal("second Flush returned a scan")
	}
}

func TestReset(t *testing.T) {
	us, _ := LayoutByName("us")
	d := NewDecoder(us)
	d.Feed([]byte{0, 0, 0x04, 0, 0, 0, 0, 0}) // a, held when the device is lost
	d.Feed([]byte{0, 0, usageCapsLock, 0, 0, 0, 0, 0})
	d.Reset()
	// After a replug the same key down is a new press, caps is off, and the
	// half scan is gone.
	got := feedAll(d, []Report{{0, 0, 0x04}, {}, {0, 0, usageEnter}, {}})
	if strings.Join(got, "|") != "a" {
		t.Fatalf("after Reset: %q", got)
	}
}

func TestStats(t *testing.T) {
	us, _ := LayoutByName("us")
	d := NewDecoder(us)
	feedAll(d, []Report{{0, 0, 0x04}, {0, 0, 0x04, 0x05}, {}, {0, 0, 0x3a}, {}, {0, 0, usageEnter}, {}})
	want := Stats{Reports: 7, Keys: 4, Scans: 1, Unknown: 1}
	if d.Stats() != want {
		t.Fatalf("stats %+v, want %+v", d.Stats(), want)
	}
}

func TestModifierUsagesIgnored(t *testing.T) {
	us, _ := LayoutByName("us")
	d := NewDecoder(us)
	got := feedAll(d, []Report{{modLShift, 0, 0xE1}, {modLShift, 0, 0xE1, 0x04}, {}, {0, 0, usageEnter}, {}})
	if strings.Join(got, "|") != "A" || d.Stats().Unknown != 0 {
		t.Fatalf("got %q, stats %+v", got, d.Stats())
	}
}

func TestDuplicateUsageInOneReport(t *testing.T) {
	us, _ := LayoutByName("us")
	d := NewDecoder(us)
	got := feedAll(d, []Report{{0, 0, 0x04, 0x04}, {}, {0, 0, usageEnter}, {}})
	if strings.Join(got, "|") != "a" {
		t.Fatalf("got %q", got)
	}
}

// FuzzDecoder feeds arbitrary reports: the decoder never panics, never
// delivers an empty or oversize scan or invalid UTF-8, and never buffers
// more than the bound.
func FuzzDecoder(f *testing.F) {
	no, _ := LayoutByName("no")
	for _, text := range []string{vippsClear + "\n", vippsToken + "\n", "ñ~^\n"} {
		reports, _ := Encode(no, text)
		var b []byte
		for _, r := range reports {
			b = append(b, r[:]...)
		}
		f.Add(b, uint8(1), uint8(8))
	}
	f.Add([]byte{0x04, 0, 0x62, 0x59, 0, 0, 0, 0, 0, 0, 0x28, 0, 0, 0, 0, 0}, uint8(0), uint8(8))
	f.Add([]byte{0x40, 0, 0x30, 0, 0, 0, 0, 0, 0x40, 0, 0x30, 0x11, 0, 0, 0, 0}, uint8(2), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, layout, size uint8) {
		l, _ := LayoutByName(Layouts[int(layout)%len(Layouts)])
		d := NewDecoder(l)
		d.max = 64
		n := int(size)%10 + 1 // mostly 8, sometimes malformed lengths
		if n > 8 {
			n = 8
		}
		check := func(s string) {
			if s == "" || len(s) > d.max || !utf8.ValidString(s) {
				t.Fatalf("bad scan %q", s)
			}
		}
		for len(in) > 0 {
			k := min(n, len(in))
			for _, s := range d.Feed(in[:k]) {
				check(s)
			}
			if d.Buffered() > d.max {
				t.Fatalf("buffered %d", d.Buffered())
			}
			in = in[k:]
		}
		if s, ok := d.Flush(); ok {
			check(s)
		}
	})
}

// FuzzRoundTrip: whatever a layout can type, Encode then the Decoder give
// back.
func FuzzRoundTrip(f *testing.F) {
	f.Add(vippsClear, uint8(0))
	f.Add(vippsToken, uint8(1))
	f.Add("ñ~¨a´", uint8(1))
	f.Add("Grüße ~ zy", uint8(4))
	f.Fuzz(func(t *testing.T, text string, layout uint8) {
		l, _ := LayoutByName(Layouts[int(layout)%len(Layouts)])
		if text == "" || len(text) > device.MaxScan || strings.ContainsAny(text, "\n\t") {
			return
		}
		reports, err := Encode(l, text+"\n")
		if err != nil {
			return // not typable in this layout
		}
		d := NewDecoder(l)
		got := feedAll(d, reports)
		if len(got) != 1 || got[0] != text {
			t.Fatalf("%s: typed %q, decoded %q", l, text, got)
		}
	})
}
