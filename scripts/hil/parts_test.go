package hil

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// parts are the files the emulated box is made of.
type parts struct {
	kernel  string // arm64 kernel image
	modules string // its modules' directory
	busybox string // static arm64 busybox
	tillbox string // static arm64 tillbox, with cgo (karalabe/usb)
	guest   string // static arm64 hilguest
}

// guestModules are the kernel modules the guest loads at boot (their
// dependencies come along): the xHCI controller QEMU's USB devices sit on,
// HID with hidraw, the FTDI USB-serial driver, the USB gadget stack with
// the dummy host+device controller for the HID POS scanner and its CDC-ACM
// port (and the host side's cdc-acm driver), and virtio-net
// for the loopback-only network.
var guestModules = []string{
	"xhci_pci", "usbhid", "hid_generic", "ftdi_sio",
	"dummy_hcd", "configfs", "libcomposite", "usb_f_hid", "usb_f_acm", "cdc_acm",
	"virtio_pci", "virtio_net",
}

// getParts fetches the kernel and busybox (scripts/hil/fetch.sh, cached
// outside the checkout) and builds tillbox and hilguest for arm64 into dir.
func getParts(ctx context.Context, dir string) (*parts, error) {
	var p parts
	out, err := runCmd(ctx, nil, "", "./fetch.sh")
	if err != nil {
		return nil, fmt.Errorf("fetching the arm64 kernel and busybox: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "kernel":
			p.kernel = v
		case "modules":
			p.modules = v
		case "busybox":
			p.busybox = v
		}
	}
	if p.kernel == "" || p.modules == "" || p.busybox == "" {
		return nil, fmt.Errorf("fetch.sh did not name the kernel, modules and busybox:\n%s", out)
	}

	for _, tool := range []string{"aarch64-linux-gnu-gcc", "qemu-system-aarch64"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is missing: run scripts/ensure-deps.sh as root (it installs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-system-arm)", tool)
		}
	}
	// The box's binary is built the way a release is: static, arm64, with
	// cgo for karalabe/usb's bundled libusb.
	p.tillbox = filepath.Join(dir, "tillbox")
	env := []string{"CGO_ENABLED=1", "GOOS=linux", "GOARCH=arm64", "CC=aarch64-linux-gnu-gcc"}
	if _, err := runCmd(ctx, env, "", "go", "build", "-tags", "netgo,osusergo", "-trimpath",
		"-ldflags", "-s -w -linkmode external -extldflags -static",
		"-o", p.tillbox, "github.com/tillbox/tillbox/cmd/tillbox"); err != nil {
		return nil, fmt.Errorf("building the arm64 tillbox: %w", err)
	}
	p.guest = filepath.Join(dir, "hilguest")
	if _, err := runCmd(ctx, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}, "", "go", "build", "-trimpath",
		"-ldflags", "-s -w", "-o", p.guest, "github.com/tillbox/tillbox/scripts/hil/guest"); err != nil {
		return nil, fmt.Errorf("building the arm64 hilguest: %w", err)
	}
	return &p, nil
}

// runCmd runs a command to its end and returns its standard output; the
// error carries its standard error.
func runCmd(ctx context.Context, env []string, dir string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// initScript is the guest's /init: busybox mounts the pseudo file systems,
// loads the modules, brings up the network (the only way out is QEMU's
// forwards to the host's loopback), starts hilguest, waits until the
// kernel has set up both USB HID devices (the keyboard and the gadget's HID
// POS interface), and runs tillbox until it ends, then powers off.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "hil: loading modules"
while read -r m; do
  insmod "/lib/modules/$m" || echo "hil: insmod $m failed"
done </lib/modules/order
mount -t configfs configfs /sys/kernel/config
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
mkdir -p /var/lib/tillbox
echo "hil: starting hilguest"
/usr/bin/hilguest -listen :7000 -relay 127.0.0.1:8090=10.0.2.100:8090 -gadget %s &
/usr/bin/hilguest -wait-hid 2 || echo "hil: the USB HID devices are not all set up"
echo "hil: starting tillbox"
/usr/bin/tillbox run --config /etc/tillbox/tillbox.toml
echo "hil: tillbox exited with status $?"
poweroff -f
`

// buildInitramfs packs the parts, the configuration and /init into path.
func buildInitramfs(p *parts, config, gadget, path string) error {
	mods, err := moduleOrder(p.modules, guestModules)
	if err != nil {
		return err
	}
	r := &initramfs{files: map[string][]byte{}, modules: mods}
	for name, src := range map[string]string{"bin/busybox": p.busybox, "usr/bin/tillbox": p.tillbox, "usr/bin/hilguest": p.guest} {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		r.files[name] = data
	}
	r.files["init"] = fmt.Appendf(nil, initScript, gadget)
	r.files["etc/tillbox/tillbox.toml"] = []byte(config)
	return r.write(path)
}
