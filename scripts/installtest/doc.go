// Package installtest tests scripts/install.sh and scripts/uninstall.sh in
// a throw-away Debian bookworm root (debootstrap --variant=minbase, with
// udev and systemd from bookworm-backports for `udevadm verify` and
// `systemd-analyze verify`): the files, owners, modes and the user they
// leave, a second run that changes nothing, an edited configuration that
// is kept, the udev rules of its scanners checked by udevadm, and what
// uninstall removes with and without --purge.
//
// It needs root (debootstrap, chroot) and the Debian mirror of the host's
// apt sources (or $TILLBOX_DEBIAN_MIRROR) to build the root; the tests
// themselves use no network. $TILLBOX_ROOTFS_CACHE names a folder that
// keeps the built root for the next run.
package installtest
