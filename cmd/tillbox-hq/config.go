package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tillbox/tillbox/cmd/internal/cli"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/hqconfig"
)

const configUsage = `Usage:
  tillbox-hq config example      print a commented configuration file
  tillbox-hq config check FILE   name the field and the reason of every problem of FILE
`

// runConfig is `tillbox-hq config example|check`.
func runConfig(args []string, stdout, stderr io.Writer) error {
	if cli.WantsHelp(args) {
		fmt.Fprint(stdout, configUsage)
		return flag.ErrHelp
	}
	switch {
	case len(args) == 1 && args[0] == "example":
		fmt.Fprint(stdout, hqconfig.Example())
		return nil
	case len(args) == 2 && args[0] == "check":
		return checkConfig(args[1], stdout)
	}
	fmt.Fprint(stderr, configUsage)
	return cli.ErrUsage
}

// checkConfig prints every problem of the file as FIELD: REASON, then the
// warnings; it fails when there is any problem.
func checkConfig(path string, stdout io.Writer) error {
	c, err := hqconfig.Load(path)
	if err != nil {
		var ce *hqconfig.Error
		if !errors.As(err, &ce) {
			return err
		}
		for _, p := range ce.Problems {
			fmt.Fprintln(stdout, p)
		}
		return fmt.Errorf("%s: %d problem(s)", path, len(ce.Problems))
	}
	for _, w := range c.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return nil
}
