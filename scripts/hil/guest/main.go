// Command hilguest is the hardware-in-the-loop rig's hand inside the
// emulated till box (see scripts/hil). It is built static for arm64 and
// started by the guest's /init beside tillbox. It
//
//   - describes a scanner to the kernel's USB gadget support in configfs,
//     HID POS (usage page 0x8C) with a CDC-ACM serial port beside it, and
//     plugs it in on dummy_hcd, so that the box sees a real USB device;
//   - relays a TCP port on the guest's loopback to an address QEMU
//     forwards to the host (the agent talks plain http only to loopback);
//   - answers the test's commands on a TCP port QEMU forwards from the
//     host: scan a code on the gadget, unplug and replug it, read
//     a device for the rig's probes, list the USB devices.
//
// A command is one line on its own connection; the answer starts with
// "ok" or "error: ..." and ends when the connection closes:
//
//	hidpos TEXT          send TEXT as HID POS scanned data reports on /dev/hidg0
//	acm TEXT             send TEXT and CR on the gadget's serial port, /dev/ttyGS0
//	udc unbind|bind      unplug or plug the gadget (write its UDC file)
//	hidraw VID PID       the /dev/hidrawN of that USB device
//	read PATH            "ok" once PATH is open, then each read in hex, until
//	                     the test hangs up (or the device fails)
//	serial PATH          the same for a serial port, opened raw at 9600 baud
//	usb                  the USB devices the kernel sees, with their drivers
//	devices              what `tillbox devices --json` prints here
//	dial ADDR            try a TCP connection: "connected" or why not
//
// With -wait-hid N it only waits until N USB HID interfaces are there,
// each bound to a kernel driver (the guest's /init runs it before tillbox,
// so that tillbox meets the devices as a box meets scanners plugged in
// before it starts: set up by the kernel).
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.bug.st/serial"

	"github.com/tillbox/tillbox/device/hidpos"
)

func main() {
	log.SetFlags(log.Lmicroseconds)
	log.SetPrefix("hilguest: ")
	listen := flag.String("listen", ":7000", "answer the test's commands on `ADDR`")
	relay := flag.String("relay", "", "relay `LOCAL=REMOTE` TCP connections, e.g. 127.0.0.1:8090=10.0.2.100:8090")
	gadget := flag.String("gadget", "", "create and plug a HID POS gadget with USB identity `VID:PID[:SERIAL]`")
	waitHID := flag.Int("wait-hid", 0, "only wait until `N` USB HID interfaces are there, each bound to a kernel driver, then exit")
	flag.Parse()
	if *waitHID > 0 {
		waitHIDBound(*waitHID)
		return
	}

	g := &gadgetDir{dir: "/sys/kernel/config/usb_gadget/hilpos"}
	if *gadget != "" {
		if err := g.create(*gadget); err != nil {
			log.Fatalf("gadget: %v", err)
		}
		log.Printf("gadget %s plugged in", *gadget)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	if *relay != "" {
		local, remote, ok := strings.Cut(*relay, "=")
		if !ok {
			log.Fatalf("-relay %q: want LOCAL=REMOTE", *relay)
		}
		ln, err := net.Listen("tcp", local)
		if err != nil {
			log.Fatalf("relay: %v", err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errc <- serveRelay(ctx, ln, remote) }()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); errc <- serveCommands(ctx, ln, g) }()
	log.Printf("ready on %s", ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-errc:
		log.Printf("stopped: %v", err)
	}
	stop()
	wg.Wait()
}

// serveRelay copies each connection accepted on ln to a new connection to
// remote, both ways, until ctx ends.
func serveRelay(ctx context.Context, ln net.Listener, remote string) error {
	return serveEach(ctx, ln, "relay", func(c net.Conn) {
		r, err := net.Dial("tcp", remote)
		if err != nil {
			log.Printf("relay to %s: %v", remote, err)
			return
		}
		defer r.Close()
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(r, c)
			_ = r.(*net.TCPConn).CloseWrite()
			close(done)
		}()
		_, _ = io.Copy(c, r)
		_ = c.(*net.TCPConn).CloseWrite()
		<-done
	})
}

// serveEach handles each connection accepted on ln in its own goroutine,
// closing it after, until ctx ends; it waits for the handlers.
func serveEach(ctx context.Context, ln net.Listener, what string, handle func(net.Conn)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		wg.Go(func() {
			defer c.Close()
			handle(c)
		})
	}
}

// serveCommands answers one command per connection until ctx ends.
func serveCommands(ctx context.Context, ln net.Listener, g *gadgetDir) error {
	return serveEach(ctx, ln, "commands", func(c net.Conn) {
		r := bufio.NewReader(c)
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		// The test sends nothing after the command: the end of its side
		// is its hanging up, which ends a read.
		hangup := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, r)
			close(hangup)
		}()
		w := bufio.NewWriter(c)
		defer w.Flush()
		if err := command(w, line, g, hangup); err != nil {
			log.Printf("%q: %v", line, err)
			fmt.Fprintf(w, "error: %v\n", err)
		}
	})
}

