package hid

import (
	"errors"
	"sync"
	"testing"

	"github.com/karalabe/usb"

	"github.com/tillbox/tillbox/device"
)

// fakeDevice is an open HID interface that returns the reports the test
// feeds it, like hidapi: Read blocks until a report comes, Close ends a
// blocked Read, and an unplug makes Read fail.
type fakeDevice struct {
	reports chan []byte // a nil report reads as 0 bytes
	closed  chan struct{}
	unplug  chan struct{}

	closeOnce, unplugOnce sync.Once
}

func newFakeDevice() *fakeDevice {
	return &fakeDevice{reports: make(chan []byte), closed: make(chan struct{}), unplug: make(chan struct{})}
}

func (f *fakeDevice) Read(b []byte) (int, error) {
	select {
	case <-f.closed:
		return 0, usb.ErrDeviceClosed
	default:
	}
	select {
	case r := <-f.reports:
		return copy(b, r), nil
	case <-f.closed:
		return 0, usb.ErrDeviceClosed
	case <-f.unplug:
		return 0, errors.New("hidapi: unknown failure")
	}
}

func (f *fakeDevice) Close() error {
	f.closeOnce.Do(func() { close(f.closed) })
	return nil
}

// feed sends reports one by one, each taken by a Read; false when the
// device was closed first.
func (f *fakeDevice) feed(reports ...[]byte) bool {
	for _, r := range reports {
		select {
		case f.reports <- r:
		case <-f.closed:
			return false
		}
	}
	return true
}

func (f *fakeDevice) pull() { f.unplugOnce.Do(func() { close(f.unplug) }) }

func (f *fakeDevice) isClosed() bool {
	select {
	case <-f.closed:
		return true
	default:
		return false
	}
}

// fakeBus is what enumeration finds, and the devices opened from it.
type fakeBus struct {
	mu      sync.Mutex
	list    []device.HIDDevice
	listErr error
	openErr error
	opened  []*fakeDevice
	paths   []string
	asked   [][2]uint16 // the VID, PID of each enumeration
}

func (b *fakeBus) enumerate(vid, pid uint16) ([]device.HIDDevice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked = append(b.asked, [2]uint16{vid, pid})
	var out []device.HIDDevice
	for _, d := range b.list {
		if (vid == 0 || d.VID == vid) && (pid == 0 || d.PID == pid) {
			out = append(out, d)
		}
	}
	return out, b.listErr
}

func (b *fakeBus) open(d device.HIDDevice) (Device, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openErr != nil {
		return nil, b.openErr
	}
	f := newFakeDevice()
	b.opened = append(b.opened, f)
	b.paths = append(b.paths, d.Path)
	return f, nil
}

func (b *fakeBus) last(t *testing.T) *fakeDevice {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.opened) == 0 {
		t.Fatal("no device opened")
	}
	return b.opened[len(b.opened)-1]
}
