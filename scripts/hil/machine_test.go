package hil

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Ports inside the guest.
const (
	guestPOSPort   = 8080 // tillbox's POS API (pos.listen)
	guestCmdPort   = 7000 // hilguest's commands
	guestVippsPort = 8090 // 10.0.2.100:8090 is forwarded to the host's simulator
)

// machineConfig is what a machine is booted with.
type machineConfig struct {
	dir     string // for the sockets, the initramfs and the console log
	kernel  string
	initrd  string
	simAddr string // the simulator on the host's loopback, host:port
}

// machine is a running emulated arm64 till box.
type machine struct {
	cmd     *exec.Cmd
	console *consoleLog
	traces  *qemuTraces // the trace events QEMU reports on its standard error
	qmp     *qmpClient
	exited  chan struct{} // closed when QEMU has exited; then waitErr is set
	waitErr error

	posURL    string // the box's POS API, as the host reaches it
	guestAddr string // hilguest's commands, as the host reaches them
	serial    string // the usb-serial chardev's socket: connect = plug
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// boot starts QEMU: virt machine, Cortex-A72, TCG (no KVM), an xHCI
// controller with a USB keyboard (the keyboard-mode scanner, 0627:0001)
// and a USB-serial adapter (FTDI 0403:6001) on a chardev socket, QMP on a
// socket, and user networking restricted to the forwards to and from the
// host's loopback.
func boot(ctx context.Context, c machineConfig) (*machine, error) {
	posPort, err1 := freePort()
	cmdPort, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	m := &machine{
		console:   newConsoleLog(filepath.Join(c.dir, "console.log")),
		traces:    newQEMUTraces(),
		exited:    make(chan struct{}),
		posURL:    fmt.Sprintf("http://127.0.0.1:%d", posPort),
		guestAddr: fmt.Sprintf("127.0.0.1:%d", cmdPort),
		serial:    filepath.Join(c.dir, "serial.sock"),
	}
	qmpSock := filepath.Join(c.dir, "qmp.sock")
	// guestfwd with cmd: runs a socat per connection the guest opens to
	// 10.0.2.100:8090, each to the simulator; a chardev (tcp:) would be one
	// connection for the machine's whole life.
	netdev := fmt.Sprintf("user,id=net0,restrict=on,"+
		"hostfwd=tcp:127.0.0.1:%d-:%d,hostfwd=tcp:127.0.0.1:%d-:%d,"+
		"guestfwd=tcp:10.0.2.100:%d-cmd:socat STDIO TCP:%s",
		posPort, guestPOSPort, cmdPort, guestCmdPort, guestVippsPort, c.simAddr)
	args := []string{
		"-M", "virt", "-cpu", "cortex-a72", "-accel", "tcg", "-m", "512",
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
		"-trace", traceKbdFull, "-trace", traceKbdEmpty,
		"-kernel", c.kernel, "-initrd", c.initrd,
		"-append", "console=ttyAMA0 panic=-1 loglevel=6",
		"-device", "qemu-xhci,id=xhci",
		"-device", "usb-kbd,id=kbd,bus=xhci.0",
		"-chardev", "socket,id=sc,path=" + m.serial + ",server=on,wait=off",
		"-device", "usb-serial,id=userial,chardev=sc,bus=xhci.0",
		"-qmp", "unix:" + qmpSock + ",server=on,wait=off",
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=net0,romfile=",
	}
	// At a lower priority: the rest of `make test` runs beside it, and its
	// tests should not wait for the emulator.
	m.cmd = exec.Command("nice", append([]string{"-n", "10", "qemu-system-aarch64"}, args...)...)
	m.cmd.Stdout = m.console
	m.cmd.Stderr = &prefixWriter{prefix: "qemu: ", w: m.console, line: m.traces.line}
	m.console.printf("hil: qemu-system-aarch64 %q\n", args)
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu-system-aarch64: %w", err)
	}
	go func() {
		m.waitErr = m.cmd.Wait()
		m.console.printf("hil: qemu exited: %v\n", m.waitErr)
		close(m.exited)
	}()
	q, err := dialQMP(ctx, qmpSock, m.exited)
	if err != nil {
		m.close()
		return nil, fmt.Errorf("%w\nconsole and QEMU's messages:\n%s", err, m.console)
	}
	m.qmp = q
	return m, nil
}

// close ends QEMU (quit over QMP, or kill) and waits for it.
func (m *machine) close() {
	if m.qmp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = m.qmp.execute(ctx, "quit", nil)
		cancel()
		m.qmp.close()
	}
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.console.close()
}

// alive returns an error once QEMU has exited.
func (m *machine) alive() error {
	select {
	case <-m.exited:
		return fmt.Errorf("qemu exited: %v", m.waitErr)
	default:
		return nil
	}
}

// consoleLog keeps everything the guest's console and QEMU printed, in
// memory and in a file.
type consoleLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	file *os.File
}

