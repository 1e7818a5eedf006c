package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/internal/cli"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqdb"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqnats"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/settings"
)

const settingsUsage = `Usage: tillbox-hq settings COMMAND [--config FILE] [--store STORE | --till STORE/TILL] ...

Sets the chain's layered configuration: the settings of the boxes' file
for the whole chain (the default), one store (--store) or one till
(--till); the most specific wins on each box. Every write is a new
revision of the layer's key, with who, when and --note.

  show                          the layers, and per till what it applied or refused
  set FIELD=VALUE...            set fields (e.g. display.language=nb sales.customer_present_window=90s)
  set --secret FIELD[,FIELD]    seal a secret (vipps.client_secret, vipps.subscription_key), read from
                                stdin (a line each), for each till of the scope that has said its key;
                                vipps.base_url or vipps.environment for a store or the chain go with
                                both secrets into each till's own layer (a box takes an address only so)
  unset FIELD...                remove fields (a secret: from every till of the scope)
  promote --store STORE FIELD...  a canary's fields: write them for the chain, remove the store's copy
  history                       the revisions of the scope's key
  rollback --to REVISION        write the scope's key as it was at REVISION, as a new revision

Flags:
`

// settingsFlags are the flags of every settings command.
type settingsFlags struct {
	fs                *flag.FlagSet
	path, store, till *string
	note, secret, by  *string
	to                *uint64
}

