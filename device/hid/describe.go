package hid

import (
	"cmp"
	"errors"
	"strings"

	"github.com/tillbox/tillbox/device"
	"github.com/tillbox/tillbox/device/hidreport"
	"github.com/tillbox/tillbox/device/usbsysfs"
)

// describe fills in, from the sysfs tree at root (Linux: /sys), what the
// bundled hidapi leaves out of a listing: the USB strings (a static build
// reads none: hidapi converts them with iconv, which a static glibc cannot
// load) and the usage page and usage (hidapi reads no report descriptor,
// which would detach the kernel's driver). sysfs has both, the strings as
// the kernel read them at plug-in, the report descriptor while the
// kernel's HID driver holds the interface. When that driver does not (a
// program such as a running tillbox holds the device), a boot keyboard
// interface (class 3, subclass 1, protocol 1) is a keyboard all the same.
// Whatever sysfs does not tell keeps hidapi's value. root "" does nothing.
func describe(root string, list []device.HIDDevice) {
	if root == "" {
		return
	}
	tree := &usbsysfs.Tree{Root: root}
	for i := range list {
		d := &list[i]
		bus, addr, intf, ok := device.ParseLibusbPath(d.Path)
		if !ok {
			continue
		}
		in, err := tree.Lookup(bus, addr, intf)
		if errors.Is(err, usbsysfs.ErrNotFound) || (in.VID != 0 && (in.VID != d.VID || in.PID != d.PID)) {
			continue // gone, or another device has taken its address since
		}
		d.Manufacturer = cmp.Or(usbString(in.Manufacturer), d.Manufacturer)
		d.Product = cmp.Or(usbString(in.Product), d.Product)
		d.SerialNumber = cmp.Or(usbString(in.Serial), d.SerialNumber)
		if err != nil {
			continue
		}
		d.KernelDriver = in.Driver
		if d.UsagePage != 0 {
			continue
		}
		if u, err := hidreport.TopLevel(in.ReportDescriptor); err == nil {
			d.UsagePage, d.Usage = u.Page, u.ID
		} else if in.Class == usbsysfs.ClassHID && in.SubClass == usbsysfs.SubClassBoot && in.Protocol == usbsysfs.ProtocolKeyboard {
			d.UsagePage, d.Usage = device.UsagePageGenericDesktop, device.UsageKeyboard
		}
	}
}

// usbString is a string of the device as listings show it: without
// surrounding blanks, "" when it holds a control character (a broken
// string descriptor).
func usbString(s string) string {
	s = strings.TrimSpace(s)
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return ""
	}
	return s
}
