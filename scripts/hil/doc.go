// Package hil is the hardware-in-the-loop test of tillbox: its tests boot an
// emulated arm64 till box (QEMU, no KVM) running the static arm64 tillbox
// with emulated USB scanners, type and send personal QR codes on them from
// the host, and check that each one became a payment request at the
// simulator on the host. See "Hardware in the loop" in docs/development.md.
//
// The package has only tests; its guest-side helper is scripts/hil/guest,
// and scripts/hil/fetch.sh brings the arm64 kernel and busybox.
package hil