// runSettings is `tillbox-hq settings`.
func runSettings(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || cli.WantsHelp(args[:1]) {
		if len(args) == 0 {
			fmt.Fprint(stderr, settingsUsage)
			return cli.ErrUsage
		}
		fmt.Fprint(stdout, settingsUsage)
		return nil
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("settings "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := settingsFlags{fs: fs,
		path:   fs.String("config", hqconfig.DefaultPath, "the configuration file"),
		store:  fs.String("store", "", "the layer of this store"),
		till:   fs.String("till", "", "the layer of this till (STORE/TILL)"),
		note:   fs.String("note", "", "why, for the history"),
		secret: fs.String("secret", "", "set: seal this secret field, its value read from stdin"),
		by:     fs.String("by", "", "who, for the history (default: your user name on this machine)"),
		to:     fs.Uint64("to", 0, "rollback: the revision to go back to"),
	}
	fs.Usage = func() { fmt.Fprint(fs.Output(), settingsUsage); fs.PrintDefaults() }
	switch cmd {
	case "show", "set", "unset", "promote", "history", "rollback":
	default:
		fmt.Fprintf(stderr, "tillbox-hq settings: unknown command %q\n\n", cmd)
		fs.Usage()
		return cli.ErrUsage
	}
	pos, err := parseAll(fs, args, stdout)
	if err != nil {
		return err
	}
	sc, err := f.scope()
	switch {
	case err != nil:
		return usageError(fs, err)
	case cmd == "promote" && sc.Level != wire.LevelStore:
		return usageError(fs, errors.New("promote: name the canary store with --store"))
	case cmd == "rollback" && *f.to == 0:
		return usageError(fs, errors.New("rollback: name the revision with --to (settings history lists them)"))
	case (cmd == "show" || cmd == "history" || cmd == "rollback") && len(pos) > 0:
		return usageError(fs, fmt.Errorf("%s: unexpected argument %q", cmd, pos[0]))
	}
	c, err := loadConfig(*f.path, stderr)
	if err != nil {
		return err
	}
	st, closeAll, err := openSettings(ctx, c)
	if err != nil {
		return err
	}
	defer closeAll()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	by := *f.by
	if by == "" {
		by = osUser() + " (tillbox-hq settings)"
	}
	switch cmd {
	case "show":
		return settingsShow(ctx, st, sc, stdout)
	case "set":
		return settingsSet(ctx, st, sc, f, pos, by, stdin, stderr, stdout)
	case "unset":
		return settingsUnset(ctx, st, sc, f, pos, by, stdout)
	case "promote":
		res, err := st.Promote(ctx, sc.Store, pos, by, *f.note)
		printResult(stdout, res)
		return err
	case "history":
		return settingsHistory(ctx, st, sc, stdout)
	default: // rollback
		w, err := st.Rollback(ctx, sc.Key(st.Chain()), *f.to, by, *f.note)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s revision %d (as it was at revision %d)\n", w.Key, w.Revision, *f.to)
		return nil
	}
}

// parseAll parses flags and positional arguments in any order.
func parseAll(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		n, err := cli.ParseFlags(fs, args, stdout)
		if err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func usageError(fs *flag.FlagSet, err error) error {
	fmt.Fprintf(fs.Output(), "%v\n\n", err)
	fs.Usage()
	return fmt.Errorf("%w: %w", err, cli.ErrUsage)
}

// scope is the scope the flags name.
func (f settingsFlags) scope() (settings.Scope, error) {
	switch {
	case *f.store != "" && *f.till != "":
		return settings.Scope{}, errors.New("--store or --till, not both")
	case *f.store != "":
		return settings.ParseScope("store:" + *f.store)
	case *f.till != "":
		return settings.ParseScope("till:" + *f.till)
	}
	return settings.ChainScope(), nil
}

// osUser is who runs the command.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// openSettings connects to NATS and PostgreSQL as c says.
func openSettings(ctx context.Context, c *hqconfig.Config) (*settings.Settings, func(), error) {
	db, err := hqdb.Open(ctx, c.Postgres.DSN.Reveal())
	if err != nil {
		return nil, nil, err
	}
	nc, err := hqnats.Connect(&c.NATS, newLogger(io.Discard, 0))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		db.Close()
		return nil, nil, err
	}
	st := settings.New(settings.Options{JS: js, Chain: c.HQ.Chain, Boxes: boxesOf(db, c.HQ.Chain)})
	return st, func() { nc.Close(); db.Close() }, nil
}

// boxesOf lists chain's tills from headquarters' database.
func boxesOf(db *hqdb.DB, chain string) func(context.Context) ([]settings.Box, error) {
	return func(ctx context.Context) ([]settings.Box, error) {
		ts, err := db.TillStates(ctx, chain)
		if err != nil {
			return nil, err
		}
		out := make([]settings.Box, len(ts))
		for i, t := range ts {
			out[i] = settings.Box{Till: t.Till, HeardAt: t.HeardAt, Config: t.Heartbeat.Config}
		}
		return out, nil
	}
}

// settingsSet is `settings set`.
func settingsSet(ctx context.Context, st *settings.Settings, sc settings.Scope, f settingsFlags, pos []string, by string,
	stdin io.Reader, stderr, stdout io.Writer) error {
	ch := settings.Change{Scope: sc, Set: map[string]any{}, By: by, Note: *f.note}
	for _, a := range pos {
		field, text, ok := strings.Cut(a, "=")
		if !ok {
			return usageError(f.fs, fmt.Errorf("set: %q is not FIELD=VALUE", a))
		}
		if settings.IsSecret(field) {
			return usageError(f.fs, fmt.Errorf("set: %s is a secret: give it on stdin with --secret %s (never on the command line)", field, field))
		}
		v, err := settings.ParseValue(field, text)
		if err != nil {
			return err
		}
		ch.Set[field] = v
	}
	if *f.secret != "" {
		// One field or two (a new Vipps address for a store or the chain
		// goes with both), each read in turn: a line each from a pipe.
		in := stdin
		if _, isFile := stdin.(*os.File); !isFile {
			in = oneByte{stdin}
		}
		ch.Secrets = map[string]string{}
		for _, field := range strings.Split(*f.secret, ",") {
			if !settings.IsSecret(field) {
				return usageError(f.fs, fmt.Errorf("--secret %s: only %s are sealed", field, strings.Join(settings.SecretFields, " and ")))
			}
			v, err := cli.ReadPassword(in, stderr, field+": ")
			if err != nil {
				return err
			}
			ch.Secrets[field] = v
		}
	}
	res, err := st.Apply(ctx, ch)
	printResult(stdout, res)
	return err
}

// settingsUnset is `settings unset`.
func settingsUnset(ctx context.Context, st *settings.Settings, sc settings.Scope, f settingsFlags, pos []string, by string, stdout io.Writer) error {
	if len(pos) == 0 {
		return usageError(f.fs, errors.New("unset: name the fields"))
	}
	res, err := st.Apply(ctx, settings.Change{Scope: sc, Unset: pos, By: by, Note: *f.note})
	printResult(stdout, res)
	return err
}

// printResult says what a change wrote.
func printResult(w io.Writer, res settings.Result) {
	for _, x := range res.Written {
		fmt.Fprintf(w, "wrote %s revision %d\n", x.Key, x.Revision)
	}
	for _, t := range res.NoKey {
		fmt.Fprintf(w, "no secret for till %s/%s: its heartbeat carries no key yet (set it again once it does)\n", t.Store, t.Till)
	}
}

// settingsHistory is `settings history`.
func settingsHistory(ctx context.Context, st *settings.Settings, sc settings.Scope, w io.Writer) error {
	key := sc.Key(st.Chain())
	revs, err := st.History(ctx, key)
	if err != nil {
		return err
	}
	if len(revs) == 0 {
		fmt.Fprintf(w, "%s: never set\n", key)
		return nil
	}
	for _, r := range revs {
		fmt.Fprintf(w, "revision %d  %s  by %s", r.Revision, r.Created.UTC().Format(time.RFC3339), orNone(r.Layer.By))
		if r.Layer.Note != "" {
			fmt.Fprintf(w, "  note %q", r.Layer.Note)
		}
		fmt.Fprintln(w)
		printLayer(w, "  ", r.Layer)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(nobody said)"
	}
	return s
}

// printLayer writes l's fields, one a line; sealed secrets by name only.
func printLayer(w io.Writer, indent string, l settings.Layer) {
	if l.Empty() {
		fmt.Fprintf(w, "%s(nothing set)\n", indent)
	}
	for _, s := range l.Settings {
		fmt.Fprintf(w, "%s%s = %s\n", indent, s.Field, strconv.Quote(s.Value))
	}
	for _, f := range l.Sealed {
		fmt.Fprintf(w, "%s%s = (sealed for this till)\n", indent, f)
	}
}

// oneByte reads one byte at a time, so that reading a line of it takes no
// more than the line (each secret is read by a reader of its own).
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}
