package devicetest

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A Fixture is a replay recording of a HID scanner, as the tests of
// device/hidkbd, device/hidpos and device/hid read it from their testdata
// (*.hex): the reports the scanner sent, in order, and what a decoder must
// make of them. The file is text:
//
//	# Free comment lines start with "#".
//	# layout: no                    keyboard mode: the scanner's layout, or
//	# format: hidpos                HID POS mode: the report format
//	# want: "https://qr…" ]Q1       a scan, Go-quoted, then its symbology if any
//	# unknown: 2                    a decoder's count (unknown, other,
//	                                malformed, dropped); 0 when absent
//	00 00 0b 00 00 00 00 00  # 'h'  one report a line, in hex; "#" ends it
//
// A header is a comment whose first word is lower-case and ends in a
// colon; an unknown one is an error, so that a misspelt header is not
// taken for a comment. A fixture has a layout or a format, not both.
type Fixture struct {
	Layout  string            // the keyboard layout, keyboard mode
	Format  string            // the report format, HID POS mode
	Want    []Want            // the scans, in order
	Counts  map[string]uint64 // the decoder's counts, by name
	Reports [][]byte          // the reports, in order
}

// A Want is a scan a fixture's reports make.
type Want struct {
	Data      string
	Symbology string // "" when the format has none
}

// String is the want header's value: the data Go-quoted, then the
// symbology if any.
func (w Want) String() string {
	if w.Symbology == "" {
		return strconv.Quote(w.Data)
	}
	return strconv.Quote(w.Data) + " " + w.Symbology
}

// Counters are the names a count header may have.
var Counters = []string{"unknown", "other", "malformed", "dropped"}

// header is a comment that is a header: "# key: value".
var header = regexp.MustCompile(`^#\s*([a-z]+):\s*(.*?)\s*$`)

// ReadFixture reads the fixture at path; a file that is not one fails the
// test, naming the line.
func ReadFixture(t testing.TB, path string) Fixture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fx, err := ParseFixture(data)
	if err != nil {
		t.Fatalf("%s:%v", path, err)
	}
	return fx
}

// ParseFixture parses a fixture's text. Its errors start with the line's
// number.
func ParseFixture(data []byte) (Fixture, error) {
	fx := Fixture{Counts: map[string]uint64{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			if m := header.FindStringSubmatch(line); m != nil {
				if err := fx.setHeader(m[1], m[2]); err != nil {
					return Fixture{}, fmt.Errorf("%d: %w", n, err)
				}
			}
			continue
		}
		line, _, _ = strings.Cut(line, "#")
		line = strings.Join(strings.Fields(line), "")
		if line == "" {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			return Fixture{}, fmt.Errorf("%d: a report: %w", n, err)
		}
		fx.Reports = append(fx.Reports, b)
	}
	if err := sc.Err(); err != nil {
		return Fixture{}, fmt.Errorf("%d: %w", n, err)
	}
	if (fx.Layout == "") == (fx.Format == "") {
		return Fixture{}, fmt.Errorf("%d: a fixture needs a layout or a format header, not both", n)
	}
	return fx, nil
}

func (fx *Fixture) setHeader(key, value string) error {
	switch {
	case key == "layout" || key == "format":
		field := &fx.Layout
		if key == "format" {
			field = &fx.Format
		}
		if *field != "" || value == "" {
			return fmt.Errorf("%s %q: one, not empty", key, value)
		}
		*field = value
	case key == "want":
		q, err := strconv.QuotedPrefix(value)
		if err != nil {
			return fmt.Errorf("want %s: not a Go-quoted string: %w", value, err)
		}
		s, _ := strconv.Unquote(q)
		sym := strings.TrimSpace(value[len(q):])
		if strings.ContainsAny(sym, " \t") {
			return fmt.Errorf("want %s: more than a symbology after the data", value)
		}
		fx.Want = append(fx.Want, Want{Data: s, Symbology: sym})
	case slices.Contains(Counters, key):
		if _, ok := fx.Counts[key]; ok {
			return fmt.Errorf("%s: twice", key)
		}
		c, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		fx.Counts[key] = c
	default:
		return fmt.Errorf("unknown header %q (layout, format, want, %s)", key, strings.Join(Counters, ", "))
	}
	return nil
}

// Headers is the fixture's header lines, as ParseFixture reads them: for
// the writers of generated fixtures.
func (fx Fixture) Headers() string {
	var b strings.Builder
	if fx.Layout != "" {
		fmt.Fprintf(&b, "# layout: %s\n", fx.Layout)
	}
	if fx.Format != "" {
		fmt.Fprintf(&b, "# format: %s\n", fx.Format)
	}
	for _, w := range fx.Want {
		fmt.Fprintf(&b, "# want: %s\n", w)
	}
	for _, k := range Counters {
		if c, ok := fx.Counts[k]; ok {
			fmt.Fprintf(&b, "# %s: %d\n", k, c)
		}
	}
	return b.String()
}

// CheckCounts reports a count of the fixture that is not among names, the
// counts a decoder has: a header the test would otherwise ignore.
func (fx Fixture) CheckCounts(names ...string) error {
	for k := range fx.Counts {
		if !slices.Contains(names, k) {
			return fmt.Errorf("the fixture counts %s; the decoder counts %s", k, strings.Join(names, ", "))
		}
	}
	return nil
}