func newConsoleLog(path string) *consoleLog {
	f, _ := os.Create(path) // the file is a convenience; the buffer is what the test shows
	return &consoleLog{file: f}
}

func (c *consoleLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.file != nil {
		_, _ = c.file.Write(p)
	}
	return len(p), nil
}

func (c *consoleLog) printf(format string, a ...any) { fmt.Fprintf(c, format, a...) }

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func (c *consoleLog) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.file != nil {
		_ = c.file.Close()
		c.file = nil
	}
}

// prefixWriter prefixes each line written through it. When line is set, it
// sees each line first and says whether to write it.
type prefixWriter struct {
	prefix string
	w      io.Writer
	line   func(l []byte) (keep bool)
	mu     sync.Mutex
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range b {
		p.buf = append(p.buf, c)
		if c == '\n' {
			if p.line == nil || p.line(p.buf) {
				_, _ = p.w.Write(append([]byte(p.prefix), p.buf...))
			}
			p.buf = p.buf[:0]
		}
	}
	return len(b), nil
}

// The trace events QEMU is started with (its "log" trace backend writes a
// line per event on its standard error, "[PID@TIME:]NAME message").
// usb-kbd queues at most 16 key codes (hw/input/hid.c): a key event that
// does not fit is dropped, and traced as hid_kbd_queue_full; each poll of
// the interrupt endpoint by the guest takes one code, and the one that
// leaves the queue empty is traced as hid_kbd_queue_empty (a poll of an
// empty queue traces nothing).
const (
	traceKbdFull  = "hid_kbd_queue_full"
	traceKbdEmpty = "hid_kbd_queue_empty"
)

// qemuTraces counts the trace events QEMU reports, and wakes whoever
// waits for one.
type qemuTraces struct {
	mu     sync.Mutex
	counts map[string]int
	sig    chan struct{} // closed and replaced on each event
}

func newQEMUTraces() *qemuTraces {
	return &qemuTraces{counts: map[string]int{}, sig: make(chan struct{})}
}

// line counts a line of QEMU's standard error if it is one of the trace
// events; it keeps hid_kbd_queue_empty, one per key event typed, out of
// the console.
func (q *qemuTraces) line(l []byte) (keep bool) {
	for _, name := range []string{traceKbdFull, traceKbdEmpty} {
		if i := bytes.Index(l, []byte(name+" ")); i >= 0 && (i == 0 || l[i-1] == ':') {
			q.mu.Lock()
			q.counts[name]++
			close(q.sig)
			q.sig = make(chan struct{})
			q.mu.Unlock()
			return name != traceKbdEmpty
		}
	}
	return true
}

// count is how many times the event name was traced so far.
func (q *qemuTraces) count(name string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.counts[name]
}

