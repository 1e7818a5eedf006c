package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/store"
	"github.com/tillbox/tillbox/store/atomicfile"
)

// PathBackup is the route of the POS API that a running agent would answer
// with a backup of its database (see backupThroughAPI).
const PathBackup = "/api/v1/backup"

// runBackup is `tillbox backup [--config FILE | --db PATH] FILE`: a
// consistent copy of the database, taken while tillbox may be running.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tillbox backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: tillbox backup [--config FILE [--listen ADDR] | --db PATH] FILE\n\n"+
			"Write a consistent copy of the database to FILE (atomically: FILE is the old backup or the new one,\n"+
			"never a partial file). Restore while tillbox is stopped: move the database and its journal (PATH.journal)\n"+
			"aside and copy FILE to PATH; tillbox starts a new journal (the old one holds writes of the newer state).\n\n")
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "find the database through this configuration `file` (default "+config.DefaultPath+")")
	dbPath := fs.String("db", "", "the database `file` itself")
	listen := fs.String("listen", "", "where the running tillbox's POS API listens (default: pos.listen of the configuration)")
	pos, err := parseArgs(fs, args, stdout, "FILE")
	if err != nil {
		return err
	}
	if *cfgPath != "" && *dbPath != "" {
		fmt.Fprintf(stderr, "tillbox backup: --config and --db exclude each other\n\n")
		fs.Usage()
		return errUsage
	}
	out := pos[0]

	var cfg *config.Config
	if *dbPath == "" {
		if *cfgPath == "" {
			*cfgPath = config.DefaultPath
		}
		c, err := config.Load(*cfgPath)
		if err != nil {
			return problems(stderr, *cfgPath, err)
		}
		cfg, *dbPath = c, c.DBPath()
		if *listen != "" {
			cfg.POS.Listen = *listen
		}
	}
	b := backup{db: *dbPath, out: out, cfg: cfg, stdout: stdout}
	return b.run(ctx)
}

// backup is one run of `tillbox backup`.
type backup struct {
	db, out string
	cfg     *config.Config // nil with --db
	stdout  io.Writer
}

func (b *backup) run(ctx context.Context) error {
	// store.Open creates a missing database: never do that here.
	if _, err := os.Stat(b.db); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: there is no database at %s", b.db)
	} else if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	opts := store.Options{}
	if b.cfg != nil {
		opts = b.cfg.StoreOptions()
	}
	db, err := store.Open(b.db, opts)
	var locked *store.LockedError
	switch {
	case errors.As(err, &locked):
		return b.throughAPI(ctx, locked)
	case err != nil:
		return err // corrupt or too new: the store's message says what to do
	}
	err = db.BackupFile(b.out)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	st, err := check(b.out)
	if err != nil {
		return err
	}
	b.report("", st)
	return nil
}

// throughAPI asks the running agent for the backup: the database file is
// locked by it. A POS API without the backup route gets a clear message.
func (b *backup) throughAPI(ctx context.Context, locked *store.LockedError) error {
	advice := fmt.Errorf("%w: tillbox is running; take the backup through its technician page, or stop tillbox and run this again", locked)
	if b.cfg == nil {
		return fmt.Errorf("%w (with --config instead of --db, tillbox backup asks the running tillbox for it over GET %s)", advice, PathBackup)
	}
	base, hc, err := localAPI(b.cfg)
	if err != nil {
		return fmt.Errorf("%w (its TLS certificate: %v)", advice, err)
	}
	url := base + PathBackup
	f, err := download(ctx, hc, url, b.cfg.POS.Token, b.out)
	var notFound errNoRoute
	switch {
	case errors.As(err, &notFound):
		return fmt.Errorf("%w (this tillbox's POS API has no GET %s yet)", advice, PathBackup)
	case err != nil:
		return fmt.Errorf("%w (asking it over GET %s failed: %v)", advice, url, err)
	}
	defer f.Cleanup() // after a failure; a no-op after Commit
	st, err := check(f.Name())
	if err != nil {
		return fmt.Errorf("backup: what tillbox sent over GET %s is not a good database, %s was left as it was: %w", url, b.out, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	b.report("through the running tillbox", st)
	return nil
}

// check opens a copy, checks every page and returns what it holds.
func check(path string) (store.Stats, error) {
	db, err := store.Open(path, store.Options{CompactMinFree: -1, NoJournal: true})
	if err != nil {
		return store.Stats{}, fmt.Errorf("backup: the copy %s does not open: %w", path, err)
	}
	defer db.Close()
	if err := db.Verify(); err != nil {
		return store.Stats{}, fmt.Errorf("backup: the copy %s does not check: %w", path, err)
	}
	return db.Stats()
}

func (b *backup) report(how string, st store.Stats) {
	if how != "" {
		how = " " + how
	}
	fmt.Fprintf(b.stdout, "%s: backup of %s%s: %d bytes, checked: %d sales (%d unfinished), %d queued commands, events up to %d\n",
		b.out, b.db, how, st.FileSize, st.Sales, st.Unfinished, st.Commands, st.LastSeq)
}

// errNoRoute is a 404 from the POS API: the route does not exist.
type errNoRoute struct{ status int }

func (e errNoRoute) Error() string { return http.StatusText(e.status) }

// download GETs url with the bearer token into a new content of out
// (closed and fsynced, not yet in place: check it, then Commit it).
func download(ctx context.Context, hc *http.Client, url string, token epayment.Secret, out string) (*atomicfile.File, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, errNoRoute{resp.StatusCode}
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s", resp.Status)
	}
	f, err := atomicfile.Create(out, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		f.Cleanup()
		return nil, err
	}
	return f, nil
}

// loopbackAddr turns a listen address into one to dial on this machine.
func loopbackAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
