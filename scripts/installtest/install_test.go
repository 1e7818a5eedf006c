package installtest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

const (
	suite    = "bookworm"
	srcDir   = "/opt/tillbox" // where the test puts the checkout's scripts and binary in the root
	binPath  = "/usr/local/bin/tillbox"
	etcDir   = "/etc/tillbox"
	cfgPath  = "/etc/tillbox/tillbox.toml"
	dataDir  = "/var/lib/tillbox"
	unitPath = "/etc/systemd/system/tillbox.service"
	wantsLnk = "/etc/systemd/system/multi-user.target.wants/tillbox.service"
	rulePath = "/etc/udev/rules.d/70-tillbox.rules"
)

// TestInstall runs install.sh and uninstall.sh in a fresh Debian root and
// checks what a technician relies on: who owns what, who can read the
// secrets, that re-running is harmless and keeps an edited configuration,
// that the unit and the udev rules pass systemd's and udev's own checks,
// and that uninstall leaves the configuration and data unless --purge.
func TestInstall(t *testing.T) {
	root := debianRoot(t)
	repo := repoRoot(t)

	// The checkout's scripts and a tillbox built now go to /opt/tillbox, as
	// a technician would copy them.
	for _, f := range []string{"scripts/install.sh", "scripts/uninstall.sh", "scripts/systemd/tillbox.service"} {
		copyFile(t, filepath.Join(repo, f), filepath.Join(root, srcDir, f), 0o755)
	}
	bin := filepath.Join(root, srcDir, "bin/tillbox")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/tillbox")
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	example := mustRun(t, exec.Command(bin, "config", "example"))
	unit := readFile(t, filepath.Join(repo, "scripts/systemd/tillbox.service"))

	// Not root: refused, and nothing is made.
	out, err := inRoot(root, "65534:65534", "/bin/sh", srcDir+"/scripts/install.sh")
	if err == nil || !strings.Contains(out, "must run as root") {
		t.Errorf("install.sh as nobody: %v\n%s", err, out)
	}
	out, err = inRoot(root, "65534:65534", "/bin/sh", srcDir+"/scripts/uninstall.sh", "--purge")
	if err == nil || !strings.Contains(out, "must run as root") {
		t.Errorf("uninstall.sh as nobody: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, etcDir)); !os.IsNotExist(err) {
		t.Fatalf("install.sh as nobody made %s: %v", etcDir, err)
	}
	out, err = inRoot(root, "", "/bin/sh", srcDir+"/scripts/install.sh", "--binary", "/nonexistent")
	if err == nil || !strings.Contains(out, "/nonexistent: no such file") {
		t.Errorf("install.sh --binary /nonexistent: %v\n%s", err, out)
	}

	// The first run: everything in place (the binary found in bin/).
	out = mustInRoot(t, root, "", "/bin/sh", srcDir+"/scripts/install.sh")
	t.Logf("install.sh:\n%s", out)
	if !strings.Contains(out, "systemd is not running here") {
		t.Errorf("install.sh in a chroot does not say it skipped systemd:\n%s", out)
	}
	ids := readIDs(t, root)
	user := ids.user("tillbox")
	if user == nil {
		t.Fatalf("no user tillbox in the root's /etc/passwd")
	}
	if user.shell != "/usr/sbin/nologin" || user.home != dataDir || user.uid >= 1000 || user.uid == 0 || ids.groups[user.gid] != "tillbox" ||
		!strings.Contains(readFile(t, filepath.Join(root, "etc/passwd")), ":tillbox agent (created by install.sh):") {
		t.Errorf("user tillbox: %+v (want a system uid, group tillbox, home %s, shell /usr/sbin/nologin)", *user, dataDir)
	}
	want := []fileWant{
		{binPath, "root", "root", 0o755, readFile(t, bin)},
		{etcDir, "root", "tillbox", fs.ModeDir | 0o750, ""},
		{cfgPath, "root", "tillbox", 0o640, example},
		{dataDir, "tillbox", "tillbox", fs.ModeDir | 0o750, ""},
		{unitPath, "root", "root", 0o644, unit},
		{rulePath, "root", "root", 0o644, ""},
	}
	checkFiles(t, root, ids, want)
	rules := readFile(t, filepath.Join(root, rulePath))
	if !strings.Contains(rules, "no device is granted") || strings.Contains(rules, "GROUP=") {
		t.Errorf("the example configuration has no scanner, yet the rules grant something:\n%s", rules)
	}

	// The second run changes nothing, also with the binary named.
	before := snapshot(t, root)
	out = mustInRoot(t, root, "", "/bin/sh", srcDir+"/scripts/install.sh", "--binary", srcDir+"/bin/tillbox")
	if !strings.Contains(out, "nothing to change") {
		t.Errorf("the second install.sh does not say it changed nothing:\n%s", out)
	}
	if diff := compare(before, snapshot(t, root)); diff != "" {
		t.Errorf("the second install.sh changed:\n%s", diff)
	}

	// An edited configuration with scanners and a secret in a file (left
	// readable by everyone): kept, the secret file closed, the rules made
	// for the scanners.
	edited := strings.Replace(example, `client_secret = "simulator-client-secret"`, `client_secret_file = "client_secret"`, 1)
	edited = strings.Replace(edited, `# till = "till1"`, `till = "counter2"`, 1) + `
[[scanner]]
name = "counter"
driver = "serial"
match = "0c2e:0b61:17001"

[[scanner]]
name = "customer"
driver = "hid"
match = "05e0:1200"

[[scanner]]
name = "rs232"
driver = "serial"
match = "/dev/ttyS0"
`
	if edited == example || !strings.Contains(edited, "client_secret_file") {
		t.Fatal("the example changed: the test's edit does not apply")
	}
	writeFile(t, filepath.Join(root, cfgPath), edited, 0o660) // as the page of old left it: install.sh closes it
	secret := filepath.Join(root, etcDir, "client_secret")
	writeFile(t, secret, "simulator-client-secret\n", 0o644)
	if err := os.Chown(secret, 0, 0); err != nil {
		t.Fatal(err)
	}
	out = mustInRoot(t, root, "", "/bin/sh", srcDir+"/scripts/install.sh")
	t.Logf("install.sh after the edit:\n%s", out)
	if !strings.Contains(out, "kept as it is") {
		t.Errorf("install.sh does not say it kept the configuration:\n%s", out)
	}
	want[2].content = edited
	want[5].content = mustInRoot(t, root, "", binPath, "udev-rules", "--config", cfgPath)
	checkFiles(t, root, ids, append(want, fileWant{etcDir + "/client_secret", "root", "tillbox", 0o640, "simulator-client-secret\n"}))
	rules = readFile(t, filepath.Join(root, rulePath))
	for _, w := range []string{
		`SUBSYSTEM=="tty", ATTRS{idVendor}=="0c2e", ATTRS{idProduct}=="0b61", ATTRS{serial}=="17001", GROUP="tillbox", MODE="0660"`,
		`SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{idVendor}=="05e0", ATTR{idProduct}=="1200", GROUP="tillbox", MODE="0660"`,
		`SUBSYSTEM=="tty", KERNEL=="ttyS0", GROUP="tillbox", MODE="0660"`,
	} {
		if !strings.Contains(rules, w) {
			t.Errorf("the rules lack %s:\n%s", w, rules)
		}
	}

	// The service's user reads its configuration and secret; nobody else.
	if out, err := inRoot(root, "tillbox:tillbox", binPath, "config", "check", cfgPath); err != nil || !strings.Contains(out, ": ok") {
		t.Errorf("tillbox config check as the user tillbox: %v\n%s", err, out)
	}
	for _, f := range []string{cfgPath, etcDir + "/client_secret"} {
		if out, err := inRoot(root, "65534:65534", "/bin/cat", f); err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("nobody reads %s: %v\n%s", f, err, out)
		}
	}
	// The configuration is read-only to the service (PRODUCT.md): it can
	// neither change the file nor add one beside it.
	for _, cmd := range []string{"echo >> " + cfgPath, "echo > " + etcDir + "/new", "mv " + cfgPath + " " + etcDir + "/moved"} {
		if out, err := inRoot(root, "tillbox:tillbox", "/bin/sh", "-c", cmd); err == nil {
			t.Errorf("the service's user could %s\n%s", cmd, out)
		}
	}
	// The technician page's settings, in the data folder (the service's),
	// are laid over the configuration: root's tillbox commands read them.
	overlay := filepath.Join(root, dataDir, "settings.toml")
	writeFile(t, overlay, "[display]\nlanguage = \"da\"\n", 0o600)
	if err := os.Chown(overlay, user.uid, user.gid); err != nil {
		t.Fatal(err)
	}
	if out, err := inRoot(root, "", binPath, "config", "check", cfgPath); err != nil || !strings.Contains(out, "ok, with the technician page's settings from /var/lib/tillbox/settings.toml (display.language)") {
		t.Errorf("tillbox config check with the page's settings: %v\n%s", err, out)
	}
	// sudo tillbox passwd leaves a password file the service can read.
	mustInRoot(t, root, "", "/bin/sh", "-c", "echo 'a long technician password' | tillbox passwd --config "+cfgPath)
	checkFiles(t, root, ids, []fileWant{{dataDir + "/technician.passwd", "tillbox", "tillbox", 0o600, ""}})
	// And tillbox doctor, as the service, finds the permissions right. The
	// configured scanners are not plugged into this root: they fail, and
	// nothing else does.
	out, _ = inRoot(root, "tillbox:tillbox", binPath, "doctor", "--config", cfgPath, "--timeout", "1s")
	t.Logf("tillbox doctor as the user tillbox:\n%s", out)
	if !strings.Contains(out, "ok    files      /etc/tillbox/client_secret (vipps.client_secret_file): root:tillbox 0640") ||
		!strings.Contains(out, "ok    files      /var/lib/tillbox/technician.passwd") ||
		!strings.Contains(out, "ok    files      /var/lib/tillbox/settings.toml (the technician page's settings, over the configuration: display.language): tillbox:tillbox 0600") {
		t.Errorf("tillbox doctor as the service on the installed box:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "FAIL") && !strings.HasPrefix(strings.TrimSpace(line), "FAIL  scanner ") {
			t.Errorf("tillbox doctor on the installed box fails: %s", line)
		}
	}
	if !strings.Contains(out, "ok    udev       /etc/udev/rules.d/70-tillbox.rules grants the 3 configured scanner(s) to the group tillbox") {
		t.Errorf("tillbox doctor does not find the installed udev rules in step:\n%s", out)
	}
	if n := strings.Count(out, "FAIL  scanner "); n != 3 {
		t.Errorf("tillbox doctor reports %d of the 3 scanners (none plugged in here) as failing:\n%s", n, out)
	}

	// udev's and systemd's own checks of what was installed.
	if out, err := inRoot(root, "", "/bin/sh", "-c", "udevadm verify --help"); err != nil || !strings.Contains(out, "Verify udev rules") {
		t.Fatalf("the root's udevadm has no verify (udev 253 or later, from %s-backports, is needed): %v\n%s", suite, err, out)
	}
	if out, err := inRoot(root, "", "udevadm", "verify", rulePath); err != nil || !strings.Contains(out, "Success: 1") {
		t.Errorf("udevadm verify %s: %v\n%s", rulePath, err, out)
	}
	if out, err := inRoot(root, "", "systemd-analyze", "verify", unitPath); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}

	// Uninstall: the unit (and its enablement), the rules and the binary
	// go; the configuration, the data and the user stay.
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(wantsLnk)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(unitPath, filepath.Join(root, wantsLnk)); err != nil { // as systemctl enable makes it
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, dataDir, "tillbox.db"), "sales", 0o640)
	out = mustInRoot(t, root, "", "/bin/sh", srcDir+"/scripts/uninstall.sh")
	t.Logf("uninstall.sh:\n%s", out)
	for _, gone := range []string{binPath, unitPath, wantsLnk, rulePath} {
		if _, err := os.Lstat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("uninstall.sh left %s (%v)", gone, err)
		}
	}
	checkFiles(t, root, ids, []fileWant{want[1], want[2], want[3], {dataDir + "/tillbox.db", "root", "root", 0o640, "sales"}})
	if !strings.Contains(out, "kept /etc/tillbox") || readIDs(t, root).user("tillbox") == nil {
		t.Errorf("uninstall.sh did not keep (or say it kept) the configuration, data and user:\n%s", out)
	}
	out = mustInRoot(t, root, "", "/bin/sh", srcDir+"/scripts/uninstall.sh")
	if !strings.Contains(out, "nothing to remove") {
		t.Errorf("the second uninstall.sh:\n%s", out)
	}

	// --purge: the rest goes; twice is harmless.
	out = mustInRoot(t, root, "", "/bin/sh", srcDir+"/scripts/uninstall.sh", "--purge")
	t.Logf("uninstall.sh --purge:\n%s", out)
	for _, gone := range []string{etcDir, dataDir} {
		if _, err := os.Lstat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("uninstall.sh --purge left %s (%v)", gone, err)
		}
	}
	ids = readIDs(t, root)
	if ids.user("tillbox") != nil || slices.Contains(mapValues(ids.groups), "tillbox") {
		t.Errorf("uninstall.sh --purge left the user or group tillbox")
	}
	out = mustInRoot(t, root, "", "/bin/sh", srcDir+"/scripts/uninstall.sh", "--purge")
	if !strings.Contains(out, "nothing to remove") {
		t.Errorf("the second uninstall.sh --purge:\n%s", out)
	}

	// A user tillbox made by hand, before install.sh: install.sh uses it,
	// and --purge keeps it (and its group), saying so.
	mustInRoot(t, root, "", "/bin/sh", "-c", "groupadd --system tillbox && useradd --system --gid tillbox --comment 'made by the shop' tillbox")
	mustInRoot(t, root, "", "/bin/sh", srcDir+"/scripts/install.sh", "--binary", srcDir+"/bin/tillbox")
	out = mustInRoot(t, root, "", "/bin/sh", srcDir+"/scripts/uninstall.sh", "--purge")
	t.Logf("uninstall.sh --purge of a box whose user was made by hand:\n%s", out)
	ids = readIDs(t, root)
	if ids.user("tillbox") == nil || !slices.Contains(mapValues(ids.groups), "tillbox") || !strings.Contains(out, "kept the user tillbox: install.sh did not make it") {
		t.Errorf("uninstall.sh --purge removed a user tillbox it did not make, or did not say it kept it:\n%s", out)
	}
	if _, err := os.Lstat(filepath.Join(root, etcDir)); !os.IsNotExist(err) {
		t.Errorf("uninstall.sh --purge left %s (%v)", etcDir, err)
	}
	mustInRoot(t, root, "", "/bin/sh", "-c", "userdel tillbox; groupdel tillbox 2>/dev/null; true")
}

