package hidkbd

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/device/devicetest"
)

var update = flag.Bool("update", false, "rewrite the generated fixtures testdata/reports/gen-*.hex from Encode")

// The fixtures are recordings of a keyboard-mode scanner in
// devicetest's format (devicetest.Fixture): a layout header, the scans
// expected, and the counts unknown, malformed and dropped when not 0.
//
// The files gen-LAYOUT-*.hex are written by Encode (go test -update); the
// others are written by hand for the edge cases.

// writeFixture writes the reports that type text in layout l.
func writeFixture(path string, l *Layout, text string) error {
	reports, err := Encode(l, text+"\n")
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by Encode (go test ./device/hidkbd -run TestFixtures -update): a\n")
	fmt.Fprintf(&b, "# keyboard-mode scanner set to layout %q typing a code and Enter.\n", l.name)
	b.WriteString(devicetest.Fixture{Layout: l.name, Want: []devicetest.Want{{Data: text}}}.Headers())
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
			fx := devicetest.ReadFixture(t, path)
			if err := fx.CheckCounts("unknown", "malformed", "dropped"); err != nil {
				t.Fatal(err)
			}
			l, err := LayoutByName(fx.Layout)
			if err != nil {
				t.Fatal(err)
			}
			d := NewDecoder(l)
			var got, scans []string
			for _, r := range fx.Reports {
				got = append(got, d.Feed(r)...)
			}
			for _, w := range fx.Want {
				if w.Symbology != "" {
					t.Errorf("want %s: keyboard mode has no symbology", w)
				}
				scans = append(scans, w.Data)
			}
			if strings.Join(got, "\x00") != strings.Join(scans, "\x00") || len(got) != len(scans) {
				t.Errorf("decoded %q, want %q", got, scans)
			}
			st := d.Stats()
			for k, v := range map[string]uint64{"unknown": st.Unknown, "malformed": st.Malformed, "dropped": st.Dropped} {
				if v != fx.Counts[k] {
					t.Errorf("%s = %d, want %d", k, v, fx.Counts[k])
				}
			}
			if strings.HasPrefix(filepath.Base(path), "gen-") {
				// The recording still matches what Encode types.
				want, err := Encode(l, fx.Want[0].Data+"\n")
				if err != nil {
					t.Fatal(err)
				}
				if len(want) != len(fx.Reports) {
					t.Fatalf("Encode gives %d reports, the fixture has %d: run go test -update", len(want), len(fx.Reports))
				}
				for i := range want {
					if !bytes.Equal(want[i][:], fx.Reports[i]) {
						t.Fatalf("report %d: Encode gives % x, the fixture % x: run go test -update", i, want[i][:], fx.Reports[i])
					}
				}
			}
		})
	}
}
