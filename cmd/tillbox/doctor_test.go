package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment/sim"
	"github.com/tillbox/tillbox/display/technician"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/storetest"
)

// doctorBox writes a configuration against vippsURL, with its data folder
// and, when withDB, its database.
func doctorBox(t *testing.T, vippsURL string, withDB bool) (cfg, dbPath string) {
	t.Helper()
	dir := t.TempDir()
	cfg = testConfig(t, dir, vippsURL, "127.0.0.1:0", "")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	dbPath = filepath.Join(data, "tillbox.db")
	if withDB {
		db := storetest.Open(t, dbPath, store.Options{})
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, dbPath
}

// runDoctorCmd runs tillbox doctor with the user running the tests as the
// service's user (the files the tests make are theirs), unless args name
// one.
func runDoctorCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if !slices.Contains(args, "--user") {
		args = append(args, "--user", currentUser(t))
	}
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"doctor"}, args...), &out, io.Discard)
	return out.String(), err
}

func currentUser(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// TestDoctor: a healthy box reports every check ok; a database held by a
// running tillbox is fine; Vipps MobilePay out of reach is a warning (the
// box works offline); a broken configuration fails with exit status 1.
func TestDoctor(t *testing.T) {
	s := sim.New(sim.Options{})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })

	cfg, dbPath := doctorBox(t, simHTTP.URL, true)
	out, err := runDoctorCmd(t, "--config", cfg)
	if err != nil {
		t.Fatalf("doctor on a healthy box: %v\n%s", err, out)
	}
	for _, want := range []string{"ok    clock", "ok    config", "ok    files      " + cfg + " (the configuration): ", " 0600", "ok    data", "ok    database", "0 sales", "ok    vipps"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "client-secret-of-the-tests") || strings.Contains(out, "subscription-key-of-the-tests") || strings.Contains(out, testToken) {
		t.Errorf("the report shows a secret:\n%s", out)
	}

	db := storetest.Open(t, dbPath, store.Options{})
	out, err = runDoctorCmd(t, "--config", cfg)
	db.Close()
	if err != nil || !strings.Contains(out, "in use by the running tillbox") {
		t.Errorf("doctor with the database in use: %v\n%s", err, out)
	}

	cfg, _ = doctorBox(t, "http://127.0.0.1:1", false)
	out, err = runDoctorCmd(t, "--config", cfg, "--timeout", "2s")
	if err != nil || !strings.Contains(out, "WARN  vipps      offline? cannot connect") || !strings.Contains(out, "WARN  database") {
		t.Errorf("doctor offline, before the first run: %v\n%s", err, out)
	}

	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("[box]\ntill = \"\"\nnonsense = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runDoctorCmd(t, "--config", bad)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "FAIL  config") {
		t.Errorf("doctor with a broken configuration: %v\n%s", err, out)
	}
}

// TestDoctorTLSAndClock: a TLS peer the box cannot trust fails the check
// (and says to look at the clock); a clock in 1970 fails.
func TestDoctorTLSAndClock(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler()) // its certificate is nobody's
	defer srv.Close()
	_, status, detail := reach(context.Background(), srv.URL, 2*time.Second)
	if status != "fail" || !strings.Contains(detail, "TLS with 127.0.0.1 fails") {
		t.Errorf("reach(%s) = %s, %s", srv.URL, status, detail)
	}
	if got := clockStatus(time.Unix(0, 0)); got != "fail" {
		t.Errorf("a clock in 1970 is %s", got)
	}
	if got := clockStatus(time.Now()); got != "ok" {
		t.Errorf("the clock now is %s", got)
	}
}

