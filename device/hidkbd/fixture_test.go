package hidkbd

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated fixtures testdata/reports/gen-*.hex from Encode")

// A fixture is a recording of a keyboard-mode scanner: one report a line in
// hex, "#" starts a comment, and header comments say what to expect:
//
//	# layout: no
//	# want: "https://qr.vipps.no/..."   (one line per scan, Go-quoted)
//	# unknown: 2                         (optional: Stats.Unknown, and so on
//	# malformed: 1                        for malformed and dropped)
//
// The files gen-LAYOUT-*.hex are written by Encode (go test -update); the
// others are written by hand for the edge cases.
type fixture struct {
	layout  string
	want    []string
	stats   map[string]uint64
	reports [][]byte
}

func readFixture(t *testing.T, path string) fixture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fx := fixture{stats: map[string]uint64{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			k, v, ok := strings.Cut(strings.TrimSpace(rest), ":")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			switch k {
			case "layout":
				fx.layout = v
			case "want":
				s, err := strconv.Unquote(v)
				if err != nil {
					t.Fatalf("%s:%d: want %s: %v", path, n, v, err)
				}
				fx.want = append(fx.want, s)
			case "unknown", "malformed", "dropped":
				c, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					t.Fatalf("%s:%d: %v", path, n, err)
				}
				fx.stats[k] = c
			}
			continue
		}
		line, _, _ = strings.Cut(line, "#")
		line = strings.ReplaceAll(line, " ", "")
		if line == "" {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		fx.reports = append(fx.reports, b)
	}
	if fx.layout == "" {
		t.Fatalf("%s: no layout", path)
	}
	return fx
}

// writeFixture writes the reports that type text in layout l.
func writeFixture(path string, l *Layout, text string) error {
	reports, err := Encode(l, text+"\n")
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by Encode (go test ./device/hidkbd -run TestFixtures -update): a\n")
	fmt.Fprintf(&b, "# keyboard-mode scanner set to layout %q typing a code and Enter.\n", l.name)
	fmt.Fprintf(&b, "# layout: %s\n# want: %s\n", l.name, strconv.Quote(text))
	i := 0
	for _, r := range text + "\n" {
		strokes, _ := l.strokes(r)
		for range strokes {
			fmt.Fprintf(&b, "% x  # %q\n", reports[i][:], r)
			fmt.Fprintf(&b, "% x\n", reports[i+1][:])
			i += 2
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func TestFixtures(t *testing.T) {
	codes := map[string]string{"clear": vippsClear, "token": vippsToken}
	if *update {
		for _, name := range Layouts {
			l, _ := LayoutByName(name)
			for kind, text := range codes {
				if err := writeFixture(filepath.Join("testdata", "reports", "gen-"+name+"-"+kind+".hex"), l, text); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	files, err := filepath.Glob("testdata/reports/*.hex")
	if err != nil || len(files) < 2*len(Layouts) {
		t.Fatalf("%d fixtures (%v); go test -update writes the generated ones", len(files), err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			fx := readFixture(t, path)
			l, err := LayoutByName(fx.layout)
			if err != nil {
				t.Fatal(err)
			}
			d := NewDecoder(l)
			var got []string
			for _, r := range fx.reports {
				got = append(got, d.Feed(r)...)
			}
			if strings.Join(got, "\x00") != strings.Join(fx.want, "\x00") || len(got) != len(fx.want) {
				t.Errorf("decoded %q, want %q", got, fx.want)
			}
			st := d.Stats()
			for k, v := range map[string]uint64{"unknown": st.Unknown, "malformed": st.Malformed, "dropped": st.Dropped} {
				if v != fx.stats[k] {
					t.Errorf("%s = %d, want %d", k, v, fx.stats[k])
				}
			}
			if strings.HasPrefix(filepath.Base(path), "gen-") {
				// The recording still matches what Encode types.
				want, err := Encode(l, fx.want[0]+"\n")
				if err != nil {
					t.Fatal(err)
				}
				if len(want) != len(fx.reports) {
					t.Fatalf("Encode gives %d reports, the fixture has %d: run go test -update", len(want), len(fx.reports))
				}
				for i := range want {
					if !bytes.Equal(want[i][:], fx.reports[i]) {
						t.Fatalf("report %d: Encode gives % x, the fixture % x: run go test -update", i, want[i][:], fx.reports[i])
					}
				}
			}
		})
	}
}
