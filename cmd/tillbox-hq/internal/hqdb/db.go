// Package hqdb is headquarters' record in PostgreSQL: the boxes' journals
// (table events, exactly once per till and sequence), the sales as the
// chain's accounting reads them, and the tills with their last heartbeat.
// The schema is in migrations/, applied by [DB.Migrate]; docs/chain.md
// documents the tables.
package hqdb

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key that serialises migrations
// between headquarters processes ("tillbox" in ASCII).
const migrationLock = 0x74696c6c626f78

// DB is headquarters' PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
}

// Open connects to the database named by dsn (a libpq string or URL). The
// error never contains dsn: it may hold a password.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("postgres: the DSN does not parse (a libpq string or a postgres:// URL)")
	}
	cfg.MaxConns = 8
	cfg.ConnConfig.RuntimeParams["application_name"] = "tillbox-hq"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &DB{pool: pool}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }

// Pool is the connection pool, for tests and tools.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Migration is one schema migration.
type Migration struct {
	Version string // the file's name without .sql, e.g. "0001_init"
	SQL     string
}

// Migrations lists the embedded migrations in order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var ms []Migration
	for _, n := range names {
		b, err := migrations.ReadFile(n)
		if err != nil {
			return nil, err
		}
		v := strings.TrimSuffix(strings.TrimPrefix(n, "migrations/"), ".sql")
		ms = append(ms, Migration{Version: v, SQL: string(b)})
	}
	return ms, nil
}

// Migrate applies the migrations not yet applied, each in one
// transaction, under an advisory lock so that two headquarters starting
// together do not race. It returns the versions it applied.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLock)); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must go even when ctx ended.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrationLock))
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []string
	for _, m := range ms {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM schema_migrations WHERE version = $1", m.Version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", m.Version); err != nil {
				return err
			}
			applied = append(applied, m.Version)
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.Version, err)
		}
	}
	return applied, nil
}

// ErrNotMigrated means the database lacks a migration this build knows.
var ErrNotMigrated = errors.New("the database schema is not up to date")

// Ready checks that PostgreSQL answers and every migration is applied.
func (db *DB) Ready(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	var n int
	err = db.pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ANY($1)", versions(ms)).Scan(&n)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if n != len(ms) {
		return fmt.Errorf("%w: %d of %d migrations applied", ErrNotMigrated, n, len(ms))
	}
	return nil
}

func versions(ms []Migration) []string {
	v := make([]string, len(ms))
	for i, m := range ms {
		v[i] = m.Version
	}
	return v
}
