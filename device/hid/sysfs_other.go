//go:build !linux

package hid

// sysfsRoot is empty where there is no sysfs: hidapi's own listing stands
// (on macOS and Windows it reads the strings and the usage page itself).
const sysfsRoot = ""
