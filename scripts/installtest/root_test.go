package installtest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// debianRoot makes a fresh Debian root for one test: debootstrap
// --variant=minbase, then udev and systemd from backports (their udevadm
// has verify, their systemd-analyze checks the unit as installed). With
// $TILLBOX_ROOTFS_CACHE set, the root is built once into that folder and
// copied from it afterwards. /proc is mounted in it until the test ends.
func debianRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the install test needs root (debootstrap, chroot, useradd in the root): run it as root, as make test and CI do")
	}
	for _, tool := range []string{"debootstrap", "chroot", "mount", "umount", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: scripts/ensure-deps.sh installs it (make deps)", tool)
		}
	}
	root := filepath.Join(t.TempDir(), "root")
	cache := os.Getenv("TILLBOX_ROOTFS_CACHE")
	cached := ""
	if cache != "" {
		cached = filepath.Join(cache, suite+"-minbase-udev")
		if _, err := os.Stat(filepath.Join(cached, ".complete")); err == nil {
			run(t, "cp", "-a", cached, root)
			mountProc(t, root)
			return root
		}
	}

	mirror := debianMirror(t)
	t.Logf("debootstrap --variant=minbase %s from %s", suite, mirror)
	run(t, "debootstrap", "--variant=minbase", suite, root, mirror)
	if err := os.WriteFile(filepath.Join(root, "etc/apt/sources.list.d/backports.list"),
		[]byte("deb "+mirror+" "+suite+"-backports main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// No service may start in the root while packages install.
	if err := os.WriteFile(filepath.Join(root, "usr/sbin/policy-rc.d"), []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mountProc(t, root)
	for _, argv := range [][]string{
		{"apt-get", "update", "-qq"},
		{"apt-get", "install", "-y", "-qq", "--no-install-recommends", "-t", suite + "-backports", "udev", "systemd"},
		{"apt-get", "clean"},
	} {
		if out, err := inRoot(root, "", argv...); err != nil {
			t.Fatalf("in the root: %s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	if cached != "" {
		// Without /proc, and complete only once copied whole.
		umountProc(t, root)
		tmp := cached + ".tmp"
		_ = os.RemoveAll(tmp)
		if err := os.MkdirAll(cache, 0o755); err != nil {
			t.Fatal(err)
		}
		run(t, "cp", "-a", root, tmp)
		if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.RemoveAll(cached)
		if err := os.Rename(tmp, cached); err != nil {
			t.Fatal(err)
		}
		mountProc(t, root)
	}
	return root
}

// mountProc mounts a proc file system at root/proc and unmounts it when the
// test ends, before its temporary folder is removed. Nothing else of the
// host is mounted in the root: removing the root can never reach the host.
func mountProc(t *testing.T, root string) {
	t.Helper()
	proc := filepath.Join(root, "proc")
	if err := syscall.Mount("proc", proc, "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		t.Fatalf("mount proc at %s: %v", proc, err)
	}
	t.Cleanup(func() { umountProc(t, root) })
}

func umountProc(t *testing.T, root string) {
	proc := filepath.Join(root, "proc")
	if err := syscall.Unmount(proc, 0); err != nil && err != syscall.EINVAL { // EINVAL: not mounted
		if err := syscall.Unmount(proc, syscall.MNT_DETACH); err != nil {
			t.Errorf("umount %s: %v", proc, err)
		}
	}
}

// debianMirror is $TILLBOX_DEBIAN_MIRROR, or the Debian archive the host's
// apt sources use (a URI ending in /debian).
func debianMirror(t *testing.T) string {
	t.Helper()
	if m := os.Getenv("TILLBOX_DEBIAN_MIRROR"); m != "" {
		return m
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	for _, f := range append([]string{"/etc/apt/sources.list"}, files...) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			var uris []string
			line := strings.TrimSpace(sc.Text())
			if rest, ok := strings.CutPrefix(line, "URIs:"); ok {
				uris = strings.Fields(rest)
			} else if rest, ok := strings.CutPrefix(line, "deb "); ok {
				for _, w := range strings.Fields(rest) {
					if strings.Contains(w, "://") {
						uris = append(uris, w)
						break
					}
				}
			}
			for _, u := range uris {
				if strings.HasSuffix(strings.TrimSuffix(u, "/"), "/debian") {
					return strings.TrimSuffix(u, "/")
				}
			}
		}
	}
	t.Fatal("no Debian mirror in the host's apt sources (a URI ending in /debian): set TILLBOX_DEBIAN_MIRROR")
	return ""
}

func run(t *testing.T, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}
