package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/agent/tlscert"
	"github.com/tillbox/tillbox/agent/version"
	"github.com/tillbox/tillbox/display/technician"
	"github.com/tillbox/tillbox/store"
)

const doctorUsage = `usage: tillbox doctor [--config FILE] [--user NAME]

Checks what a box needs and prints a report a technician can read out on the
phone: the configuration, who may read and change it and its secret files
(root and the service's user, --user, default tillbox; never every user),
the data folder, the database, the scanners, the clock, and the way to
Vipps MobilePay (DNS, TCP, TLS, the credentials), and with [fleet] the link
to headquarters (it connects, and says how far behind headquarters is). Exit status 0 when nothing failed, 1 when
something did (warnings do not fail).
`

// finding is one line of the doctor's report.
type finding struct {
	name, status, detail string // status: ok, warn, fail
}

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tillbox doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), doctorUsage) }
	path := fs.String("config", config.DefaultPath, "the configuration `file`")
	timeout := fs.Duration("timeout", 5*time.Second, "bound of each network check")
	userName := fs.String("user", "tillbox", "the service's `user`: it and root may own the configuration and the secrets")
	if _, err := parseArgs(fs, args, stdout); err != nil {
		return err
	}
	checks := doctor(ctx, *path, lookupService(*userName), time.Now(), *timeout)
	failed := false
	fmt.Fprintf(stdout, "tillbox doctor, %s, %s\n", version.String(), time.Now().UTC().Format(time.RFC3339))
	for _, c := range checks {
		mark := map[string]string{"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[c.status]
		fmt.Fprintf(stdout, "  %s  %-10s %s\n", mark, c.name, c.detail)
		failed = failed || c.status == "fail"
	}
	if failed {
		return &exitError{code: 1}
	}
	return nil
}

// doctor runs the checks of the box configured at path.
func doctor(ctx context.Context, path string, svc service, now time.Time, timeout time.Duration) []finding {
	var out []finding
	add := func(name, status, format string, a ...any) {
		out = append(out, finding{name, status, fmt.Sprintf(format, a...)})
	}
	add("clock", clockStatus(now), "%s (this build is from %s)", now.UTC().Format(time.RFC3339), version.Date())
	c, err := config.Load(path)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			add("config", "fail", "%s: %d problem(s), first: %s (tillbox config check %s)", path, len(ce.Problems), ce.Problems[0], path)
		} else {
			add("config", "fail", "%v", err)
		}
		if _, err := os.Stat(path); err == nil {
			out = append(out, secretFile(path, "the configuration", svc))
		}
		return out
	}
	add("config", "ok", "%s", path)

	out = append(out, fileFindings(c, path, svc)...)
	out = append(out, overlayFindings(c, svc)...)
	out = append(out, dataFindings(c, svc)...)
	out = append(out, databaseFindings(ctx, c, timeout)...)
	out = append(out, tlsFindings(c)...)
	out = append(out, scannerFindings(ctx, c, machine, timeout)...) // doctor_scanners.go
	out = append(out, udevFinding(c, path, svc.name, udevRulesDir))
	out = append(out, fleetFindings(ctx, c, svc, timeout)...) // doctor_fleet.go

	// The way to Vipps MobilePay.
	name, status, detail := reach(ctx, c.BaseURL(), timeout)
	if status == "ok" {
		status, detail = credentials(ctx, c, path, detail, timeout) // doctor_credentials.go
	}
	add(name, status, "%s", detail)
	return out
}

// fileFindings: who may read and change the configuration at path, its
// folder, its secret files and the technician password's file.
func fileFindings(c *config.Config, path string, svc service) []finding {
	var out []finding
	add := func(status, format string, a ...any) {
		out = append(out, finding{"files", status, fmt.Sprintf(format, a...)})
	}
	if !svc.found {
		add("warn", "there is no user %s on this machine (scripts/install.sh makes it): only root may own the configuration", svc.name)
	}
	out = append(out, secretFile(path, "the configuration", svc))
	if fi, err := os.Stat(filepath.Dir(path)); err == nil && fi.Mode()&0o002 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		add("fail", "%s: every user can replace the files in it (mode %s): chmod o-w %s", filepath.Dir(path), octal(fi.Mode()), filepath.Dir(path))
	}
	for _, f := range c.SecretFiles() {
		out = append(out, secretFile(f.Path, f.Field, svc))
	}
	// The configuration is read-only to the service (PRODUCT.md): the
	// technician page saves to its overlay in the data folder instead.
	readOnly := func(p, what, mode string) {
		if fi, err := os.Stat(p); err == nil && serviceWrites(fi, svc) {
			add("fail", "%s (%s): %s can change it (%s %s), but the configuration must be read-only to the service: chown root:%s %s && chmod %s %s",
				p, what, svc.name, owners(fi), octal(fi.Mode()), svc.name, p, mode, p)
		}
	}
	readOnly(path, "the configuration", "0640")
	readOnly(filepath.Dir(path), "the configuration's folder", "0750")
	for _, f := range c.SecretFiles() {
		readOnly(f.Path, f.Field, "0640")
	}
	if pw := filepath.Join(c.Box.DataDir, technician.PasswordFile); fileExists(pw) {
		out = append(out, secretFile(pw, "the technician password", svc))
	}
	return out
}