// command carries out one command line, writing its answer to w. It
// returns an error before writing "ok", or after, when reading failed.
// hangup is closed when the test has hung up.
func command(w *bufio.Writer, line string, g *gadgetDir, hangup <-chan struct{}) error {
	verb, rest, _ := strings.Cut(line, " ")
	args := strings.Fields(rest)
	switch verb {
	case "hidpos":
		return sendHIDPOS(w, rest)
	case "acm":
		return sendACM(w, rest)
	case "udc":
		if len(args) != 1 {
			return errors.New("udc unbind|bind")
		}
		if err := g.udc(args[0] == "bind"); err != nil {
			return err
		}
		fmt.Fprintln(w, "ok")
		return nil
	case "hidraw":
		if len(args) != 2 {
			return errors.New("hidraw VID PID")
		}
		p, err := findHidraw(args[0], args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "ok\n%s\n", p)
		return nil
	case "read", "serial":
		if len(args) != 1 {
			return fmt.Errorf("%s PATH", verb)
		}
		return readDevice(w, verb == "serial", args[0], hangup)
	case "usb":
		fmt.Fprintln(w, "ok")
		listUSB(w)
		return nil
	case "devices":
		return tillboxDevices(w)
	case "proc":
		// proc NAME: the memory and CPU time of the process named NAME,
		// from the guest kernel's /proc.
		if len(args) != 1 {
			return errors.New("proc NAME")
		}
		return procStats(w, args[0])
	case "dial":
		if len(args) != 1 {
			return errors.New("dial ADDR")
		}
		dial(w, args[0], hangup)
		return nil
	}
	return fmt.Errorf("unknown command %q", verb)
}

// sendHIDPOS types text as the HID POS scanner (/dev/hidg0), with the
// AIM identifier of a QR code, and says how many reports it wrote.
func sendHIDPOS(w *bufio.Writer, text string) error {
	reports, err := hidpos.Encode(hidpos.Standard, []byte(text), "]Q1")
	if err != nil {
		return err
	}
	f, err := os.OpenFile("/dev/hidg0", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, r := range reports {
		if _, err := f.Write(r); err != nil {
			return fmt.Errorf("/dev/hidg0: %w", err)
		}
	}
	fmt.Fprintf(w, "ok\n%d reports\n", len(reports))
	return nil
}

// sendACM sends text and a carriage return as the serial scanner
// (/dev/ttyGS0), and waits until it is sent.
func sendACM(w *bufio.Writer, text string) error {
	p, err := serial.Open("/dev/ttyGS0", &serial.Mode{BaudRate: 9600})
	if err != nil {
		return err
	}
	defer p.Close()
	if _, err := p.Write([]byte(text + "\r")); err != nil {
		return fmt.Errorf("/dev/ttyGS0: %w", err)
	}
	if err := p.Drain(); err != nil {
		return fmt.Errorf("/dev/ttyGS0: %w", err)
	}
	fmt.Fprintln(w, "ok")
	return nil
}

// tillboxDevices writes what `tillbox devices --json` prints in the guest.
func tillboxDevices(w *bufio.Writer) error {
	out, err := exec.Command("/usr/bin/tillbox", "devices", "--json").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("tillbox devices: %w: %s", err, ee.Stderr)
		}
		return fmt.Errorf("tillbox devices: %w", err)
	}
	fmt.Fprintln(w, "ok")
	_, err = w.Write(out)
	return err
}

// dial says "ok", then dials addr over TCP and writes "connected" or
// "failed: " and why.
func dial(w *bufio.Writer, addr string, hangup <-chan struct{}) {
	fmt.Fprintln(w, "ok")
	// No time limit of its own: the user network refuses what it
	// does not forward at once (restrict=on answers a reset), and a
	// forward may take long to answer on a loaded machine. The
	// kernel's SYN retries bound it, and the test's hanging up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-hangup:
			cancel()
		case <-ctx.Done():
		}
	}()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		fmt.Fprintf(w, "failed: %v\n", err)
		return
	}
	c.Close()
	fmt.Fprintln(w, "connected")
}

