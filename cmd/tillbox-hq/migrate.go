package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tillbox/tillbox/cmd/internal/cli"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
)

const migrateUsage = `Usage: tillbox-hq migrate [--config FILE]

Applies the PostgreSQL schema migrations this build has and the database
lacks, each in one transaction (tillbox-hq run does it too), and exits.

Flags:
`

// runMigrate is `tillbox-hq migrate`.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", hqconfig.DefaultPath, "the configuration file")
	fs.Usage = func() { fmt.Fprint(fs.Output(), migrateUsage); fs.PrintDefaults() }
	if _, err := cli.ParseArgs(fs, args, stdout); err != nil {
		return err
	}
	c, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	db, err := hqdb.Open(ctx, c.Postgres.DSN.Reveal())
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "tillbox-hq: the schema is up to date")
		return nil
	}
	fmt.Fprintf(stdout, "tillbox-hq: applied %s\n", strings.Join(applied, ", "))
	return nil
}