// overlayFindings: the technician page's overlay, when there is one, is
// the service's user's alone.
func overlayFindings(c *config.Config, svc service) []finding {
	fi, err := os.Stat(c.OverlayFile)
	if err != nil {
		return nil
	}
	f := func(status, format string, a ...any) []finding {
		return []finding{{"files", status, fmt.Sprintf(format, a...)}}
	}
	const what = "the technician page's settings"
	uid, _ := ids(fi)
	switch mode := fi.Mode().Perm(); {
	case mode&0o077 != 0:
		return f("fail", "%s (%s): other users can %s it (mode %s): chmod 600 %s", c.OverlayFile, what, readChange(mode|mode>>3), octal(mode), c.OverlayFile)
	case svc.found && uid != svc.uid:
		return f("fail", "%s (%s) belongs to %s, not to %s, who writes it: chown %s: %s", c.OverlayFile, what, userName(uid), svc.name, svc.name, c.OverlayFile)
	default:
		set := strings.Join(c.Overlaid(), ", ")
		if set == "" {
			set = "nothing"
		}
		return f("ok", "%s (%s, over the configuration: %s): %s %s", c.OverlayFile, what, set, owners(fi), octal(mode))
	}
}

// dataFindings: the data folder, and who may write in it.
func dataFindings(c *config.Config, svc service) []finding {
	f := func(status, format string, a ...any) []finding {
		return []finding{{"data", status, fmt.Sprintf(format, a...)}}
	}
	switch fi, err := os.Stat(c.Box.DataDir); {
	case err != nil:
		return f("fail", "%v", err)
	case !fi.IsDir():
		return f("fail", "%s is not a folder", c.Box.DataDir)
	case fi.Mode().Perm()&0o002 != 0:
		return f("fail", "%s is writable by every user (mode %s): chmod o-w %s", c.Box.DataDir, octal(fi.Mode()), c.Box.DataDir)
	default:
		if who, ok := canWrite(c.Box.DataDir, fi, svc); !ok {
			return f("fail", "%s: %s cannot write in it (%s %s): chown %s:%s %s", c.Box.DataDir, who, owners(fi), octal(fi.Mode()), svc.name, svc.name, c.Box.DataDir)
		}
		return f("ok", "%s (%s %s)", c.Box.DataDir, owners(fi), octal(fi.Mode()))
	}
}

// databaseFindings: the database's modes, and its deep check (or the
// running tillbox's, when it holds the file).
func databaseFindings(ctx context.Context, c *config.Config, timeout time.Duration) []finding {
	var out []finding
	add := func(status, format string, a ...any) {
		out = append(out, finding{"database", status, fmt.Sprintf(format, a...)})
	}
	for _, f := range []string{c.DBPath(), c.DBPath() + ".journal"} {
		if fi, err := os.Stat(f); err == nil && fi.Mode().Perm()&0o006 != 0 {
			add("fail", "%s: every user can %s it (mode %s): it holds the sales; chmod o-rwx %s", f, readChange(fi.Mode()), octal(fi.Mode()), f)
		}
	}
	if _, err := os.Stat(c.DBPath()); errors.Is(err, os.ErrNotExist) {
		add("warn", "%s does not exist yet (tillbox run creates it)", c.DBPath())
		return out
	}
	so := c.StoreOptions()
	so.Timeout = 200 * time.Millisecond
	db, err := store.Open(c.DBPath(), so)
	var le *store.LockedError
	switch {
	case errors.As(err, &le):
		status, detail := runningStore(ctx, c, timeout)
		add(status, "%s is in use by the running tillbox (pid %d): %s", c.DBPath(), le.PID, detail)
	case err != nil:
		add("fail", "%v", err)
	default:
		// The deep check: every page, every record, every index.
		st, err := db.Stats()
		if err == nil {
			err = db.Verify()
		}
		_ = db.Close()
		if err != nil {
			add("fail", "%v", err)
		} else {
			add("ok", "%s: %d bytes, %d sales (%d unfinished), %d commands queued; every page and record checked", c.DBPath(), st.FileSize, st.Sales, st.Unfinished, st.Commands)
		}
	}
	return out
}

