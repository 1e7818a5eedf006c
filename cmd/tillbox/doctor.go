package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/version"
	"github.com/tillbox/tillbox/store"
)

const doctorUsage = `usage: tillbox doctor [--config FILE]

Checks what a box needs and prints a report a technician can read out on the
phone: the configuration, the data folder, the database, the scanners, the
clock, and the way to Vipps MobilePay (DNS, TCP, TLS). Exit status 0 when nothing failed, 1
when something did (warnings do not fail).
`

// finding is one line of the doctor's report.
type finding struct {
	name, status, detail string // status: ok, warn, fail
}

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tillbox doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, doctorUsage) }
	path := fs.String("config", config.DefaultPath, "the configuration `file`")
	timeout := fs.Duration("timeout", 5*time.Second, "bound of each network check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, doctorUsage)
		return errUsage
	}
	checks := doctor(ctx, *path, time.Now(), *timeout)
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
func doctor(ctx context.Context, path string, now time.Time, timeout time.Duration) []finding {
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
		return out
	}
	add("config", "ok", "%s", path)
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		add("config", "warn", "%s is readable by every user (mode %v): it may hold secrets; chmod 640", path, fi.Mode().Perm())
	}

	// The data folder and the database.
	switch fi, err := os.Stat(c.Box.DataDir); {
	case err != nil:
		add("data", "fail", "%v", err)
	case !fi.IsDir():
		add("data", "fail", "%s is not a folder", c.Box.DataDir)
	case fi.Mode().Perm()&0o002 != 0:
		add("data", "fail", "%s is writable by every user (mode %v)", c.Box.DataDir, fi.Mode().Perm())
	default:
		add("data", "ok", "%s (mode %v)", c.Box.DataDir, fi.Mode().Perm())
	}
	if _, err := os.Stat(c.DBPath()); errors.Is(err, os.ErrNotExist) {
		add("database", "warn", "%s does not exist yet (tillbox run creates it)", c.DBPath())
	} else {
		so := c.StoreOptions()
		so.Timeout = 200 * time.Millisecond
		db, err := store.Open(c.DBPath(), so)
		var le *store.LockedError
		switch {
		case errors.As(err, &le):
			add("database", "ok", "%s is in use by the running tillbox (pid %d)", c.DBPath(), le.PID)
		case err != nil:
			add("database", "fail", "%v", err)
		default:
			st, err := db.Stats()
			_ = db.Close()
			if err != nil {
				add("database", "fail", "%v", err)
			} else {
				add("database", "ok", "%s: %d bytes, %d sales (%d unfinished), %d commands queued", c.DBPath(), st.FileSize, st.Sales, st.Unfinished, st.Commands)
			}
		}
	}

	out = append(out, scannerFindings(ctx, c, machine, timeout)...) // doctor_scanners.go

	// The way to Vipps MobilePay.
	name, status, detail := reach(ctx, c.BaseURL(), timeout)
	add(name, status, "%s", detail)
	return out
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
