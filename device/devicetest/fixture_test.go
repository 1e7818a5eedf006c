package devicetest_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/device/devicetest"
)

func TestParseFixture(t *testing.T) {
	const text = `# Hand-made: a comment with a colon, then the headers.
# keyboard-mode scanner: free text too
# layout: no
# want: "a\"b" 
# want: "https://qr.vipps.no/x" ]Q1
#unknown: 2
# malformed:1
00 00 0b 00  00 00 00 00  # 'h'

00 00 00 00 00 00 00 00
02  # a short report
`
	fx, err := devicetest.ParseFixture([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := devicetest.Fixture{Layout: "no",
		Want:    []devicetest.Want{{Data: `a"b`}, {Data: "https://qr.vipps.no/x", Symbology: "]Q1"}},
		Counts:  map[string]uint64{"unknown": 2, "malformed": 1},
		Reports: [][]byte{{0, 0, 0x0b, 0, 0, 0, 0, 0}, make([]byte, 8), {2}}}
	if !reflect.DeepEqual(fx, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", fx, want)
	}
	// What Headers writes reads back the same.
	again, err := devicetest.ParseFixture([]byte(fx.Headers()))
	if err != nil || again.Layout != fx.Layout || !reflect.DeepEqual(again.Want, fx.Want) || !reflect.DeepEqual(again.Counts, fx.Counts) {
		t.Errorf("Headers:\n%s\nreads back as %+v (%v)", fx.Headers(), again, err)
	}
	if err := fx.CheckCounts("unknown", "malformed", "dropped"); err != nil {
		t.Error(err)
	}
	if err := fx.CheckCounts("other", "malformed", "dropped"); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("a count the decoder lacks: %v", err)
	}
}

// A file that is not a fixture is refused at the line that is wrong, never
// read as something else.
func TestParseFixtureRefuses(t *testing.T) {
	for _, tc := range []struct{ text, err string }{
		{"# format: hidpos\n# wnat: \"x\"\n", `2: unknown header "wnat"`},
		{"# format: hidpos\n# want: x\n", "2: want x: not a Go-quoted string"},
		{"# format: hidpos\n# want: \"x\" ]Q1 more\n", "2: want"},
		{"# format: hidpos\n# other: many\n", "2: other"},
		{"# format: hidpos\n# other: 1\n# other: 1\n", "3: other: twice"},
		{"# format: hidpos\n02 0g\n", "2: a report"},
		{"# format: hidpos\n02 0\n", "2: a report"},
		{"# layout: no\n# layout: us\n", "2: layout"},
		{"02 00\n", "1: a fixture needs a layout or a format"},
		{"# layout: no\n# format: hidpos\n", "2: a fixture needs a layout or a format header, not both"},
	} {
		_, err := devicetest.ParseFixture([]byte(tc.text))
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("%q: %v, want %q…", tc.text, err, tc.err)
		}
	}
}

// Every recording in the drivers' testdata is a fixture, with reports and
// at least one scan or count.
func TestDriverFixturesParse(t *testing.T) {
	files, err := filepath.Glob("../hid*/testdata/reports/*.hex")
	if err != nil || len(files) < 20 {
		t.Fatalf("%d fixtures (%v)", len(files), err)
	}
	for _, path := range files {
		fx := devicetest.ReadFixture(t, path)
		if len(fx.Reports) == 0 || len(fx.Want)+len(fx.Counts) == 0 {
			t.Errorf("%s: %d reports, %d scans, %d counts", path, len(fx.Reports), len(fx.Want), len(fx.Counts))
		}
	}
}