// tlsFindings: the certificate of [tls] and its fingerprint (for a POS to
// pin), or a warning for each LAN listener that speaks plain HTTP.
func tlsFindings(c *config.Config) []finding {
	var out []finding
	add := func(status, format string, a ...any) {
		out = append(out, finding{"tls", status, fmt.Sprintf(format, a...)})
	}
	if c.TLS.Mode == config.TLSOff {
		for _, l := range []struct{ field, addr, what string }{
			{"pos.listen", c.POS.Listen, "the POS token"}, {"console.listen", c.Console.Listen, "the technician password"},
		} {
			if l.addr != "" && onLAN(l.addr) {
				add("warn", "%s %q is reachable from the shop's LAN over plain HTTP: %s crosses the network in clear text; set [tls] mode = \"self-signed\" and pin the fingerprint in the POS", l.field, l.addr, l.what)
			}
		}
		if len(out) == 0 {
			add("ok", "off (the POS API and the technician page listen on loopback only)")
		}
		return out
	}
	cert, key := filepath.Join(c.Box.DataDir, tlscert.CertFile), filepath.Join(c.Box.DataDir, tlscert.KeyFile)
	if c.TLS.Mode == config.TLSFiles {
		cert, key = c.TLS.CertFile, c.TLS.KeyFile
	} else if !fileExists(cert) && !fileExists(key) {
		add("warn", "self-signed: no certificate yet (tillbox run makes it on its first start, in %s)", c.Box.DataDir)
		return out
	}
	pair, err := tlscert.Load(cert, key)
	if err != nil {
		add("fail", "%v", err)
		return out
	}
	add("ok", "%s, certificate %s, SHA-256 %s (pin it in the POS: tillbox pos --pin %s)", c.TLS.Mode, cert, tlscert.Fingerprint(pair), tlscert.Fingerprint(pair))
	if leaf := pair.Leaf; leaf != nil && time.Now().After(leaf.NotAfter) {
		add("fail", "%s expired on %s", cert, leaf.NotAfter.Format(time.DateOnly))
	}
	return out
}

// runningStore asks the running tillbox's /readyz about its database: it
// holds the file's lock, and it checked every record when it started.
func runningStore(ctx context.Context, c *config.Config, timeout time.Duration) (status, detail string) {
	base, client, err := localAPI(c)
	if err != nil {
		return "warn", fmt.Sprintf("its records could not be checked: %v", err)
	}
	url := base + posapi.PathReadyz
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "warn", fmt.Sprintf("its records could not be checked: %v", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "warn", fmt.Sprintf("its records could not be checked: GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var rd posapi.Readiness
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&rd); err != nil {
		return "warn", fmt.Sprintf("its records could not be checked: GET %s: %s, %v", url, resp.Status, err)
	}
	for _, c := range rd.Checks {
		if c.Name != "store" {
			continue
		}
		if !c.OK {
			return "fail", c.Detail
		}
		return "ok", "its store says " + c.Detail + " (GET " + url + ")"
	}
	return "warn", fmt.Sprintf("its records could not be checked: GET %s has no store check", url)
}

// clockStatus fails a clock behind the build (a box without a real-time
// clock may boot in 1970: signatures and TLS need the right time).
func clockStatus(now time.Time) string {
	if built, err := time.Parse(time.RFC3339, version.Date()); err == nil && now.Before(built.Add(-24*time.Hour)) {
		return "fail"
	}
	if now.Year() < 2025 {
		return "fail"
	}
	return "ok"
}

// reach checks DNS, TCP and (for https) TLS to the ePayment base URL.
func reach(ctx context.Context, base string, timeout time.Duration) (name, status, detail string) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "vipps", "fail", fmt.Sprintf("base URL %q: %v", base, err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if net.ParseIP(host) == nil {
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			return "vipps", "warn", fmt.Sprintf("offline? DNS cannot find %s: %v (sales queue until it can)", host, err)
		}
		_ = addrs
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return "vipps", "warn", fmt.Sprintf("offline? cannot connect to %s: %v (sales queue until it can)", u.Host, err)
	}
	defer conn.Close()
	if u.Scheme != "https" {
		return "vipps", "ok", fmt.Sprintf("%s answers (plain http: the simulator, on loopback)", u.Host)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		return "vipps", "fail", fmt.Sprintf("TLS with %s fails: %v (is the clock right?)", host, err)
	}
	return "vipps", "ok", fmt.Sprintf("%s: DNS, TCP and TLS fine", host)
}

