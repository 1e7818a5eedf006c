// Package pgtest runs a real PostgreSQL server for tests: Debian's binaries
// (the newest under /usr/lib/postgresql/*/bin), a cluster made by initdb in
// a temporary folder, listening on 127.0.0.1 only, with a user and a
// database of its own and password (SCRAM) authentication. It can be
// restarted with the same data and killed with SIGKILL; its log is printed
// when the test fails. Run as root (as CI does), the server runs as the
// postgres user, since PostgreSQL refuses to run as root.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Missing is what a test says when PostgreSQL is not installed.
const Missing = "PostgreSQL is missing: apt-get install postgresql (scripts/ensure-deps.sh does it as root)"

// The user and the database of the tests.
const (
	User     = "tillbox"
	Database = "tillbox"
)

// readyTimeout bounds the wait for the server to accept connections (it
// normally does within a second; crash recovery takes longer); it is only
// there so that a broken start fails instead of hanging.
const readyTimeout = 3 * time.Minute

// stopTimeout is how long a fast shutdown may take before the server is
// killed.
const stopTimeout = time.Minute

// Postgres is one PostgreSQL server.
type Postgres struct {
	t        testing.TB
	bin      string // the directory of initdb and postgres
	dir      string // the temporary folder, owned by the server's user
	cred     *syscall.Credential
	port     int
	password string
	log      *tailBuffer

	mu   sync.Mutex
	proc *process
}

// Start makes a new cluster in a temporary folder, starts PostgreSQL on a
// free port of 127.0.0.1 and waits until it accepts connections. It is
// stopped and its folder removed when the test ends.
func Start(t testing.TB) *Postgres {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	p := &Postgres{t: t, bin: bin, log: &tailBuffer{}, password: randomHex(16)}
	if err := p.makeDir(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(p.cleanup)
	if err := p.initdb(); err != nil {
		t.Fatalf("pgtest: %v\n%s", err, p.log.String())
	}
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		p.port = port
		err = p.startAndWait()
		if err == nil {
			break
		}
		if !errors.Is(err, errPortInUse) || attempt == 5 {
			t.Fatalf("pgtest: start: %v\n%s", err, p.log.String())
		}
		p.log.Reset()
	}
	if err := p.createDatabase(); err != nil {
		t.Fatalf("pgtest: %v\n%s", err, p.log.String())
	}
	return p
}

// DSN is the connection string of the test database:
// postgres://tillbox:password@127.0.0.1:port/tillbox?sslmode=disable.
func (p *Postgres) DSN() string { return p.dsn(Database) }

func (p *Postgres) dsn(db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", User, p.password, p.port, db)
}

// Port is the server's TCP port on 127.0.0.1.
func (p *Postgres) Port() int { return p.port }

// Log is the tail of the server's log.
func (p *Postgres) Log() string { return p.log.String() }

// Running reports whether the server runs.
func (p *Postgres) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc != nil && !p.proc.exited()
}

// Stop stops the server with a fast shutdown (open connections are
// closed, committed data is kept) and waits until it has exited.
func (p *Postgres) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		p.proc.stop()
	}
}

// Kill kills the server and all its processes with SIGKILL and waits until
// they are gone; the next start recovers from its write-ahead log.
func (p *Postgres) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		p.proc.kill()
	}
}

// Restart stops the server fast if it runs, starts it again with the same
// data on the same port, and waits until it accepts connections.
func (p *Postgres) Restart() {
	p.t.Helper()
	p.Stop()
	if err := p.startAndWait(); err != nil {
		p.t.Fatalf("pgtest: restart: %v\n%s", err, p.log.String())
	}
}

func (p *Postgres) cleanup() {
	p.Stop()
	if p.t.Failed() {
		p.t.Logf("postgres log (%s):\n%s", p.dir, p.log.String())
	}
	if err := os.RemoveAll(p.dir); err != nil {
		p.t.Errorf("pgtest: remove %s: %v", p.dir, err)
	}
}

// binDir is the bin directory of the newest PostgreSQL under
// /usr/lib/postgresql.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var found []string
	for _, d := range dirs {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return "", errors.New(Missing + " (no /usr/lib/postgresql/*/bin/postgres)")
	}
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	return found[0], nil
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// makeDir makes the temporary folder. As root it belongs to the postgres
// user, under os.TempDir (t.TempDir's folders are root's, mode 0700, and
// the postgres user could not reach a folder inside).
func (p *Postgres) makeDir() error {
	dir, err := os.MkdirTemp("", "tillbox-pgtest-")
	if err != nil {
		return err
	}
	p.dir = dir
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, PostgreSQL must run as the postgres user: %v; %s", err, Missing)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("user postgres: %w", err)
	}
	p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return os.Chown(dir, uid, gid)
}

func (p *Postgres) dataDir() string   { return filepath.Join(p.dir, "data") }
func (p *Postgres) socketDir() string { return p.dir }

// command is the PostgreSQL program name with args, run as the server's
// user, its output going to the log.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	// Its own process group, so that Kill kills every process of the
	// server; and never outliving a test binary that dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.cred}
	return cmd
}

// initdb makes the cluster: the test user is its superuser, with a
// password, and every connection must give it.
func (p *Postgres) initdb() error {
	pwfile := filepath.Join(p.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if p.cred != nil {
		if err := os.Chown(pwfile, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return err
		}
	}
	cmd := p.command("initdb", "-D", p.dataDir(), "-U", User, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	return nil
}

// startAndWait starts the server and waits until it accepts connections.
func (p *Postgres) startAndWait() error {
	cmd := p.command("postgres", "-D", p.dataDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(p.port),
		"-c", "unix_socket_directories="+p.socketDir(),
		// A SIGKILL of the server loses nothing the kernel holds; only a
		// crash of the machine would, which no test does.
		"-c", "fsync=off",
		"-c", "logging_collector=off",
		"-c", "log_line_prefix=%m [%p] ")
	if err := cmd.Start(); err != nil {
		return err
	}
	proc := &process{pgid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		proc.err = cmd.Wait()
		close(proc.done)
	}()
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()
	return p.waitReady(proc)
}

// waitReady connects until the server answers; it fails at once when the
// server exits.
func (p *Postgres) waitReady(proc *process) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = ping(ctx, p.dsn("postgres")); last == nil {
			return nil
		}
		select {
		case <-proc.done:
			if strings.Contains(p.log.String(), "Address already in use") {
				return errPortInUse
			}
			return fmt.Errorf("postgres exited before it accepted connections: %v", proc.err)
		case <-ctx.Done():
			return fmt.Errorf("postgres accepts no connections after %v: %v", readyTimeout, last)
		case <-tick.C:
		}
	}
}

func ping(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// createDatabase creates the test database, owned by the test user.
func (p *Postgres) createDatabase() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.dsn("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+Database); err != nil {
		return fmt.Errorf("create database %s: %w", Database, err)
	}
	return nil
}

var errPortInUse = errors.New("the port was taken")

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
