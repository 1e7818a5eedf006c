// Package pgtest runs a real PostgreSQL server for tests, with
// internal/pglocal: Debian's binaries, a cluster made by initdb in a
// temporary folder, listening on 127.0.0.1 only, with a user and a
// database of its own and password (SCRAM) authentication. It can be
// restarted with the same data and killed with SIGKILL; its log is printed
// when the test fails. Run as root (as CI does), the server runs as the
// postgres user, since PostgreSQL refuses to run as root.
package pgtest

import (
	"testing"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pglocal"
)

// Missing is what a test says when PostgreSQL is not installed.
const Missing = pglocal.Missing

// The user and the database of the tests.
const (
	User     = pglocal.User
	Database = pglocal.Database
)

// Postgres is one PostgreSQL server of a test.
type Postgres struct {
	*pglocal.Server
	t testing.TB
}

// Start makes a new cluster in a temporary folder, starts PostgreSQL on a
// free port of 127.0.0.1 and waits until it accepts connections. It is
// stopped and its folder removed when the test ends.
func Start(t testing.TB) *Postgres {
	t.Helper()
	s, err := pglocal.Start(pglocal.Options{})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	p := &Postgres{Server: s, t: t}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("postgres log (%s):\n%s", s.Dir(), s.Log())
		}
		if err := s.Close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return p
}

// Restart stops the server fast if it runs, starts it again with the same
// data on the same port, and waits until it accepts connections; the test
// fails when it cannot.
func (p *Postgres) Restart() {
	p.t.Helper()
	if err := p.Server.Restart(); err != nil {
		p.t.Fatalf("pgtest: %v", err)
	}
}
