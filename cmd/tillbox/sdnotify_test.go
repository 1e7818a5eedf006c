package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRunNotifiesSystemd: under a notify socket with a watchdog, `tillbox
// run` sends READY=1 once it serves, WATCHDOG=1 while its loops turn, and
// STOPPING=1 at shutdown.
func TestRunNotifiesSystemd(t *testing.T) {
	dir, err := os.MkdirTemp("", "sd") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "150000")
	t.Setenv("WATCHDOG_PID", "")

	tl := startTill(t, "")
	buf := make([]byte, 4096)
	read := func() string {
		t.Helper()
		// A bound on a hang, not a timing assertion.
		if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no message from tillbox run: %v\n%s", err, tl.logs)
		}
		return string(buf[:n])
	}
	if m := read(); m != "READY=1\nSTATUS=serving" {
		t.Fatalf("first message %q", m)
	}
	for range 3 {
		if m := read(); m != "WATCHDOG=1" {
			t.Fatalf("message %q, want WATCHDOG=1", m)
		}
	}
	if err := tl.stop(); err != nil {
		t.Fatal(err)
	}
	for {
		m := read()
		if m == "STOPPING=1" {
			return
		}
		if m != "WATCHDOG=1" {
			t.Fatalf("message %q while stopping", m)
		}
	}
}
