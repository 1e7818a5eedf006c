package hil

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// idleFor is how long BenchmarkIdleArm64 watches the idle box.
const idleFor = 30 * time.Second

// BenchmarkIdleArm64 is the static arm64 tillbox idle on the emulated box,
// configured as a shop would: the three scanners plugged in, the customer
// display and the technician page served, the simulator reachable. Once it
// has served a minute (start-up and its first prune and reconciliation
// over), nothing happens for 30 s. From the guest kernel's /proc (hilguest
// "proc tillbox"): rss-MB is VmRSS at the end, peak-rss-MB VmHWM,
// idle-cpu-% the CPU time (user + system) over the guest's elapsed time.
//
// Memory is the arm64 binary's own. CPU time is not a Raspberry Pi's: QEMU
// emulates the CPU without KVM (TCG), many times slower, so the figure is a
// high bound of what the same work costs on real hardware. Goals (issue 6):
// RSS under 20 MB, CPU under 1 % of a core.
//
// "unplugged-serial" has the FTDI scanner configured but never plugged
// in: a box with a scanner missing must not poll for it (it waits for a
// hotplug event, device/uevent).
//
//	go test -run '^$' -bench IdleArm64 -benchtime 1x ./scripts/hil/
func BenchmarkIdleArm64(b *testing.B) {
	for _, bc := range []struct {
		name, scanners string
		unplugged      bool // the FTDI adapter stays unplugged
	}{
		{"no-scanners", "", false},
		{"hid-scanners", hidScanners, false},
		{"serial-scanners", serialScanners, false},
		{"all-scanners", scannersConfig + acmScanner, false},
		{"unplugged-serial", ftdiScanner, true},
	} {
		b.Run(bc.name, func(b *testing.B) { benchIdleArm64(b, bc.scanners, bc.unplugged) })
	}
}

func benchIdleArm64(b *testing.B, scanners string, unplugged bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	config := strings.Replace(boxConfig(scanners),
		"[display]\nlisten = \"\"\n\n[console]\nlisten = \"\"\n",
		"[display]\nlisten = \"127.0.0.1:8081\"\n\n[console]\nlisten = \"127.0.0.1:8082\"\n", 1)
	if !strings.Contains(config, "127.0.0.1:8082") {
		b.Fatal("boxConfig changed: the display and console sections were not found")
	}
	r := startRigWith(b, ctx, config)
	// The FTDI serial adapter is attached while its chardev is connected:
	// plug it in (unless it is to stay unplugged), and wait until every
	// configured scanner is open, or has been looked for.
	want := strings.Count(scanners, "[[scanner]]")
	wantOpen := want
	if unplugged {
		wantOpen = 0
	} else {
		var d net.Dialer
		serial, err := d.DialContext(ctx, "unix", r.m.serial)
		if err != nil {
			b.Fatal(err)
		}
		defer serial.Close()
	}
	if err := poll(ctx, "every scanner open or looked for", func() error {
		all, err := r.scannerStatuses(ctx)
		if err != nil {
			return err
		}
		open, missing := 0, 0
		for _, s := range all {
			if s.Connected {
				open++
			} else if s.LastError != "" {
				missing++
			}
		}
		if len(all) != want || open != wantOpen || open+missing != want {
			return fmt.Errorf("%d of %d open, %d looked for", open, len(all), missing)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var rss, hwm, cpu float64
	for b.Loop() {
		if err := r.waitUptime(ctx, time.Minute); err != nil {
			b.Fatal(err)
		}
		before, err := r.proc(ctx)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(idleFor)
		after, err := r.proc(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if after["pid"] != before["pid"] {
			b.Fatalf("tillbox restarted while idle: pid %v then %v", before["pid"], after["pid"])
		}
		ticks := (after["utime"] + after["stime"]) - (before["utime"] + before["stime"])
		elapsed := after["uptime"] - before["uptime"]
		cpu = ticks / 100 / elapsed * 100 // USER_HZ is 100 on arm64
		rss, hwm = after["VmRSS"]/1024, after["VmHWM"]/1024
		b.Logf("tillbox: utime %v stime %v ticks over %.1f s", after["utime"]-before["utime"], after["stime"]-before["stime"], elapsed)
	}
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(hwm, "peak-rss-MB")
	b.ReportMetric(cpu, "idle-cpu-%")
}

// The HID scanners alone (QEMU's keyboard and the HID POS gadget) and the
// serial ones alone (the FTDI adapter and the gadget's CDC-ACM port).
var (
	hidScanners = `
[[scanner]]
name = "keyboard"
driver = "hid"
match = "` + kbdID + `"
mode = "auto"
layout = "no"

[[scanner]]
name = "hidpos"
driver = "hid"
match = "` + posID + `"
mode = "auto"
`
	ftdiScanner = `
[[scanner]]
name = "serial"
driver = "serial"
match = "` + serialID + `"
baud = 9600
terminator = "CR"
`
	serialScanners = ftdiScanner + acmScanner
)

// proc reads the running tillbox's memory and CPU time in the guest.
func (r *rig) proc(ctx context.Context) (map[string]float64, error) {
	lines, err := r.m.guest(ctx, "proc tillbox")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, " ")
		if !ok {
			return nil, fmt.Errorf("hilguest proc: %q", l)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("hilguest proc: %q: %w", l, err)
		}
		out[k] = f
	}
	for _, k := range []string{"pid", "VmRSS", "VmHWM", "utime", "stime", "uptime"} {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("hilguest proc: no %s in %q", k, lines)
		}
	}
	return out, nil
}

// waitUptime waits until the guest has been up for d.
func (r *rig) waitUptime(ctx context.Context, d time.Duration) error {
	for {
		p, err := r.proc(ctx)
		if err != nil {
			return err
		}
		left := d - time.Duration(p["uptime"]*float64(time.Second))
		if left <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(left):
		}
	}
}
