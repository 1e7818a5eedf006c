package hid

import "github.com/tillbox/tillbox/device/usbsysfs"

// sysfsRoot is where describe reads what hidapi does not tell.
const sysfsRoot = usbsysfs.Root
