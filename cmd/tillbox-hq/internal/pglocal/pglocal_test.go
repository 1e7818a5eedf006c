package pglocal_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pglocal"
)

// TestCloseRemovesEverything: a server answers on its DSN; Close stops it
// and removes its folder, data and all.
func TestCloseRemovesEverything(t *testing.T) {
	s, err := pglocal.Start(pglocal.Options{Dir: os.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		s.Close()
		t.Fatalf("connect: %v\n%s", err, s.Log())
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id int)"); err != nil {
		t.Error(err)
	}
	conn.Close(ctx)
	dir := s.Dir()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Error("the server still runs after Close")
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after Close: %v", dir, err)
	}
	if _, err := pgx.Connect(ctx, s.DSN()); err == nil {
		t.Error("the DSN still connects after Close")
	}
}
