package hil

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/device/hidkbd"
	"github.com/tillbox/tillbox/device/hidpos"
)

// TestRigProbes proves the rig itself, with tillbox running but no
// scanner configured: the guest's own probes (hilguest reading hidraw and
// the serial port) see exactly what the host typed or sent on each
// emulated device, before and after each is unplugged and plugged back;
// and a scan posted to the POS API becomes a createPayment at the host's
// simulator, so both QEMU forwards work.
func TestRigProbes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	r := startRig(t, ctx, "")
	m := r.m

	usb, err := m.guest(ctx, "usb")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"0627:0001", "1d6b:0104"} {
		if !strings.Contains(strings.Join(usb, "\n"), want) {
			t.Fatalf("the guest does not see USB device %s:\n%s", want, strings.Join(usb, "\n"))
		}
	}

	t.Run("devices", func(t *testing.T) { checkDevices(ctx, t, m) })

	t.Run("proc", func(t *testing.T) {
		// What BenchmarkIdleArm64 reads: tillbox's memory and CPU time.
		p, err := r.proc(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p["pid"] <= 1 || p["VmRSS"] < 1024 || p["VmHWM"] < p["VmRSS"] || p["uptime"] <= 0 {
			t.Errorf("proc tillbox: %v", p)
		}
	})

	t.Run("network", func(t *testing.T) {
		ref := r.newSale(ctx, t, "posted scan")
		res, err := r.pos.Scan(ctx, personalQR)
		if err != nil {
			t.Fatalf("POST /api/v1/scans: %v", err)
		}
		if res.Outcome != "bound" || res.Reference != ref {
			t.Fatalf("scan: %+v, want bound to %s", res, ref)
		}
		r.expectPayment(ctx, t, "posted scan", ref, personalQR)
	})

	t.Run("isolation", func(t *testing.T) {
		// The forward to the simulator works; the host's loopback is not
		// reachable otherwise (restrict=on), not even the simulator's own
		// port through the host's address in the user network.
		_, simPort, _ := net.SplitHostPort(r.simAddr)
		for addr, want := range map[string]string{
			"10.0.2.100:8090":     "connected",
			"10.0.2.2:" + simPort: "failed",
			"10.0.2.3:53":         "failed",
		} {
			// hilguest's dial has no time limit of its own: what the
			// user network does not forward is refused at once.
			dctx, cancel := context.WithTimeout(ctx, waitLimit)
			got, err := m.guest(dctx, "dial "+addr)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("from the guest, dial %s: %q", addr, got)
			if len(got) != 1 || !strings.HasPrefix(got[0], want) {
				t.Errorf("from the guest, dial %s: %q, want %s", addr, got, want)
			}
		}
	})

	t.Run("keyboard", func(t *testing.T) {
		for round := range 3 {
			if round > 0 {
				replugKeyboard(ctx, t, m)
			}
			if got := probeKeyboard(ctx, t, m, "no", personalQR); got != personalQR {
				t.Fatalf("round %d: the guest's hidraw decoded %q in the Norwegian layout, want %q", round, got, personalQR)
			}
		}
	})

	t.Run("serial", func(t *testing.T) {
		for round := range 3 {
			if got := probeSerial(ctx, t, m, personalQR); got != personalQR {
				t.Fatalf("round %d: the guest's ttyUSB0 read %q, want %q", round, got, personalQR)
			}
		}
	})

	t.Run("hidpos", func(t *testing.T) {
		for round := range 3 {
			if round > 0 {
				replugGadget(ctx, t, m)
			}
			if got := probeHIDPOS(ctx, t, m, personalQR); got != personalQR {
				t.Fatalf("round %d: the guest's hidraw decoded %q from the HID POS gadget, want %q", round, got, personalQR)
			}
		}
	})
}

