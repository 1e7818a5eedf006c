package uevent

import (
	"fmt"
	"os"
	"syscall"
)

// kernelGroup is the multicast group of the kernel's own uevents (udev
// re-sends them, after its rules ran, to group 2).
const kernelGroup = 1

// Listen opens a NETLINK_KOBJECT_UEVENT socket bound to the kernel's
// events and starts reading it.
func Listen() (*Listener, error) {
	return listen(Event.Plugged)
}

func listen(match func(Event) bool) (*Listener, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, syscall.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("uevent: opening a netlink socket: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK, Groups: kernelGroup}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("uevent: joining the kernel's uevents: %w", err)
	}
	// A non-blocking file is read through the runtime's poller: no thread
	// blocks, and Close interrupts the read.
	f := os.NewFile(uintptr(fd), "uevent")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("uevent: %w", err)
	}
	l := newListener(match)
	l.stop = f.Close
	go func() { l.end(read(rc, l)) }()
	return l, nil
}

// read reads messages until the socket is closed or fails.
func read(rc syscall.RawConn, l *Listener) error {
	buf := make([]byte, MaxMessage+1) // one more, to tell a message too long
	for {
		var (
			n    int
			from syscall.Sockaddr
			rerr error
		)
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = syscall.Recvfrom(int(fd), buf, 0)
			return rerr != syscall.EAGAIN
		})
		switch {
		case err != nil: // closed (Close then ignores the error) or broken
			return fmt.Errorf("uevent: reading: %w", err)
		case rerr == syscall.ENOBUFS:
			// The socket overflowed: events were lost, one of them may
			// be a scanner.
			l.wake()
			continue
		case rerr == syscall.EINTR:
			continue
		case rerr != nil:
			return fmt.Errorf("uevent: reading: %w", rerr)
		}
		// Only the kernel's messages (port 0) count, not those another
		// process may send to this socket.
		if sa, ok := from.(*syscall.SockaddrNetlink); !ok || sa.Pid != 0 || n > MaxMessage {
			continue
		}
		l.handle(buf[:n])
	}
}
