package hil

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/device"
)

// scannersConfig names the three emulated scanners the way a store would:
// by USB identity, which survives unplug and replug. Both HID scanners run
// in auto mode: the keyboard must be found a keyboard, the gadget a HID
// POS scanner, from the usage pages of their report descriptors (which
// the static tillbox reads in sysfs), and the gadget is matched with its
// serial number (a USB string, read in sysfs too).
const scannersConfig = `
[[scanner]]
name = "keyboard"
driver = "hid"
match = "` + kbdID + `"
mode = "auto"
layout = "no"

[[scanner]]
name = "serial"
driver = "serial"
match = "` + serialID + `"
baud = 9600
terminator = "CR"

[[scanner]]
name = "hidpos"
driver = "hid"
match = "` + posID + `"
mode = "auto"
`

// autoModes are the modes auto mode must find for the HID scanners.
var autoModes = map[string]string{"keyboard": "auto: keyboard, no", "hidpos": "auto: hidpos"}

// acmScanner is the gadget's CDC-ACM port, a serial scanner found by its
// serial number too (the serial driver reads USB identities from sysfs).
const acmScanner = `
[[scanner]]
name = "acm"
driver = "serial"
match = "` + posID + `"
terminator = "CR"
`

// codes are the personal QR codes scanned in rounds 0, 1, 2 (round 1 is a
// tokenised code of one of the simulator's users, with upper-case letters:
// Shift on the keyboard).
var codes = []string{
	"https://qr.vipps.no/28/2/01/031/4712345678?v=1",
	"https://qr.vipps.no/p/Lm3Vb8Qw1Zx6Pd0K",
	"https://qr.vipps.no/28/2/01/031/4791234567?v=1",
}

// emulatedScanner is one of the box's emulated scanners, driven from the
// host.
type emulatedScanner struct {
	name   string
	scan   func(ctx context.Context, code string) error
	unplug func(ctx context.Context) error
	plug   func(ctx context.Context) error
}

// TestScanners is the hardware-in-the-loop test proper: tillbox runs in the
// emulated box with the three scanners configured; for each, a sale is
// created through the POS API, a personal QR code is scanned on the
// scanner, and the simulator must receive the sale's createPayment with
// exactly that code as personalQr. Then the scanner is unplugged and
// plugged back, twice, and a scan must still arrive each time, with the
// scanner's reconnect count in /api/v1/status going up by one per replug,
// without restarting tillbox.
func TestScanners(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r := startRig(t, ctx, scannersConfig+acmScanner)
	m := r.m

	var serialConn net.Conn
	t.Cleanup(func() {
		if serialConn != nil {
			serialConn.Close()
		}
	})
	scanners := []emulatedScanner{{
		name: "keyboard",
		scan: func(ctx context.Context, code string) error { return m.typeText(ctx, "no", code+"\n") },
		unplug: func(ctx context.Context) error {
			n := m.qmp.eventCount()
			if _, err := m.qmp.execute(ctx, "device_del", map[string]any{"id": "kbd"}); err != nil {
				return err
			}
			return m.qmp.waitEvent(ctx, n, "DEVICE_DELETED", func(d json.RawMessage) bool {
				var v struct {
					Device string `json:"device"`
				}
				return json.Unmarshal(d, &v) == nil && v.Device == "kbd"
			})
		},
		plug: func(ctx context.Context) error {
			_, err := m.qmp.execute(ctx, "device_add", map[string]any{"driver": "usb-kbd", "id": "kbd", "bus": "xhci.0"})
			return err
		},
	}, {
		name: "serial",
		scan: func(ctx context.Context, code string) error {
			_, err := serialConn.Write([]byte(code + "\r"))
			return err
		},
		unplug: func(context.Context) error {
			err := serialConn.Close()
			serialConn = nil
			return err
		},
		plug: func(ctx context.Context) error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", m.serial)
			serialConn = c
			return err
		},
	}, {
		name: "hidpos",
		scan: func(ctx context.Context, code string) error {
			_, err := m.guest(ctx, "hidpos "+code)
			return err
		},
		unplug: func(ctx context.Context) error { _, err := m.guest(ctx, "udc unbind"); return err },
		plug:   func(ctx context.Context) error { _, err := m.guest(ctx, "udc bind"); return err },
	}, {
		name: "acm",
		scan: func(ctx context.Context, code string) error {
			_, err := m.guest(ctx, "acm "+code)
			return err
		},
		unplug: func(ctx context.Context) error { _, err := m.guest(ctx, "udc unbind"); return err },
		plug:   func(ctx context.Context) error { _, err := m.guest(ctx, "udc bind"); return err },
	}}

	for _, sc := range scanners {
		t.Run(sc.name, func(t *testing.T) {
			// A subtest that fails between an unplug and the replug
			// plugs its scanner back in, so that the next ones find
			// theirs (hidpos and acm are one gadget). Its sale, if
			// unfinished, is cancelled by newSale's cleanup.
			plugged := true
			t.Cleanup(func() {
				if plugged {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				if err := sc.plug(ctx); err != nil {
					t.Errorf("%s: plugging back in at the end of the test: %v", sc.name, err)
					return
				}
				t.Logf("%s: the test ended with it unplugged: plugged it back in", sc.name)
			})
			if sc.name == "serial" {
				// The USB-serial adapter is there only while its socket
				// is connected: plug it in first.
				if err := sc.plug(ctx); err != nil {
					t.Fatal(err)
				}
			}
			st := r.waitScanner(ctx, t, sc.name, "connected", func(s device.Status) bool { return s.Connected })
			// Before any report came, auto mode knows from the usage page
			// (tillbox started once the kernel had set up both devices).
			if want, ok := autoModes[sc.name]; ok && st.Mode != want {
				t.Errorf("%s: mode %q before the first scan, want %q: the usage page was not read", sc.name, st.Mode, want)
			}
			if sc.name == "hidpos" && (st.SerialNumber != "HIL0001" || st.Product != "HID POS scanner" || st.Manufacturer != "tillbox HIL") {
				t.Errorf("hidpos: status %+v lacks the gadget's USB strings", st)
			}
			for round, code := range codes {
				what := fmt.Sprintf("%s, round %d", sc.name, round)
				if round > 0 {
					plugged = false
					if err := sc.unplug(ctx); err != nil {
						t.Fatalf("%s: unplugging: %v", what, err)
					}
					r.waitScanner(ctx, t, sc.name, "lost after the unplug", func(s device.Status) bool { return !s.Connected })
					// The first replug comes at once, while tillbox still
					// looks for the scanner every few seconds; before the
					// last one it has stopped looking and waits for the
					// kernel's hotplug event, which must wake it.
					hotplug := round == len(codes)-1
					found := m.logged(msgFound, sc.name)
					if hotplug {
						r.waitLogged(ctx, t, msgWaiting, sc.name, m.logged(msgWaiting, sc.name)+1)
					}
					if err := sc.plug(ctx); err != nil {
						t.Fatalf("%s: plugging back: %v", what, err)
					}
					plugged = true
					prev := st.Reconnects
					st = r.waitScanner(ctx, t, sc.name, "connected again", func(s device.Status) bool { return s.Connected })
					if st.Reconnects != prev+1 {
						t.Errorf("%s: reconnects went from %d to %d after one replug, want %d", what, prev, st.Reconnects, prev+1)
					}
					if hotplug && m.logged(msgFound, sc.name) <= found {
						t.Errorf("%s: the log does not say %q: the replug was not seen through the kernel's uevents", what, msgFound)
					}
				}
				ref := r.newSale(ctx, t, what)
				if err := sc.scan(ctx, code); err != nil {
					t.Fatalf("%s: scanning: %v", what, err)
				}
				r.expectPayment(ctx, t, what, ref, code)
				scans := st.Scans
				st = r.waitScanner(ctx, t, sc.name, "counting the scan", func(s device.Status) bool { return s.Scans > scans })
				if st.Scans != scans+1 || !st.Connected {
					t.Errorf("%s: scanner status after one scan: %+v, want %d scans and connected", what, st, scans+1)
				}
				if want, ok := autoModes[sc.name]; ok && st.Mode != want {
					t.Errorf("%s: mode %q, want %q", what, st.Mode, want)
				}
			}
		})
	}
}

