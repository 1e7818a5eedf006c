package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/store"
)

const repairUsage = `Usage: tillbox repair journal [--config FILE | --db PATH] [--out FILE]

Salvage the journal beside the database after tillbox refused to start on
a damaged record: write a repaired copy of the database (default PATH.repaired)
with every journal record up to the damaged one, check it page by page, and
list every record kept and each that could not be kept, by sale reference.
The database and its journal are only read, never changed. Run it while
tillbox is stopped. Records after a damaged one are listed but not replayed:
each carried on from the state the damaged one made (see the list for the
sales to check at Vipps MobilePay).

`

// runRepair is `tillbox repair journal`.
func runRepair(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, repairUsage)
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "journal" {
		fmt.Fprint(stderr, repairUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("tillbox repair journal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), repairUsage); fs.PrintDefaults() }
	cfgPath := fs.String("config", "", "find the database through this configuration `file` (default "+config.DefaultPath+")")
	dbPath := fs.String("db", "", "the database `file` itself")
	out := fs.String("out", "", "where to write the repaired copy (default: the database's path + .repaired)")
	if _, err := parseArgs(fs, args[1:], stdout); err != nil {
		return err
	}
	if *cfgPath != "" && *dbPath != "" {
		fmt.Fprintf(stderr, "tillbox repair journal: --config and --db exclude each other\n\n")
		fs.Usage()
		return errUsage
	}
	if *dbPath == "" {
		if *cfgPath == "" {
			*cfgPath = config.DefaultPath
		}
		c, err := config.Load(*cfgPath)
		if err != nil {
			return problems(stderr, *cfgPath, err)
		}
		*dbPath = c.DBPath()
	}
	rep, err := store.SalvageJournal(*dbPath, *out, store.Options{})
	if err != nil {
		return fmt.Errorf("repair journal: %w", err)
	}
	printSalvage(stdout, rep)
	return nil
}

func printSalvage(w io.Writer, rep *store.SalvageReport) {
	fmt.Fprintf(w, "%s: journal records replayed onto a copy of %s, checked: %d sales (%d unfinished), %d queued commands, events up to %d\n",
		rep.Out, rep.DB, rep.Stats.Sales, rep.Stats.Unfinished, rep.Stats.Commands, rep.Stats.LastSeq)
	for _, r := range rep.Kept {
		fmt.Fprintf(w, "  kept      record %d%s\n", r.Seq, names(r))
	}
	for _, r := range rep.Lost {
		switch {
		case r.Damaged && r.Offset < 0:
			fmt.Fprintf(w, "  NOT KEPT  record %d: not found (damaged)\n", r.Seq)
		case r.Damaged:
			fmt.Fprintf(w, "  NOT KEPT  record %d at byte %d: damaged%s\n", r.Seq, r.Offset, names(r))
		default:
			fmt.Fprintf(w, "  NOT KEPT  record %d: checks, but follows a damaged record%s\n", r.Seq, names(r))
		}
	}
	if len(rep.Lost) == 0 {
		fmt.Fprintf(w, "Every record of the journal was kept.\n")
	} else {
		fmt.Fprintf(w, "%d record(s) could not be kept: check the sales named above at Vipps MobilePay (portal, or GET /epayment/v1/payments/REFERENCE) and enter them again at the till if needed.\n", len(rep.Lost))
	}
	fmt.Fprintf(w, "To use the copy, with tillbox stopped:\n  mv %s %s.damaged\n  mv %s %s.damaged\n  mv %s %s\nthen start tillbox. The .damaged files are the originals, unchanged.\n",
		rep.DB, rep.DB, rep.Journal, rep.Journal, rep.Out, rep.DB)
}

// names lists what a record names.
func names(r store.RecordSummary) string {
	var parts []string
	if len(r.Sales) > 0 {
		parts = append(parts, "sales "+strings.Join(r.Sales, ", "))
	}
	if len(r.Events) > 0 {
		parts = append(parts, fmt.Sprintf("events %v", r.Events))
	}
	if len(r.Commands) > 0 {
		parts = append(parts, fmt.Sprintf("commands %v", r.Commands))
	}
	if len(parts) == 0 {
		if r.Damaged {
			return " (nothing readable)"
		}
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}