// service is the user the service runs as (--user), as this machine knows it.
type service struct {
	name     string
	uid, gid int
	found    bool
}

func lookupService(name string) service {
	s := service{name: name, uid: -1, gid: -1}
	u, err := user.Lookup(name)
	if err != nil {
		return s
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 == nil && err2 == nil {
		s.uid, s.gid, s.found = uid, gid, true
	}
	return s
}

// secretFile checks a file that holds secrets or decides where payments
// go: every user may neither read nor change it, it belongs to root or
// the service's user, and a group that may read it is root's or the
// service's.
func secretFile(path, what string, svc service) finding {
	fi, err := os.Stat(path)
	if err != nil {
		return finding{"files", "fail", fmt.Sprintf("%s (%s): %v", path, what, err)}
	}
	mode := fi.Mode().Perm()
	uid, gid := ids(fi)
	switch {
	case mode&0o007 != 0:
		return finding{"files", "fail", fmt.Sprintf("%s (%s): every user can %s it (mode %s): chmod o-rwx %s", path, what, readChange(mode), octal(mode), path)}
	case uid != 0 && uid != svc.uid:
		return finding{"files", "fail", fmt.Sprintf("%s (%s) belongs to %s, not to root or %s: chown root:%s %s", path, what, userName(uid), svc.name, svc.name, path)}
	case mode&0o070 != 0 && gid != 0 && gid != svc.gid:
		return finding{"files", "fail", fmt.Sprintf("%s (%s): the group %s can %s it (mode %s): chgrp %s %s", path, what, groupName(gid), readChange(mode>>3), octal(mode), svc.name, path)}
	case svc.found && svc.uid != 0 && !(uid == svc.uid && mode&0o400 != 0) && !(gid == svc.gid && mode&0o040 != 0):
		return finding{"files", "fail", fmt.Sprintf("%s (%s): %s cannot read it (%s %s): chgrp %s %s && chmod g+r %s", path, what, svc.name, owners(fi), octal(mode), svc.name, path, path)}
	}
	return finding{"files", "ok", fmt.Sprintf("%s (%s): %s %s", path, what, owners(fi), octal(mode))}
}

// serviceWrites tells whether the service's user can change a file, or
// the files of a folder: it owns it, or its group or every user may
// write. A service run as root could change anything: not told.
func serviceWrites(fi fs.FileInfo, svc service) bool {
	if !svc.found || svc.uid == 0 {
		return false
	}
	uid, gid := ids(fi)
	mode := fi.Mode().Perm()
	return uid == svc.uid || (gid == svc.gid && mode&0o020 != 0) || mode&0o002 != 0
}

// readChange says what the lowest three mode bits allow: "read",
// "change" or "read and change" (execute alone counts as read).
func readChange(m fs.FileMode) string {
	switch r, w := m&0o005 != 0, m&0o002 != 0; {
	case r && w:
		return "read and change"
	case w:
		return "change"
	}
	return "read"
}

// canWrite tells whether the user who runs the service can write in the
// folder: as root, the service's user (root could write anywhere, which
// proves nothing); otherwise the user running the doctor. who names them.
func canWrite(dir string, fi fs.FileInfo, svc service) (who string, ok bool) {
	if os.Geteuid() != 0 || !svc.found {
		u := "this user"
		if cu, err := user.Current(); err == nil {
			u = cu.Username
		}
		return u, syscall.Access(dir, 0o2|0o1) == nil // W_OK|X_OK
	}
	uid, gid := ids(fi)
	mode := fi.Mode().Perm()
	switch {
	case uid == svc.uid:
		return svc.name, mode&0o300 == 0o300
	case gid == svc.gid:
		return svc.name, mode&0o030 == 0o030
	case svc.uid == 0:
		return svc.name, true
	}
	return svc.name, mode&0o003 == 0o003
}

func ids(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

// owners is "user:group" by name where the machine knows them.
func owners(fi fs.FileInfo) string {
	uid, gid := ids(fi)
	return userName(uid) + ":" + groupName(gid)
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return "gid " + strconv.Itoa(gid)
}

// octal is a mode as chmod takes it: "0640".
func octal(m fs.FileMode) string { return fmt.Sprintf("%04o", m.Perm()) }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