// hidrawOf waits for the hidraw node of the USB device vid:pid.
func hidrawOf(ctx context.Context, t *testing.T, m *machine, id string) string {
	t.Helper()
	vid, pid, _ := strings.Cut(id, ":")
	pid, _, _ = strings.Cut(pid, ":")
	var path string
	if err := poll(ctx, "a hidraw node for "+id, func() error {
		lines, err := m.guest(ctx, "hidraw "+vid+" "+pid)
		if err != nil {
			return err
		}
		path = lines[0]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return path
}

// probeKeyboard types text and Enter in layout on the emulated keyboard
// and returns what the guest's hidraw reports decode to in that layout.
func probeKeyboard(ctx context.Context, t *testing.T, m *machine, layout, text string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	path := hidrawOf(ctx, t, m, kbdID)
	s, err := m.guestOpen(ctx, "read "+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	// A failed typing (keys dropped) ends the reading at once.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	typed := make(chan error, 1)
	go func() {
		err := m.typeText(ctx, layout, text+"\n")
		if err != nil {
			stopReading()
		}
		typed <- err
	}()
	l, _ := hidkbd.LayoutByName(layout)
	dec := hidkbd.NewDecoder(l)
	var scans []string
	for len(scans) == 0 {
		line, err := s.next(readCtx)
		if err != nil {
			select {
			case terr := <-typed:
				if terr != nil {
					t.Fatal(terr)
				}
			default:
			}
			t.Fatalf("reading %s in the guest: %v", path, err)
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("reading %s in the guest: %s", path, line)
		}
		scans = dec.Feed(b)
	}
	if err := <-typed; err != nil {
		t.Fatal(err)
	}
	return scans[0]
}

// replugKeyboard unplugs the emulated keyboard (QMP device_del, waiting
// for the guest to let it go) and plugs a new one in its place.
func replugKeyboard(ctx context.Context, t *testing.T, m *machine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	n := m.qmp.eventCount()
	if _, err := m.qmp.execute(ctx, "device_del", map[string]any{"id": "kbd"}); err != nil {
		t.Fatal(err)
	}
	if err := m.qmp.waitEvent(ctx, n, "DEVICE_DELETED", func(d json.RawMessage) bool {
		var v struct {
			Device string `json:"device"`
		}
		return json.Unmarshal(d, &v) == nil && v.Device == "kbd"
	}); err != nil {
		t.Fatal(err)
	}
	waitUSBGone(ctx, t, m, kbdID)
	if _, err := m.qmp.execute(ctx, "device_add", map[string]any{"driver": "usb-kbd", "id": "kbd", "bus": "xhci.0"}); err != nil {
		t.Fatal(err)
	}
}

// probeSerial plugs the USB-serial adapter (connects to its chardev
// socket), sends text and CR, and returns what the guest read on
// /dev/ttyUSB0 up to the CR; then unplugs it (closes the socket).
func probeSerial(ctx context.Context, t *testing.T, m *machine, text string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	var d net.Dialer
	plug, err := d.DialContext(ctx, "unix", m.serial)
	if err != nil {
		t.Fatalf("plugging the USB-serial adapter: %v", err)
	}
	defer func() {
		// Unplug, and wait until the guest has let the adapter go, so
		// that the next plug is not mistaken for this one.
		plug.Close()
		waitUSBGone(ctx, t, m, serialID)
	}()
	var s *guestStream
	if err := poll(ctx, "/dev/ttyUSB0 in the guest", func() error {
		s, err = m.guestOpen(ctx, "serial /dev/ttyUSB0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := plug.Write([]byte(text + "\r")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for {
		line, err := s.next(ctx)
		if err != nil {
			t.Fatalf("reading /dev/ttyUSB0 in the guest: %v (so far %q)", err, got)
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("reading /dev/ttyUSB0 in the guest: %s", line)
		}
		got = append(got, b...)
		if i := strings.IndexByte(string(got), '\r'); i >= 0 {
			return string(got[:i])
		}
	}
}

// probeHIDPOS sends text as HID POS reports from the gadget and returns
// what the guest's hidraw reports of it decode to.
func probeHIDPOS(ctx context.Context, t *testing.T, m *machine, text string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	path := hidrawOf(ctx, t, m, posID)
	s, err := m.guestOpen(ctx, "read "+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	sent := make(chan error, 1)
	go func() { _, err := m.guest(ctx, "hidpos "+text); sent <- err }()
	dec, err := hidpos.NewDecoder(hidpos.Standard)
	if err != nil {
		t.Fatal(err)
	}
	for {
		line, err := s.next(ctx)
		if err != nil {
			t.Fatalf("reading %s in the guest: %v", path, err)
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("reading %s in the guest: %s", path, line)
		}
		if scan, ok := dec.Feed(b); ok {
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if scan.Symbology != "]Q1" {
				t.Errorf("HID POS symbology %q, want ]Q1", scan.Symbology)
			}
			return string(scan.Data)
		}
	}
}

// replugGadget unplugs the HID POS gadget (an empty UDC) and plugs it in
// again.
func replugGadget(ctx context.Context, t *testing.T, m *machine) {
	t.Helper()
	if _, err := m.guest(ctx, "udc unbind"); err != nil {
		t.Fatal(err)
	}
	waitUSBGone(ctx, t, m, posID)
	if _, err := m.guest(ctx, "udc bind"); err != nil {
		t.Fatal(err)
	}
}

// waitUSBGone waits until the guest no longer lists the USB device id
// (VID:PID[:SERIAL]), so that what is plugged next is not mistaken for it.
func waitUSBGone(ctx context.Context, t *testing.T, m *machine, id string) {
	t.Helper()
	vidpid := strings.Join(strings.SplitN(id, ":", 3)[:2], ":")
	if err := poll(ctx, "the guest to see "+vidpid+" unplugged", func() error {
		usb, err := m.guest(ctx, "usb")
		if err != nil {
			return err
		}
		if l := strings.Join(usb, "\n"); strings.Contains(l, " "+vidpid+" ") {
			return fmt.Errorf("still there:\n%s", l)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// checkDevices runs `tillbox devices --json` in the guest, where nothing
// holds the emulated devices, and checks that the static tillbox lists the
// keyboard and the gadget's HID POS interface with their USB strings (read
// in sysfs: the bundled hidapi reads none in a static build) and their
// usage pages (from the report descriptors in sysfs), and the gadget's
// CDC-ACM port beside them.
func checkDevices(ctx context.Context, t *testing.T, m *machine) {
	lines, err := m.guest(ctx, "devices")
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join(lines, "\n")
	t.Logf("tillbox devices --json in the guest:\n%s", out)
	type hidDevice struct {
		VID, PID                            uint16
		SerialNumber, Manufacturer, Product string
		UsagePage, Usage                    uint16
		KernelDriver, Kind, Match, Mode     string
	}
	var list struct {
		Serial []struct {
			Path         string
			VID, PID     uint16
			SerialNumber string
			Match        string
		}
		HID      []hidDevice
		HIDError string
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("tillbox devices --json: %v", err)
	}
	if list.HIDError != "" {
		t.Fatalf("tillbox devices: %s", list.HIDError)
	}
	want := map[string]hidDevice{
		kbdID: {VID: 0x0627, PID: 0x0001, Manufacturer: "QEMU", Product: "QEMU USB Keyboard", UsagePage: 0x01, Usage: 0x06,
			KernelDriver: "usbhid", Kind: "keyboard", Mode: "keyboard"},
		posID: {VID: 0x1d6b, PID: 0x0104, SerialNumber: "HIL0001", Manufacturer: "tillbox HIL", Product: "HID POS scanner",
			UsagePage: 0x8c, Usage: 0x02, KernelDriver: "usbhid", Kind: "HID POS", Mode: "hidpos", Match: posID},
	}
	for id, w := range want {
		var found []hidDevice
		for _, d := range list.HID {
			if fmt.Sprintf("%04x:%04x", d.VID, d.PID) == id[:9] {
				found = append(found, d)
			}
		}
		if len(found) != 1 {
			t.Errorf("%s: %d HID interfaces listed, want 1", id, len(found))
			continue
		}
		got := found[0]
		if w.Match == "" { // QEMU gives the keyboard a serial number of its own
			w.SerialNumber, w.Match = got.SerialNumber, got.Match
			if got.SerialNumber == "" || got.Match != kbdID+":"+got.SerialNumber {
				t.Errorf("%s: serial number %q, match %q", id, got.SerialNumber, got.Match)
			}
		}
		if got != w {
			t.Errorf("%s:\n got %+v\nwant %+v", id, got, w)
		}
	}
	acm := false
	for _, p := range list.Serial {
		acm = acm || (p.Path == "/dev/ttyACM0" && p.Match == posID)
	}
	if !acm {
		t.Errorf("no /dev/ttyACM0 matching %s among the serial ports %+v", posID, list.Serial)
	}
}
