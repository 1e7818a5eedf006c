package hqdb

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TEMPORARY until the kit internal/pgtest is on main: PostgreSQL on
// loopback.

const pgBin = "/usr/lib/postgresql/15/bin"

type pgServer struct {
	t    testing.TB
	dir  string
	port int
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startPG(t testing.TB) *pgServer {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("PostgreSQL: no postgres user (apt-get install postgresql): %v", err)
	}
	dir, err := os.MkdirTemp("", "hqpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	p := &pgServer{t: t, dir: dir, port: freePort(t)}
	p.pg("initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "tillbox", "--no-sync")
	p.Start()
	t.Cleanup(func() { p.stop("fast") })
	return p
}

func (p *pgServer) pg(tool string, args ...string) {
	p.t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pgBin, tool)}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s", tool, err, out)
	}
}

func (p *pgServer) Start() {
	p.t.Helper()
	p.pg("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-o",
		fmt.Sprintf("-k %s -h 127.0.0.1 -p %d -c fsync=off", p.dir, p.port), "-l", filepath.Join(p.dir, "log"), "-w", "start")
}

func (p *pgServer) stop(mode string) {
	cmd := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-m", mode, "-w", "stop")
	_ = cmd.Run()
}

// Crash stops PostgreSQL as a crash would.
func (p *pgServer) Crash() { p.stop("immediate") }

func (p *pgServer) DSN() string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=tillbox dbname=postgres sslmode=disable", p.port)
}

func (p *pgServer) Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), p.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}
