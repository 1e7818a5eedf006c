// Package usbsysfs reads what Linux's sysfs knows of a USB device's
// interface: the device's manufacturer, product and serial number strings
// (the kernel reads them once, at enumeration, as UTF-8) and, while the
// kernel's HID driver (usbhid) holds the interface, its HID report
// descriptor. The USB HID driver needs them because the bundled hidapi of
// github.com/karalabe/usb, in a static build, reads no strings (it
// converts them with iconv, which a static glibc cannot load) and no
// report descriptor (it would have to detach the kernel's driver).
//
// The layout read, under the sysfs mount (normally /sys):
//
//	bus/usb/devices/1-1/            a device: busnum, devnum, idVendor,
//	                                idProduct, manufacturer, product,
//	                                serial, bConfigurationValue
//	bus/usb/devices/1-1:1.0/        its interface 0 in configuration 1:
//	                                bInterfaceNumber, bInterfaceClass,
//	                                bInterfaceSubClass, bInterfaceProtocol,
//	                                driver (a symlink, when bound)
//	bus/usb/devices/1-1:1.0/0003:0627:0001.0001/report_descriptor
//	                                the HID device usbhid made of it
//
// The same descriptor can be had from /dev/hidrawN with the
// HIDIOCGRDESC ioctl, but only while usbhid holds the interface, when
// sysfs has it too; without a bound driver only the device itself can
// tell (a control transfer that claims the interface), which listing must
// not do. Odd or partial trees give partial answers, never a panic.
package usbsysfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Root is where sysfs is mounted on Linux.
const Root = "/sys"

// maxAttr bounds what is read of one attribute file; a report descriptor
// is at most 4096 bytes (HID_MAX_DESCRIPTOR_SIZE), a string descriptor
// at most 126 UTF-16 units.
const maxAttr = 8 << 10

// ErrNotFound: sysfs has no USB device at that bus and address (it was
// unplugged, or sysfs is not mounted).
var ErrNotFound = errors.New("usbsysfs: no such USB device in sysfs")

// Interface is what sysfs tells of one interface of a USB device.
type Interface struct {
	// Dir is the interface's directory, e.g. /sys/bus/usb/devices/1-1:1.0.
	Dir string
	// The device's strings; "" when it has none (or sysfs shows none).
	Manufacturer, Product, Serial string
	// VID and PID of the device.
	VID, PID uint16
	// Class, SubClass and Protocol of the interface: 3, 1, 1 is a HID boot
	// keyboard, 3, 1, 2 a boot mouse.
	Class, SubClass, Protocol uint8
	// Driver is the name of the kernel driver bound to the interface:
	// "usbhid", "usbfs" (a program such as tillbox holds it through
	// libusb), or "" (none: the kernel may still be setting it up).
	Driver string
	// ReportDescriptor is the HID report descriptor, while the kernel's
	// HID driver holds the interface; nil otherwise.
	ReportDescriptor []byte
}

// The HID interface class, its boot subclass and the boot protocols.
const (
	ClassHID         = 0x03
	SubClassBoot     = 0x01
	ProtocolKeyboard = 0x01
	ProtocolMouse    = 0x02
)

// Drivers an interface may be bound to.
const (
	DriverUSBHID = "usbhid" // the kernel's HID driver: the report descriptor is readable
	DriverUSBFS  = "usbfs"  // a program holds the interface through libusb
)

const (
	devicesDir           = "bus/usb/devices"
	reportDescriptorFile = "report_descriptor"
)

// Tree is a sysfs tree: Root on Linux, a fake one in tests.
type Tree struct {
	Root string
	// byAddr maps "bus:addr" to a device's directory name; built by the
	// first Lookup, so a listing reads the devices directory once.
	byAddr map[[2]int]string
}

