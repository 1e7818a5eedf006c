package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tillbox/tillbox/agent/config"
)

const configUsage = `Usage:
  tillbox config example        print a commented configuration file (it runs against tillbox sim)
  tillbox config check FILE     name the field and the reason of every problem of FILE and of the
                                technician page's settings laid over it (<data_dir>/settings.toml)
`

// runConfig is `tillbox config example|check`.
func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return errUsage
	}
	if wantsHelp(args) {
		fmt.Fprint(stdout, configUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "example":
		if len(args) > 1 {
			fmt.Fprint(stderr, configUsage)
			return errUsage
		}
		fmt.Fprint(stdout, config.Example())
		return nil
	case "check":
		if len(args) != 2 {
			fmt.Fprint(stderr, configUsage)
			return errUsage
		}
		return checkConfig(args[1], stdout)
	case "help":
		fmt.Fprint(stdout, configUsage)
		return nil
	}
	fmt.Fprintf(stderr, "tillbox config: unknown command %q\n\n%s", args[0], configUsage)
	return errUsage
}

// checkConfig prints every problem of the file and its overlay (the
// technician page's settings) as FIELD: REASON, then the warnings; it
// fails when there is any problem. A problem of the overlay names it.
func checkConfig(path string, stdout io.Writer) error {
	c, err := config.Load(path)
	if err != nil {
		err = problems(stdout, path, err)
	}
	if c != nil {
		for _, w := range c.Warnings {
			fmt.Fprintln(stdout, "warning:", w)
		}
	}
	if err != nil {
		return err
	}
	if o := c.Overlaid(); len(o) > 0 {
		fmt.Fprintf(stdout, "%s: ok, with the technician page's settings from %s (%s)\n", path, c.OverlayFile, strings.Join(o, ", "))
		return nil
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return nil
}