// wait waits until the event name has been traced more than after times
// and returns the count. It gives up when check, called on each event
// traced, returns an error, when QEMU has exited, or when ctx ends.
func (q *qemuTraces) wait(ctx context.Context, name string, after int, exited <-chan struct{}, check func() error) (int, error) {
	for {
		q.mu.Lock()
		n, sig := q.counts[name], q.sig
		q.mu.Unlock()
		if n > after {
			return n, nil
		}
		if err := check(); err != nil {
			return n, err
		}
		select {
		case <-sig:
		case <-exited:
			return n, errors.New("qemu exited")
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
}

// qmpClient speaks QEMU's machine protocol: one command at a time, events
// kept for waitEvent.
type qmpClient struct {
	conn net.Conn
	mu   sync.Mutex // one command at a time
	id   int

	replies chan qmpMessage
	done    chan struct{} // the reader has ended

	evMu   sync.Mutex
	events []qmpMessage
	evSig  chan struct{} // closed and replaced on each event
}

type qmpMessage struct {
	ID        string          `json:"id,omitempty"`
	Return    json.RawMessage `json:"return,omitempty"`
	Error     *qmpError       `json:"error,omitempty"`
	Event     string          `json:"event,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Greeting  json.RawMessage `json:"QMP,omitempty"`
	Timestamp json.RawMessage `json:"timestamp,omitempty"`
}

type qmpError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

// dialQMP connects to QEMU's QMP socket (retrying while QEMU starts) and
// leaves capabilities negotiation mode.
func dialQMP(ctx context.Context, path string, exited <-chan struct{}) (*qmpClient, error) {
	ctx, cancel := context.WithTimeout(ctx, bootLimit)
	defer cancel()
	var conn net.Conn
	for {
		var err error
		conn, err = net.Dial("unix", path)
		if err == nil {
			break
		}
		select {
		case <-exited:
			return nil, errors.New("qemu exited before its QMP socket opened")
		case <-ctx.Done():
			return nil, fmt.Errorf("QMP socket %s: %w", path, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	q := &qmpClient{conn: conn, replies: make(chan qmpMessage, 1), done: make(chan struct{}), evSig: make(chan struct{})}
	greeting := make(chan error, 1)
	go q.read(greeting)
	select {
	case err := <-greeting:
		if err != nil {
			conn.Close()
			<-q.done
			return nil, err
		}
	case <-ctx.Done():
		conn.Close()
		<-q.done
		return nil, errors.New("QMP: no greeting from qemu")
	}
	if _, err := q.execute(ctx, "qmp_capabilities", nil); err != nil {
		q.close()
		return nil, err
	}
	return q, nil
}

func (q *qmpClient) read(greeting chan<- error) {
	defer close(q.done)
	dec := json.NewDecoder(bufio.NewReader(q.conn))
	first := true
	for {
		var m qmpMessage
		if err := dec.Decode(&m); err != nil {
			if first {
				greeting <- fmt.Errorf("QMP greeting: %w", err)
			}
			return
		}
		switch {
		case first:
			first = false
			greeting <- nil
		case m.Event != "":
			q.evMu.Lock()
			q.events = append(q.events, m)
			close(q.evSig)
			q.evSig = make(chan struct{})
			q.evMu.Unlock()
		default:
			select {
			case q.replies <- m:
			case <-time.After(time.Minute):
				// Nobody waits for this reply (its command gave up).
			}
		}
	}
}

// execute runs one QMP command and returns its "return" value.
func (q *qmpClient) execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.id++
	id := strconv.Itoa(q.id)
	req := map[string]any{"execute": command, "id": id}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("QMP %s: %w", command, err)
	}
	for {
		select {
		case m := <-q.replies:
			if m.ID != id {
				continue // the late reply of an abandoned command
			}
			if m.Error != nil {
				return nil, fmt.Errorf("QMP %s: %s: %s", command, m.Error.Class, m.Error.Desc)
			}
			return m.Return, nil
		case <-q.done:
			return nil, fmt.Errorf("QMP %s: connection closed", command)
		case <-ctx.Done():
			return nil, fmt.Errorf("QMP %s: %w", command, ctx.Err())
		}
	}
}

// eventCount is how many events have arrived so far, for waitEvent.
func (q *qmpClient) eventCount() int {
	q.evMu.Lock()
	defer q.evMu.Unlock()
	return len(q.events)
}

// waitEvent waits for an event called name, after the first `after`
// events, whose data satisfies match (nil: any).
func (q *qmpClient) waitEvent(ctx context.Context, after int, name string, match func(json.RawMessage) bool) error {
	for {
		q.evMu.Lock()
		evs, sig := q.events[after:], q.evSig
		q.evMu.Unlock()
		for _, e := range evs {
			if e.Event == name && (match == nil || match(e.Data)) {
				return nil
			}
		}
		after += len(evs)
		select {
		case <-sig:
		case <-q.done:
			return fmt.Errorf("QMP closed while waiting for %s", name)
		case <-ctx.Done():
			return fmt.Errorf("waiting for QMP event %s: %w", name, ctx.Err())
		}
	}
}

func (q *qmpClient) close() {
	q.conn.Close()
	<-q.done
}

// TestQEMUTraces reads trace lines as QEMU's log backend writes them
// (seen: "hid_kbd_queue_full queue full"; with -msg timestamp=on they
// start with "PID@SECONDS.MICROSECONDS:"), counts them, and keeps
// hid_kbd_queue_empty, one per key event typed, out of the console.
func TestQEMUTraces(t *testing.T) {
	var console bytes.Buffer
	tr := newQEMUTraces()
	w := &prefixWriter{prefix: "qemu: ", w: &console, line: tr.line}
	for _, s := range []string{
		"hid_kbd_queue_empty queue empty\n",
		"1234@1796661249.312694:hid_kbd_queue_empty queue empty\nhid_kbd_queue_full queue full\n",
		"qemu-system-aarch64: a message that names hid_kbd_queue_empty\nhid_kbd_queue_",
		"full queue full\n",
	} {
		if _, err := io.WriteString(w, s); err != nil {
			t.Fatal(err)
		}
	}
	if e, f := tr.count(traceKbdEmpty), tr.count(traceKbdFull); e != 2 || f != 2 {
		t.Errorf("counted %d %s and %d %s, want 2 and 2", e, traceKbdEmpty, f, traceKbdFull)
	}
	want := "qemu: hid_kbd_queue_full queue full\nqemu: qemu-system-aarch64: a message that names hid_kbd_queue_empty\nqemu: hid_kbd_queue_full queue full\n"
	if console.String() != want {
		t.Errorf("console:\n%s\nwant:\n%s", console.String(), want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := tr.wait(ctx, traceKbdEmpty, 1, nil, func() error { return nil }); err != nil || n != 2 {
		t.Errorf("wait after 1: %d, %v; want 2, nil at once", n, err)
	}
	if _, err := tr.wait(ctx, traceKbdEmpty, 2, nil, func() error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("wait after 2 with the context ended: %v", err)
	}
}
