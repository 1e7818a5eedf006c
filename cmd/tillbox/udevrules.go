package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/device/udevrules"
)

const udevRulesUsage = `usage: tillbox udev-rules [--config FILE] [--group NAME]

Prints the udev rules that give the group (default tillbox, the service's)
read-write access to the scanners of the configuration, and to nothing else:
for a serial scanner its tty, for a USB HID scanner its USB device node
/dev/bus/usb/BBB/DDD. scripts/install.sh writes them to
/etc/udev/rules.d/` + udevrules.FileName + `.
`

// runUdevRules is `tillbox udev-rules`.
func runUdevRules(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tillbox udev-rules", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), udevRulesUsage) }
	path := fs.String("config", config.DefaultPath, "the configuration `file`")
	group := fs.String("group", "tillbox", "the `group` granted the scanners")
	if _, err := parseArgs(fs, args, stdout); err != nil {
		return err
	}
	c, err := config.Load(*path)
	if c == nil {
		return err
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		// Problems elsewhere do not change which devices the scanners are;
		// a problem in a [[scanner]] table does.
		other := 0
		for _, p := range ce.Problems {
			if strings.HasPrefix(p.Field, "scanner") {
				return problems(stderr, *path, err)
			}
			other++
		}
		fmt.Fprintf(stderr, "note: %s has %d problem(s) outside its scanners (tillbox config check %s); the rules cover its scanners\n", *path, other, *path)
	} else if err != nil {
		return err
	}
	us, err := udevScanners(c.Scanners)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	rules, notes, err := udevrules.Generate(us, *group, *path)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	for _, n := range notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	_, err = io.WriteString(stdout, rules)
	return err
}

// udevScanners converts the [[scanner]] entries for udevrules.Generate,
// each with its match as the file writes it.
func udevScanners(list []config.Scanner) ([]udevrules.Scanner, error) {
	specs, err := config.Specs(list)
	if err != nil {
		return nil, err
	}
	us := make([]udevrules.Scanner, len(specs))
	for i, s := range specs {
		us[i] = udevrules.Scanner{Spec: s, Configured: list[i].Match}
	}
	return us, nil
}