// inRoot runs a command in the root with chroot, as userspec ("" is root),
// with a plain environment; it returns stdout and stderr together.
func inRoot(root, userspec string, argv ...string) (string, error) {
	args := []string{}
	if userspec != "" {
		args = append(args, "--userspec="+userspec)
	}
	args = append(append(args, root), argv...)
	cmd := exec.Command("chroot", args...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustInRoot(t *testing.T, root, userspec string, argv ...string) string {
	t.Helper()
	out, err := inRoot(root, userspec, argv...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}

func mustRun(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return string(out)
}

// fileWant is a file as it must be: owner and group by name, type and
// permission bits, and its content when not empty.
type fileWant struct {
	path, owner, group string
	mode               fs.FileMode
	content            string
}

func checkFiles(t *testing.T, root string, ids *idTable, want []fileWant) {
	t.Helper()
	for _, w := range want {
		fi, err := os.Lstat(filepath.Join(root, w.path))
		if err != nil {
			t.Errorf("%s: %v", w.path, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		owner, group := ids.userName(int(st.Uid)), ids.groups[int(st.Gid)]
		if owner != w.owner || group != w.group || fi.Mode() != w.mode {
			t.Errorf("%s is %s:%s %v, want %s:%s %v", w.path, owner, group, fi.Mode(), w.owner, w.group, w.mode)
		}
		if w.content != "" {
			if got := readFile(t, filepath.Join(root, w.path)); got != w.content {
				t.Errorf("%s holds %d bytes, not the %d expected", w.path, len(got), len(w.content))
			}
		}
	}
}

// snapshot records, for every file install.sh touches, its type, mode,
// owner, size, modification time and content.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	for _, top := range []string{binPath, etcDir, dataDir, unitPath, rulePath, "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(path)
			if err != nil {
				return err
			}
			st := fi.Sys().(*syscall.Stat_t)
			v := fmt.Sprintf("%v %d:%d size %d mtime %d", fi.Mode(), st.Uid, st.Gid, fi.Size(), fi.ModTime().UnixNano())
			if fi.Mode().IsRegular() {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				v += fmt.Sprintf(" sha256 %x", sha256.Sum256(b))
			}
			snap[strings.TrimPrefix(path, root)] = v
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

func compare(a, b map[string]string) string {
	var diff []string
	for k, v := range a {
		if b[k] != v {
			diff = append(diff, fmt.Sprintf("  %s: %s -> %s", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, fmt.Sprintf("  %s: new, %s", k, v))
		}
	}
	slices.Sort(diff)
	return strings.Join(diff, "\n")
}

// idTable is the root's /etc/passwd and /etc/group: owners are checked by
// name as the box sees them, not by the host's numbers.
type idTable struct {
	users  []passwdEntry
	groups map[int]string
}

type passwdEntry struct {
	name        string
	uid, gid    int
	home, shell string
}

func (ids *idTable) user(name string) *passwdEntry {
	for i := range ids.users {
		if ids.users[i].name == name {
			return &ids.users[i]
		}
	}
	return nil
}

func (ids *idTable) userName(uid int) string {
	for _, u := range ids.users {
		if u.uid == uid {
			return u.name
		}
	}
	return fmt.Sprintf("uid %d", uid)
}

func readIDs(t *testing.T, root string) *idTable {
	t.Helper()
	ids := &idTable{groups: map[int]string{}}
	for _, l := range lines(t, filepath.Join(root, "etc/passwd")) {
		f := strings.Split(l, ":")
		if len(f) != 7 {
			t.Fatalf("/etc/passwd line %q", l)
		}
		var uid, gid int
		fmt.Sscan(f[2], &uid)
		fmt.Sscan(f[3], &gid)
		ids.users = append(ids.users, passwdEntry{name: f[0], uid: uid, gid: gid, home: f[5], shell: f[6]})
	}
	for _, l := range lines(t, filepath.Join(root, "etc/group")) {
		f := strings.Split(l, ":")
		var gid int
		fmt.Sscan(f[2], &gid)
		ids.groups[gid] = f[0]
	}
	return ids
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(readFile(t, path)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func mapValues(m map[int]string) []string {
	var v []string
	for _, s := range m {
		v = append(v, s)
	}
	return v
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, readFile(t, from), mode)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("the checkout is not at %s: %v", dir, err)
	}
	return dir
}