// Lookup finds interface intf of the USB device at bus and address addr
// (as usbfs and libusb number them) and reads what sysfs tells of it. It
// fails with ErrNotFound when there is no such device; an interface sysfs
// does not show gives the device's strings and an error.
func (t *Tree) Lookup(bus, addr, intf int) (Interface, error) {
	if t.byAddr == nil {
		t.index()
	}
	name, ok := t.byAddr[[2]int{bus, addr}]
	if !ok {
		return Interface{}, fmt.Errorf("%w: bus %d, address %d under %s", ErrNotFound, bus, addr, filepath.Join(t.Root, devicesDir))
	}
	dev := filepath.Join(t.Root, devicesDir, name)
	in := Interface{
		Manufacturer: attr(dev, "manufacturer"),
		Product:      attr(dev, "product"),
		Serial:       attr(dev, "serial"),
		VID:          uint16(max(0, hexAttr(dev, "idVendor", 16))),
		PID:          uint16(max(0, hexAttr(dev, "idProduct", 16))),
	}
	dir := interfaceDir(dev, name, intf)
	if dir == "" {
		return in, fmt.Errorf("usbsysfs: %s has no interface %d", dev, intf)
	}
	in.Dir = dir
	in.Class = uint8(max(0, hexAttr(dir, "bInterfaceClass", 8)))
	in.SubClass = uint8(max(0, hexAttr(dir, "bInterfaceSubClass", 8)))
	in.Protocol = uint8(max(0, hexAttr(dir, "bInterfaceProtocol", 8)))
	if l, err := os.Readlink(filepath.Join(dir, "driver")); err == nil {
		in.Driver = filepath.Base(l)
	}
	in.ReportDescriptor = reportDescriptor(dir)
	return in, nil
}

// index maps each device's bus and address to its directory name. Entries
// with a ":" are interfaces; root hubs ("usb1") are devices too.
func (t *Tree) index() {
	t.byAddr = map[[2]int]string{}
	entries, err := os.ReadDir(filepath.Join(t.Root, devicesDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ":") {
			continue
		}
		dir := filepath.Join(t.Root, devicesDir, e.Name())
		bus, err1 := strconv.Atoi(attr(dir, "busnum"))
		addr, err2 := strconv.Atoi(attr(dir, "devnum"))
		if err1 != nil || err2 != nil || bus <= 0 || addr <= 0 {
			continue
		}
		t.byAddr[[2]int{bus, addr}] = e.Name()
	}
}

// interfaceDir is the directory of interface intf of the device dev (named
// name): NAME:CONFIG.INTF for the active configuration, else any NAME:*
// whose bInterfaceNumber is intf. "" when there is none.
func interfaceDir(dev, name string, intf int) string {
	if cfg := attr(dev, "bConfigurationValue"); cfg != "" {
		dir := filepath.Join(filepath.Dir(dev), fmt.Sprintf("%s:%s.%d", name, cfg, intf))
		if hexAttr(dir, "bInterfaceNumber", 8) == intf {
			return dir
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(filepath.Dir(dev), globEscape(name)+":*"))
	for _, dir := range dirs {
		if n := hexAttr(dir, "bInterfaceNumber", 8); n == intf {
			return dir
		}
	}
	return ""
}

// reportDescriptor reads the report descriptor of the HID device the
// kernel made of the interface in dir: a subdirectory holding a
// report_descriptor file. nil when there is none or it is empty.
func reportDescriptor(dir string) []byte {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		b, err := readLimited(filepath.Join(dir, e.Name(), reportDescriptorFile))
		if err == nil && len(b) > 0 {
			return b
		}
	}
	return nil
}

// attr reads an attribute file as text, without the final newline and
// surrounding blanks; "" when it is missing or unreadable.
func attr(dir, name string) string {
	b, err := readLimited(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// hexAttr reads an attribute in hex of the given bit size; -1 when it is
// missing or not a number.
func hexAttr(dir, name string, bits int) int {
	n, err := strconv.ParseUint(attr(dir, name), 16, bits)
	if err != nil {
		return -1
	}
	return int(n)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	return io.ReadAll(io.LimitReader(f, maxAttr))
}

// globEscape escapes the characters filepath.Match treats specially.
func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`).Replace(s)
}
