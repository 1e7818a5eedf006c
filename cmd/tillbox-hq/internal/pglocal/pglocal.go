// Package pglocal runs a PostgreSQL server of its own in a temporary
// folder: Debian's binaries (the newest under /usr/lib/postgresql/*/bin), a
// cluster made by initdb, listening on 127.0.0.1 only, with a user and a
// database and password (SCRAM) authentication. It can be stopped,
// killed with SIGKILL and restarted with the same data. Run as root, the
// server runs as the postgres user (PostgreSQL refuses to run as root) in
// a folder that user owns. `tillbox-hq demo` runs its PostgreSQL with it;
// internal/pgtest wraps it for tests.
package pglocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
	"time"

	"github.com/jackc/pgx/v5"
)

// Missing says what to do when PostgreSQL is not installed.
const Missing = "PostgreSQL is missing: apt-get install postgresql (scripts/ensure-deps.sh does it as root)"

// ErrMissing is the error of a machine without PostgreSQL.
var ErrMissing = errors.New(Missing)

// The user and the database the server is made with.
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

// Options say where the server lives and where its log goes.
type Options struct {
	// Dir is where its temporary folder is made; empty: os.TempDir().
	// Running as root, the postgres user must be able to reach it.
	Dir string
	// Log gets the server's output besides the tail Log keeps; nil: only
	// the tail.
	Log io.Writer
}

// Server is one PostgreSQL server.
type Server struct {
	bin      string // the directory of initdb and postgres
	dir      string // the temporary folder, owned by the server's user
	cred     *syscall.Credential
	port     int
	password string
	log      *tailBuffer
	out      io.Writer

	mu   sync.Mutex
	proc *process
}

// Start makes a new cluster in a temporary folder, starts PostgreSQL on a
// free port of 127.0.0.1, waits until it accepts connections and creates
// the database. Close stops it and removes the folder. A machine without
// PostgreSQL gets an error wrapping ErrMissing.
func Start(o Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, log: &tailBuffer{}, password: randomHex(16), out: io.Discard}
	if o.Log != nil {
		s.out = o.Log
	}
	if err := s.makeDir(o.Dir); err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) start() error {
	if err := s.initdb(); err != nil {
		return fmt.Errorf("%w\n%s", err, s.log.String())
	}
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.port = port
		err = s.startAndWait()
		if err == nil {
			break
		}
		if !errors.Is(err, errPortInUse) || attempt == 5 {
			return fmt.Errorf("start: %w\n%s", err, s.log.String())
		}
		s.log.Reset()
	}
	if err := s.createDatabase(); err != nil {
		return fmt.Errorf("%w\n%s", err, s.log.String())
	}
	return nil
}

// DSN is the connection string of the database:
// postgres://tillbox:password@127.0.0.1:port/tillbox?sslmode=disable.
func (s *Server) DSN() string { return s.dsn(Database) }

func (s *Server) dsn(db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", User, s.password, s.port, db)
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Dir is the server's temporary folder.
func (s *Server) Dir() string { return s.dir }

// Log is the tail of the server's log.
func (s *Server) Log() string { return s.log.String() }

// Running reports whether the server runs.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.exited()
}

// Stop stops the server with a fast shutdown (open connections are
// closed, committed data is kept) and waits until it has exited.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.stop()
	}
}

// Kill kills the server and all its processes with SIGKILL and waits until
// they are gone; the next start recovers from its write-ahead log.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
	}
}

// Restart stops the server fast if it runs, starts it again with the same
// data on the same port, and waits until it accepts connections.
func (s *Server) Restart() error {
	s.Stop()
	if err := s.startAndWait(); err != nil {
		return fmt.Errorf("restart: %w\n%s", err, s.log.String())
	}
	return nil
}

// Close stops the server and removes its folder.
func (s *Server) Close() error {
	s.Stop()
	if s.dir == "" {
		return nil
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("pglocal: remove %s: %w", s.dir, err)
	}
	return nil
}

// BinDir is the bin directory of the newest PostgreSQL under
// /usr/lib/postgresql; an error wrapping ErrMissing when there is none.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var found []string
	for _, d := range dirs {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return "", fmt.Errorf("%w (no /usr/lib/postgresql/*/bin/postgres)", ErrMissing)
	}
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	return found[0], nil
}

// Install installs Debian's postgresql package with apt-get, its output
// going to w. Only root may; anyone else gets an error saying what to do.
func Install(ctx context.Context, w io.Writer) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w; not root, so not installing it here", ErrMissing)
	}
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "postgresql"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
		}
	}
	if _, err := BinDir(); err != nil {
		return fmt.Errorf("after apt-get install postgresql: %w", err)
	}
	return nil
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// makeDir makes the temporary folder in parent. As root it belongs to the
// postgres user.
func (s *Server) makeDir(parent string) error {
	dir, err := os.MkdirTemp(parent, "tillbox-pg-")
	if err != nil {
		return err
	}
	s.dir = dir
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, PostgreSQL must run as the postgres user: %v: %w", err, ErrMissing)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("user postgres: %w", err)
	}
	s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return os.Chown(dir, uid, gid)
}

func (s *Server) dataDir() string   { return filepath.Join(s.dir, "data") }
func (s *Server) socketDir() string { return s.dir }

// command is the PostgreSQL program name with args, run as the server's
// user, its output going to the log.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	w := io.MultiWriter(s.log, s.out)
	cmd.Stdout, cmd.Stderr = w, w
	// Its own process group, so that Kill kills every process of the
	// server; and never outliving the program that started it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.cred}
	return cmd
}

// initdb makes the cluster: the user is its superuser, with a password,
// and every connection must give it.
func (s *Server) initdb() error {
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if s.cred != nil {
		if err := os.Chown(pwfile, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return err
		}
	}
	cmd := s.command("initdb", "-D", s.dataDir(), "-U", User, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	return nil
}

// startAndWait starts the server and waits until it accepts connections.
func (s *Server) startAndWait() error {
	cmd := s.command("postgres", "-D", s.dataDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(s.port),
		"-c", "unix_socket_directories="+s.socketDir(),
		// A throw-away cluster: a SIGKILL of the server loses nothing the
		// kernel holds; only a crash of the machine would.
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
	s.mu.Lock()
	s.proc = proc
	s.mu.Unlock()
	return s.waitReady(proc)
}

// waitReady connects until the server answers; it fails at once when the
// server exits.
func (s *Server) waitReady(proc *process) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = ping(ctx, s.dsn("postgres")); last == nil {
			return nil
		}
		select {
		case <-proc.done:
			if strings.Contains(s.log.String(), "Address already in use") {
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

// createDatabase creates the database, owned by the user.
func (s *Server) createDatabase() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.dsn("postgres"))
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
