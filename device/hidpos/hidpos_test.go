package hidpos

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/devicetest"
)

var update = flag.Bool("update", false, "rewrite the generated fixtures testdata/reports/gen-*.hex from Encode")

const (
	vippsClear = "https://qr.vipps.no/28/2/01/031/4712345678?v=1"
	// vippsLong is a tokenised code long enough for three reports.
	vippsLong = "https://qr.vipps.no/p/eyJhbGciOiJFUzI1NiJ9.eyJ2IjoyLCJ0IjoxNzAwMDAwMDAwfQ.MEUCIQD-abc_XYZ~0123456789abcdefGHIJKLMNOPQRSTUV"
)

var formats = map[string]Format{"hidpos": Standard, "newland": Newland}

// The fixtures are recordings of a HID POS scanner in devicetest's format
// (devicetest.Fixture): a format header (hidpos or newland), the codes
// expected with their symbology, and the counts other, malformed and
// dropped when not 0.

func writeFixture(path string, f Format, data, sym string) error {
	reports, err := Encode(f, []byte(data), sym)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by Encode (go test ./device/hidpos -run TestFixtures -update):\n")
	fmt.Fprintf(&b, "# a scanner in HID POS mode, format %q, sending one code.\n", f.Name)
	b.WriteString(devicetest.Fixture{Format: f.Name, Want: []devicetest.Want{{Data: data, Symbology: sym}}}.Headers())
	for _, r := range reports {
		fmt.Fprintf(&b, "% x\n", r)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func TestFixtures(t *testing.T) {
	if *update {
		for _, g := range []struct {
			name      string
			f         Format
			data, sym string
		}{
			{"gen-hidpos-clear", Standard, vippsClear, "]Q1"},
			{"gen-hidpos-long", Standard, vippsLong, "]Q1"},
			{"gen-newland-clear", Newland, vippsClear, ""},
			{"gen-newland-112", Newland, vippsLong[:112], ""},
		} {
			if err := writeFixture(filepath.Join("testdata", "reports", g.name+".hex"), g.f, g.data, g.sym); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, _ := filepath.Glob("testdata/reports/*.hex")
	if len(files) < 8 {
		t.Fatalf("%d fixtures; go test -update writes the generated ones", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			fx := devicetest.ReadFixture(t, path)
			if err := fx.CheckCounts("other", "malformed", "dropped"); err != nil {
				t.Fatal(err)
			}
			f, ok := formats[fx.Format]
			if !ok {
				t.Fatalf("format %q", fx.Format)
			}
			d, err := NewDecoder(f)
			if err != nil {
				t.Fatal(err)
			}
			var got []devicetest.Want
			for _, r := range fx.Reports {
				if s, ok := d.Feed(r); ok {
					got = append(got, devicetest.Want{Data: string(s.Data), Symbology: s.Symbology})
				}
			}
			if !slices.Equal(got, fx.Want) {
				t.Errorf("decoded %s, want %s", got, fx.Want)
			}
			st := d.Stats()
			for k, v := range map[string]uint64{"other": st.Other, "malformed": st.Malformed, "dropped": st.Dropped} {
				if v != fx.Counts[k] {
					t.Errorf("%s = %d, want %d", k, v, fx.Counts[k])
				}
			}
			if strings.HasPrefix(filepath.Base(path), "gen-") {
				reports, _ := Encode(f, []byte(fx.Want[0].Data), fx.Want[0].Symbology)
				if fmt.Sprint(reports) != fmt.Sprint(fx.Reports) {
					t.Fatal("the recording no longer matches Encode: run go test -update")
				}
			}
		})
	}
}

func TestSplitOverReports(t *testing.T) {
	for _, f := range []Format{Standard, Newland} {
		for _, n := range []int{1, 55, 56, 57, 111, 112, 113, 500, device.MaxScan} {
			data := bytes.Repeat([]byte("x"), n)
			reports, err := Encode(f, data, "]Q1")
			if err != nil {
				t.Fatal(err)
			}
			wantReports := (n + 55) / 56
			if f.MoreAt < 0 && n%56 == 0 {
				wantReports++ // the empty report that ends a full one
			}
			if len(reports) != wantReports {
				t.Errorf("%s %d bytes: %d reports, want %d", f.Name, n, len(reports), wantReports)
			}
			d, _ := NewDecoder(f)
			var got []Scan
			for _, r := range reports {
				if s, ok := d.Feed(r); ok {
					got = append(got, s)
				}
			}
			if len(got) != 1 || !bytes.Equal(got[0].Data, data) {
				t.Errorf("%s %d bytes: got %d scans", f.Name, n, len(got))
			}
		}
	}
}

func TestOversize(t *testing.T) {
	d, _ := NewDecoder(Standard)
	big, _ := Encode(Standard, bytes.Repeat([]byte("y"), device.MaxScan+1), "]Q1")
	next, _ := Encode(Standard, []byte(vippsClear), "]Q1")
	var got []Scan
	for _, r := range append(big, next...) {
		if s, ok := d.Feed(r); ok {
			got = append(got, s)
		}
	}
	if len(got) != 1 || string(got[0].Data) != vippsClear || d.Stats().Dropped != 1 {
		t.Fatalf("got %d scans, dropped %d", len(got), d.Stats().Dropped)
	}
}

func TestFlushAndReset(t *testing.T) {
	d, _ := NewDecoder(Newland)
	reports, _ := Encode(Newland, bytes.Repeat([]byte("z"), 56), "")
	if _, ok := d.Feed(reports[0]); ok {
		t.Fatal("full Newland report ended the code")
	}
	s, ok := d.Flush()
	if !ok || len(s.Data) != 56 {
		t.Fatalf("Flush = %d bytes, %v", len(s.Data), ok)
	}
	if _, ok := d.Flush(); ok {
		t.Fatal("second Flush")
	}
	d.Feed(reports[0])
	d.Reset()
	if s, ok := d.Feed(reports[1]); ok {
		t.Fatalf("code after Reset: %q", s.Data)
	}
}

func TestSymbology(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"]Q1", "]Q1"}, {"]E0", "]E0"}, {"\x00\x00\x00", ""}, {"Q1]", ""}, {"]\x00\x00", ""}, {"] 1", ""},
	} {
		if got := aim([]byte(tc.in)); got != tc.want {
			t.Errorf("aim(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScanOwnsBytes(t *testing.T) {
	d, _ := NewDecoder(Standard)
	r, _ := Encode(Standard, []byte("first"), "")
	s, _ := d.Feed(r[0])
	r2, _ := Encode(Standard, []byte("XXXXX"), "")
	d.Feed(r2[0])
	if string(s.Data) != "first" {
		t.Fatalf("scan changed: %q", s.Data)
	}
}

func TestBadFormats(t *testing.T) {
	for _, f := range []Format{
		{},
		{Name: "small", ReportID: 2, Size: 8, LengthAt: 1, DataAt: 2, DataMax: 56},
		{Name: "flag", ReportID: 2, Size: 64, LengthAt: 1, DataAt: 2, DataMax: 56, MoreAt: 64, MoreMask: 1, SymbologyAt: -1},
		{Name: "mask", ReportID: 2, Size: 64, LengthAt: 1, DataAt: 2, DataMax: 56, MoreAt: 63, SymbologyAt: -1},
	} {
		if _, err := NewDecoder(f); err == nil {
			t.Errorf("format %+v accepted", f)
		}
		if _, err := Encode(f, nil, ""); err == nil {
			t.Errorf("Encode with format %+v accepted", f)
		}
	}
}

// FuzzDecoder feeds arbitrary reports: no panic, no empty or oversize code.
// A second decoder gets the reports split at the fuzzer's chosen size, as a
// device with shorter reports would send them.
func FuzzDecoder(f *testing.F) {
	for _, data := range []string{vippsClear, vippsLong} {
		reports, _ := Encode(Standard, []byte(data), "]Q1")
		f.Add(bytes.Join(reports, nil), uint8(64), false)
	}
	f.Add([]byte{2, 57, 0, 0, 0, 1, 2, 3}, uint8(8), true)
	f.Add([]byte{2, 56}, uint8(2), true)
	f.Fuzz(func(t *testing.T, in []byte, size uint8, newland bool) {
		format := Standard
		if newland {
			format = Newland
		}
		d, _ := NewDecoder(format)
		d.max = 200
		n := int(size)%70 + 1
		check := func(s Scan) {
			if len(s.Data) == 0 || len(s.Data) > d.max {
				t.Fatalf("code of %d bytes", len(s.Data))
			}
			if s.Symbology != "" && (len(s.Symbology) != 3 || s.Symbology[0] != ']') {
				t.Fatalf("symbology %q", s.Symbology)
			}
		}
		for len(in) > 0 {
			k := min(n, len(in))
			if s, ok := d.Feed(in[:k]); ok {
				check(s)
			}
			in = in[k:]
		}
		if s, ok := d.Flush(); ok {
			check(s)
		}
	})
}

// FuzzRoundTrip: any code, encoded into reports, decodes back whole.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(vippsLong), false)
	f.Add(bytes.Repeat([]byte{0}, 56), true)
	f.Fuzz(func(t *testing.T, data []byte, newland bool) {
		format := Standard
		if newland {
			format = Newland
		}
		if len(data) == 0 || len(data) > device.MaxScan {
			return
		}
		reports, err := Encode(format, data, "]Q1")
		if err != nil {
			t.Fatal(err)
		}
		d, _ := NewDecoder(format)
		var got []Scan
		for _, r := range reports {
			if s, ok := d.Feed(r); ok {
				got = append(got, s)
			}
		}
		if len(got) != 1 || !bytes.Equal(got[0].Data, data) {
			t.Fatalf("%d bytes: got %d codes", len(data), len(got))
		}
	})
}