// readDevice opens path, says "ok", then writes each read in hex until
// the test hangs up (closing the device ends the read waiting) or reading
// fails. No time limit: the test waits for what it sent, as long as the
// guest takes, and hangs up when it has it.
func readDevice(w *bufio.Writer, isSerial bool, path string, hangup <-chan struct{}) error {
	var dev io.ReadCloser
	if isSerial {
		p, err := serial.Open(path, &serial.Mode{BaudRate: 9600})
		if err != nil {
			return err
		}
		dev = p
	} else {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		dev = f
	}
	done := make(chan struct{})
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		select {
		case <-hangup:
		case <-done:
		}
		dev.Close()
	}()
	defer func() { close(done); <-closed }()
	fmt.Fprintln(w, "ok")
	if err := w.Flush(); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		k, err := dev.Read(buf)
		if k > 0 {
			fmt.Fprintln(w, hex.EncodeToString(buf[:k]))
			if err := w.Flush(); err != nil {
				return nil // the test hung up
			}
		}
		if err != nil {
			select {
			case <-hangup:
				return nil
			default:
			}
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

// findHidraw returns the hidraw node of the USB device vid:pid (hex).
func findHidraw(vid, pid string) (string, error) {
	want := strings.ToUpper(fmt.Sprintf(":0000%s:0000%s", vid, pid))
	nodes, _ := filepath.Glob("/sys/class/hidraw/hidraw*")
	for _, n := range nodes {
		ue, err := os.ReadFile(filepath.Join(n, "device", "uevent"))
		if err != nil {
			continue
		}
		for l := range strings.SplitSeq(string(ue), "\n") {
			if id, ok := strings.CutPrefix(l, "HID_ID="); ok && strings.HasSuffix(strings.ToUpper(id), want) {
				return "/dev/" + filepath.Base(n), nil
			}
		}
	}
	return "", fmt.Errorf("no hidraw device for %s:%s among %d", vid, pid, len(nodes))
}

// listUSB writes a line per USB device and interface the kernel sees.
func listUSB(w io.Writer) {
	devs, _ := filepath.Glob("/sys/bus/usb/devices/*")
	for _, d := range devs {
		attr := func(name string) string {
			b, _ := os.ReadFile(filepath.Join(d, name))
			return strings.TrimSpace(string(b))
		}
		drv := "-"
		if l, err := os.Readlink(filepath.Join(d, "driver")); err == nil {
			drv = filepath.Base(l)
		}
		if v := attr("idVendor"); v != "" {
			fmt.Fprintf(w, "%s %s:%s %q driver=%s\n", filepath.Base(d), v, attr("idProduct"), attr("product"), drv)
		} else {
			fmt.Fprintf(w, "%s class=%s driver=%s\n", filepath.Base(d), attr("bInterfaceClass"), drv)
		}
	}
}

// waitHIDBound waits until at least n USB interfaces of class HID are
// there and each has a kernel driver bound (usbhid), checking every 20 ms
// and saying every 10 s what it has seen so far. It has no time limit of
// its own: a loaded machine may take long to boot, and the test bounds
// the boot from the host (and shows this console when it gives up).
func waitHIDBound(n int) {
	start := time.Now()
	next := start.Add(10 * time.Second)
	for {
		intfs, _ := filepath.Glob("/sys/bus/usb/devices/*:*")
		var hid, bound []string
		for _, d := range intfs {
			if c, _ := os.ReadFile(filepath.Join(d, "bInterfaceClass")); strings.TrimSpace(string(c)) != "03" {
				continue
			}
			hid = append(hid, filepath.Base(d))
			if _, err := os.Readlink(filepath.Join(d, "driver")); err == nil {
				bound = append(bound, filepath.Base(d))
			}
		}
		if len(hid) >= n && len(bound) == len(hid) {
			log.Printf("USB HID interfaces bound: %s", strings.Join(bound, " "))
			return
		}
		if now := time.Now(); now.After(next) {
			log.Printf("after %s, USB HID interfaces %v, bound %v; waiting for %d, all bound", now.Sub(start).Round(time.Second), hid, bound, n)
			next = now.Add(10 * time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procStats writes "ok", then VmRSS and VmHWM in kB and the CPU time (user
// + system) in clock ticks of the first process whose command is name, and
// the guest's uptime in seconds, one "key value" a line.
func procStats(w *bufio.Writer, name string) error {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return err
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return err
		}
		// Fields after the command (which may hold spaces): state is
		// field 3, utime 14 and stime 15.
		_, rest, ok := strings.Cut(string(stat), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 13 {
			return fmt.Errorf("/proc/%d/stat: %q", pid, stat)
		}
		uptime, err := os.ReadFile("/proc/uptime")
		if err != nil {
			return err
		}
		fmt.Fprintln(w, "ok")
		fmt.Fprintf(w, "pid %d\n", pid)
		for _, l := range strings.Split(string(status), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && (k == "VmRSS" || k == "VmHWM") {
				fmt.Fprintf(w, "%s %s\n", k, strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			}
		}
		fmt.Fprintf(w, "utime %s\nstime %s\n", f[11], f[12])
		fmt.Fprintf(w, "uptime %s\n", strings.Fields(string(uptime))[0])
		return nil
	}
	return fmt.Errorf("no process %q", name)
}
