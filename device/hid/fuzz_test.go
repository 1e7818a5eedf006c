package hid

import (
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/devicetest"
)

// FuzzAutoDecoder feeds arbitrary reports to the decoder of auto mode
// (whose first report picks keyboard or HID POS): it never panics, and
// every scan is non-empty and within device.MaxScan; in keyboard mode it is
// UTF-8. The input is a sequence of reports, each a length byte and that
// many bytes. The decoders themselves are fuzzed in device/hidkbd and
// device/hidpos.
func FuzzAutoDecoder(f *testing.F) {
	for _, dir := range []string{"../hidkbd/testdata/reports", "../hidpos/testdata/reports"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.hex"))
		for _, file := range files {
			var in []byte
			for _, r := range devicetest.ReadFixture(f, file).Reports {
				in = append(in, byte(len(r)))
				in = append(in, r...)
			}
			f.Add(in, uint8(0))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, page uint8) {
		info := device.HIDDevice{VID: 1, PID: 1}
		if page%3 == 1 {
			info.UsagePage = device.UsagePagePOS
		}
		d, err := newDecoder(ModeAuto, mustLayout(t, "no"), info)
		if err != nil {
			t.Fatal(err)
		}
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			report := in[1 : 1+n]
			in = in[1+n:]
			for _, sc := range d.feed(report) {
				if len(sc.data) == 0 || len(sc.data) > device.MaxScan {
					t.Fatalf("scan of %d bytes", len(sc.data))
				}
				if d.resolved == ModeKeyboard && !utf8.Valid(sc.data) {
					t.Fatalf("keyboard scan not UTF-8: %q", sc.data)
				}
			}
		}
		if n, _ := d.dropped(); n > d.kbd.Stats().Reports+d.pos.Stats().Reports {
			t.Fatalf("dropped %d of fewer reports", n)
		}
	})
}