// TestDoctorPermissions: the configuration and each secret file it names
// may be read and changed by root and the service's user only (a group
// that reads them is theirs), the data folder is writable by the service
// and by no one else, and every user may not read the database. Each
// breach is a FAIL line naming the file and the command that mends it,
// and exit status 1.
func TestDoctorPermissions(t *testing.T) {
	s := sim.New(sim.Options{})
	simHTTP := httptest.NewServer(s)
	t.Cleanup(func() { simHTTP.Close(); s.Close() })
	me := currentUser(t)

	// A box whose client secret lives in a file beside the configuration.
	box := func(t *testing.T) (cfg, secret, data, db string) {
		cfg, db = doctorBox(t, simHTTP.URL, true)
		text, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		text = bytes.Replace(text, []byte(`client_secret = "client-secret-of-the-tests"`), []byte(`client_secret_file = "client_secret"`), 1)
		if err := os.WriteFile(cfg, text, 0o600); err != nil {
			t.Fatal(err)
		}
		secret = filepath.Join(filepath.Dir(cfg), "client_secret")
		if err := os.WriteFile(secret, []byte("client-secret-of-the-tests\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		return cfg, secret, filepath.Dir(db), db
	}
	chmod := func(t *testing.T, path string, mode os.FileMode) {
		t.Helper()
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	failsWith := func(t *testing.T, out string, err error, want ...string) {
		t.Helper()
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 {
			t.Errorf("doctor exits with %v, want status 1\n%s", err, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("report lacks %q:\n%s", w, out)
			}
		}
		if strings.Contains(out, "client-secret-of-the-tests") {
			t.Errorf("the report shows a secret:\n%s", out)
		}
	}

	t.Run("healthy", func(t *testing.T) {
		cfg, secret, data, _ := box(t)
		out, err := runDoctorCmd(t, "--config", cfg)
		if err != nil {
			t.Fatalf("doctor: %v\n%s", err, out)
		}
		for _, w := range []string{
			"ok    files      " + cfg + " (the configuration): " + me + ":",
			"ok    files      " + secret + " (vipps.client_secret_file): " + me + ":",
			" 0640\n", "ok    data       " + data + " (" + me + ":",
		} {
			if !strings.Contains(out, w) {
				t.Errorf("report lacks %q:\n%s", w, out)
			}
		}
	})
	t.Run("config readable by every user", func(t *testing.T) {
		cfg, _, _, _ := box(t)
		chmod(t, cfg, 0o644)
		out, err := runDoctorCmd(t, "--config", cfg)
		failsWith(t, out, err, "FAIL  files      "+cfg+" (the configuration): every user can read it (mode 0644): chmod o-rwx "+cfg)
	})
	t.Run("config writable by every user", func(t *testing.T) {
		cfg, _, _, _ := box(t)
		chmod(t, cfg, 0o602)
		out, err := runDoctorCmd(t, "--config", cfg)
		failsWith(t, out, err, "every user can change it (mode 0602)")
	})
	t.Run("secret file readable by every user", func(t *testing.T) {
		cfg, secret, _, _ := box(t)
		chmod(t, secret, 0o604)
		out, err := runDoctorCmd(t, "--config", cfg)
		failsWith(t, out, err, "FAIL  files      "+secret+" (vipps.client_secret_file): every user can read it (mode 0604)")
	})
	t.Run("owner neither root nor the service", func(t *testing.T) {
		cfg, secret, _, _ := box(t)
		if os.Geteuid() == 0 {
			// Root's files are always fine: give the secret to a stranger.
			if err := os.Chown(secret, 4242, 4242); err != nil {
				t.Fatal(err)
			}
			out, err := runDoctorCmd(t, "--config", cfg)
			failsWith(t, out, err, secret+" (vipps.client_secret_file) belongs to uid 4242, not to root or "+me+": chown root:"+me+" "+secret)
			return
		}
		out, err := runDoctorCmd(t, "--config", cfg, "--user", "no-such-user-of-the-tests")
		failsWith(t, out, err, "WARN  files      there is no user no-such-user-of-the-tests", "belongs to "+me+", not to root or no-such-user-of-the-tests")
	})
	t.Run("a foreign group reads the secret", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give the file to another group (make test runs as root)")
		}
		cfg, secret, _, _ := box(t)
		if err := os.Chown(secret, 0, 4242); err != nil {
			t.Fatal(err)
		}
		out, err := runDoctorCmd(t, "--config", cfg)
		failsWith(t, out, err, secret+" (vipps.client_secret_file): the group gid 4242 can read it (mode 0640): chgrp "+me+" "+secret)
	})
	t.Run("the service cannot read the configuration", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root: the files must be root's and the service another user (make test runs as root)")
		}
		cfg, _, _, _ := box(t) // root:root 0600
		out, err := runDoctorCmd(t, "--config", cfg, "--user", "nobody")
		failsWith(t, out, err, "FAIL  files      "+cfg+" (the configuration): nobody cannot read it (root:root 0600): chgrp nobody "+cfg+" && chmod g+r "+cfg)
	})
	t.Run("technician password readable by every user", func(t *testing.T) {
		cfg, _, data, _ := box(t)
		pw := filepath.Join(data, technician.PasswordFile)
		if err := os.WriteFile(pw, []byte("$argon2id$...\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		chmod(t, pw, 0o644)
		out, err := runDoctorCmd(t, "--config", cfg)
		failsWith(t, out, err, "FAIL  files      "+pw+" (the technician password): every user can read it (mode 0644)")
		chmod(t, pw, 0o600)
		if out, err := runDoctorCmd(t, "--config", cfg); err != nil || !strings.Contains(out, "ok    files      "+pw+" (the technician password): ") {
			t.Errorf("a 0600 password file: %v\n%s", err, out)
		}
	})
	t.Run("data folder not writable by the service", func(t *testing.T) {
		cfg, _, data, _ := box(t)
		chmod(t, data, 0o550)
		t.Cleanup(func() { os.Chmod(data, 0o750) })
		out, err := runDoctorCmd(t, "--config", cfg)
		failsWith(t, out, err, "FAIL  data       "+data+": "+me+" cannot write in it (")
	})
	t.Run("data folder writable by every user", func(t *testing.T) {
		cfg, _, data, _ := box(t)
		chmod(t, data, 0o777)
		out, err := runDoctorCmd(t, "--config", cfg)
		failsWith(t, out, err, "FAIL  data       "+data+" is writable by every user (mode 0777)")
	})
	t.Run("database readable by every user", func(t *testing.T) {
		cfg, _, _, db := box(t)
		chmod(t, db, 0o644)
		out, err := runDoctorCmd(t, "--config", cfg)
		failsWith(t, out, err, "FAIL  database   "+db+": every user can read it (mode 0644): it holds the sales; chmod o-rwx "+db)
	})
	t.Run("configuration folder writable by every user", func(t *testing.T) {
		cfg, _, _, _ := box(t)
		dir := filepath.Dir(cfg)
		chmod(t, dir, 0o777)
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		out, err := runDoctorCmd(t, "--config", cfg)
		failsWith(t, out, err, "FAIL  files      "+dir+": every user can replace the files in it (mode 0777)")
	})
	t.Run("configuration writable by the service", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root: the files must be another user's (make test runs as root)")
		}
		cfg, _, _, _ := box(t)
		if err := os.Chown(cfg, 65534, 0); err != nil { // nobody's: the owner may chmod it
			t.Fatal(err)
		}
		out, err := runDoctorCmd(t, "--config", cfg, "--user", "nobody")
		failsWith(t, out, err, "FAIL  files      "+cfg+" (the configuration): nobody can change it (nobody:root 0600), but the configuration must be read-only to the service: chown root:nobody "+cfg+" && chmod 0640 "+cfg)
		dir := filepath.Dir(cfg)
		if err := os.Chown(cfg, 0, 65534); err != nil {
			t.Fatal(err)
		}
		chmod(t, cfg, 0o640)
		if err := os.Chown(dir, 0, 65534); err != nil {
			t.Fatal(err)
		}
		chmod(t, dir, 0o770)
		out, err = runDoctorCmd(t, "--config", cfg, "--user", "nobody")
		failsWith(t, out, err, "FAIL  files      "+dir+" (the configuration's folder): nobody can change it (root:nogroup 0770)")
		if strings.Contains(out, cfg+" (the configuration): nobody can change it") {
			t.Errorf("a root:nogroup 0640 configuration is read-only to nobody:\n%s", out)
		}
		chmod(t, dir, 0o750)
		if out, _ := runDoctorCmd(t, "--config", cfg, "--user", "nobody"); strings.Contains(out, "can change it") {
			t.Errorf("root:nogroup 0750 and 0640 are read-only to nobody:\n%s", out)
		}
	})
	t.Run("the technician page's settings", func(t *testing.T) {
		cfg, _, data, _ := box(t)
		c, err := config.Load(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Display.Language = "da"
		if err := c.Save(); err != nil {
			t.Fatal(err)
		}
		overlay := filepath.Join(data, config.OverlayName)
		out, err := runDoctorCmd(t, "--config", cfg)
		if err != nil || !strings.Contains(out, "ok    files      "+overlay+" (the technician page's settings, over the configuration: display.language): "+me+":") {
			t.Errorf("doctor with the page's settings: %v\n%s", err, out)
		}
		chmod(t, overlay, 0o640)
		out, err = runDoctorCmd(t, "--config", cfg)
		failsWith(t, out, err, "FAIL  files      "+overlay+" (the technician page's settings): other users can read it (mode 0640): chmod 600 "+overlay)
		chmod(t, overlay, 0o600)
		if os.Geteuid() == 0 {
			if err := os.Chown(overlay, 4242, 4242); err != nil {
				t.Fatal(err)
			}
			out, err = runDoctorCmd(t, "--config", cfg)
			failsWith(t, out, err, overlay+" (the technician page's settings) belongs to uid 4242, not to "+me+", who writes it")
		}
		// A key the page does not set, in its settings: the problem names them.
		if err := os.WriteFile(overlay, []byte("[pos]\ntoken = \"pos-token-in-the-overlay-x\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err = runDoctorCmd(t, "--config", cfg)
		failsWith(t, out, err, "FAIL  config", "(in "+overlay+", line 1)")
	})
	t.Run("broken configuration, open to all", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.toml")
		if err := os.WriteFile(bad, []byte("[box]\nnonsense = 1\n"), 0o666); err != nil {
			t.Fatal(err)
		}
		chmod(t, bad, 0o666)
		out, err := runDoctorCmd(t, "--config", bad)
		failsWith(t, out, err, "FAIL  config", "FAIL  files      "+bad+" (the configuration): every user can read and change it (mode 0666)")
	})
}
