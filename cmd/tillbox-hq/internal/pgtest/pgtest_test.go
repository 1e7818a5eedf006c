package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/pgtest"
)

func connect(ctx context.Context, t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func count(ctx context.Context, t *testing.T, conn *pgx.Conn) (n int, sum int64) {
	t.Helper()
	if err := conn.QueryRow(ctx, "SELECT count(*), coalesce(sum(amount), 0) FROM sales").Scan(&n, &sum); err != nil {
		t.Fatalf("count: %v", err)
	}
	return n, sum
}

func TestDataSurvivesRestartAndKill(t *testing.T) {
	pg := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn := connect(ctx, t, pg.DSN())
	if _, err := conn.Exec(ctx, `CREATE TABLE sales (id bigint PRIMARY KEY, amount bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO sales SELECT g, g * 100 FROM generate_series(1, 1000) g`); err != nil {
		t.Fatal(err)
	}
	// An open transaction at the restart is rolled back, not kept.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO sales VALUES (1001, 1)`); err != nil {
		t.Fatal(err)
	}

	pg.Restart()
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("a connection from before the restart still works")
	}
	conn = connect(ctx, t, pg.DSN())
	if n, sum := count(ctx, t, conn); n != 1000 || sum != 50050000 {
		t.Fatalf("after the restart: %d sales, %d in all; want 1000, 50050000", n, sum)
	}

	// SIGKILL: what was committed is recovered from the write-ahead log.
	if _, err := conn.Exec(ctx, `INSERT INTO sales VALUES (1001, 7)`); err != nil {
		t.Fatal(err)
	}
	pg.Kill()
	if pg.Running() {
		t.Fatal("the killed server still runs")
	}
	pg.Restart()
	conn = connect(ctx, t, pg.DSN())
	if n, sum := count(ctx, t, conn); n != 1001 || sum != 50050007 {
		t.Fatalf("after SIGKILL: %d sales, %d in all; want 1001, 50050007", n, sum)
	}
}

func TestPasswordAndLoopbackOnly(t *testing.T) {
	pg := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := pgx.ParseConfig(pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "127.0.0.1" || cfg.User != pgtest.User || cfg.Database != pgtest.Database || cfg.Password == "" {
		t.Fatalf("DSN names host %q, user %q, database %q", cfg.Host, cfg.User, cfg.Database)
	}
	cfg.Password = "wrong"
	if _, err := pgx.ConnectConfig(ctx, cfg); err == nil {
		t.Fatal("a wrong password connects")
	}
	conn := connect(ctx, t, pg.DSN())
	var listen string
	if err := conn.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen); err != nil || listen != "127.0.0.1" {
		t.Fatalf("listen_addresses %q, %v", listen, err)
	}
}