// scannerStatuses reads the scanners' part of GET /api/v1/status.
func (r *rig) scannerStatuses(ctx context.Context) ([]device.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.m.posURL+"/api/v1/status", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+posToken)
	resp, err := r.pos.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/status: %s", resp.Status)
	}
	var st struct {
		Scanners *[]device.Status `json:"scanners"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("GET /api/v1/status: %w", err)
	}
	if st.Scanners == nil {
		return nil, permanent(fmt.Errorf("GET /api/v1/status has no \"scanners\": this tillbox does not run the configured scanners"))
	}
	return *st.Scanners, nil
}

// waitScanner waits until the named scanner's status satisfies ok, and
// returns that status.
func (r *rig) waitScanner(ctx context.Context, t *testing.T, name, what string, ok func(device.Status) bool) device.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	var got device.Status
	if err := poll(ctx, "scanner "+name+" "+what, func() error {
		all, err := r.scannerStatuses(ctx)
		if err != nil {
			return err
		}
		var names []string
		for _, s := range all {
			names = append(names, s.Name)
			if s.Name == name {
				got = s
				if ok(s) {
					return nil
				}
				return fmt.Errorf("status %+v", s)
			}
		}
		return permanent(fmt.Errorf("no scanner %q in /api/v1/status (%s)", name, strings.Join(names, ", ")))
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// What tillbox logs while a missing scanner waits for a hotplug event
// (device/uevent), and when an event brought it back.
const (
	msgWaiting = "scanner missing: waiting for a hotplug event"
	msgFound   = "scanner found after a hotplug event"
)

// logged counts the lines of tillbox's log on the guest's console with
// message msg about the named scanner.
func (m *machine) logged(msg, scanner string) int {
	n := 0
	for _, l := range strings.Split(m.console.String(), "\n") {
		if strings.Contains(l, `msg="`+msg+`"`) && strings.Contains(l+" ", " scanner="+scanner+" ") {
			n++
		}
	}
	return n
}

// waitLogged waits until tillbox has logged msg about the named scanner n
// times.
func (r *rig) waitLogged(ctx context.Context, t *testing.T, msg, scanner string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	if err := poll(ctx, fmt.Sprintf("%q logged for scanner %s", msg, scanner), func() error {
		if got := r.m.logged(msg, scanner); got < n {
			return fmt.Errorf("logged %d times, want %d", got, n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
