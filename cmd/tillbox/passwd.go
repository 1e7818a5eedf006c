package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/cmd/internal/cli"
	"github.com/tillbox/tillbox/display/technician"
)

// runPasswd is `tillbox passwd`: it asks for the technician password (twice
// on a terminal, one line otherwise) and writes its argon2id hash, never the
// password, to the data directory with mode 0600.
func runPasswd(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tillbox passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tillbox passwd [flags]\n\nSet the technician page's password: its hash goes to DATA_DIR/%s (mode 0600).\nThe password is read from the terminal, or as one line from standard input.\n\n", technician.PasswordFile)
		fs.PrintDefaults()
	}
	path := fs.String("config", config.DefaultPath, "find the data directory through this configuration `file`")
	dataDir := fs.String("data-dir", "", "write to `DIR` instead of box.data_dir")
	if _, err := parseArgs(fs, args, stdout); err != nil {
		return err
	}
	dir := *dataDir
	var c *config.Config
	if dir == "" {
		var err error
		if c, err = config.Load(*path); err != nil {
			return problems(stderr, *path, err)
		}
		dir = c.Box.DataDir
		if src := c.SecretSource("console.password_hash"); src.Kind == config.FromEnv {
			return fmt.Errorf("the technician password's hash comes from %s, which takes precedence: change it there", src.Where)
		}
	}
	password, err := cli.ReadPassword(stdin, stderr, "New technician password: ")
	if errors.Is(err, cli.ErrPasswordsDiffer) {
		return fmt.Errorf("%w: nothing changed", err)
	}
	if err != nil {
		return err
	}
	hash, err := technician.HashPassword(password)
	if err != nil {
		return err
	}
	if c != nil {
		// A hash saved on the technician page (the overlay) takes
		// precedence over the configuration's and the data directory's:
		// it goes, so that the new one is the one in force.
		removed, err := config.RemoveOverlayKey(c.File, "console.password_hash")
		if err != nil {
			return err
		}
		if removed {
			fmt.Fprintf(stdout, "tillbox: removed the technician password set on the technician page from %s\n", c.OverlayFile)
		}
		// The configuration's hash takes precedence over the data
		// directory's file: replace it there (root may write it).
		base, err := config.Load(c.File)
		if err != nil {
			return problems(stderr, *path, err)
		}
		switch base.SecretSource("console.password_hash").Kind {
		case config.FromConfig, config.FromFile:
			where, err := config.SetFileSecret(c.File, "console.password_hash", hash)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "tillbox: technician password set (its hash is in %s); restart tillbox to use it\n", where)
			return nil
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := technician.WritePasswordFile(dir, hash); err != nil {
		return err
	}
	// Run as root (sudo tillbox passwd on an installed box), the file goes
	// to the data folder's owner, the service's user: a 0600 file of root
	// would be unreadable to it.
	if fi, err := os.Stat(dir); err == nil && os.Geteuid() == 0 {
		if uid, gid := ids(fi); uid > 0 {
			if err := os.Chown(filepath.Join(dir, technician.PasswordFile), uid, gid); err != nil {
				return fmt.Errorf("technician password file: %w", err)
			}
		}
	}
	fmt.Fprintf(stdout, "tillbox: technician password set (its hash is in %s/%s); restart tillbox to use it\n", dir, technician.PasswordFile)
	return nil
}
