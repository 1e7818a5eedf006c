package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/posapi"
)

// ExitBusy is the exit status of `tillbox busy` when a payment is in
// flight. 0 is idle; 1 is "could not tell" (the box did not answer, or
// refused): an update tool must treat that as busy too.
const ExitBusy = 3

const busyUsage = `tillbox busy — is a payment in flight? (for update tools)

Usage:
  tillbox busy [--url URL] [--config FILE] [--json] [--timeout D]

Asks the running agent (GET /api/v1/busy). Exit status:
  0  idle: no payment in flight; stopping or updating the box is safe
  3  busy: a payment is in flight (the references are printed); try later
  1  could not tell (the agent did not answer, or refused): do not update

The token comes from $TILLBOX_POS_TOKEN, or else from the configuration
file (pos.token or pos.token_file), which also gives the address when
--url and $TILLBOX_POS_URL are not set.
`

// exitError ends the process with its code after printing nothing more.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func runBusy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tillbox busy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), busyUsage) }
	baseURL := fs.String("url", os.Getenv("TILLBOX_POS_URL"), "the box's POS API (default from the configuration's pos.listen)")
	path := fs.String("config", config.DefaultPath, "the configuration `file`, for the token and the address")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "bound of the request")
	if _, err := parseArgs(fs, args, stdout); err != nil {
		return err
	}
	token := epayment.Secret(os.Getenv("TILLBOX_POS_TOKEN"))
	var hc *http.Client
	if token == "" || *baseURL == "" {
		c, err := config.Load(*path)
		if err != nil {
			return problems(stderr, *path, err)
		}
		if token == "" {
			token = c.POS.Token
		}
		if *baseURL == "" {
			// The box's own API: over TLS pinned to its certificate.
			if *baseURL, hc, err = localAPI(c); err != nil {
				return fmt.Errorf("busy: %w", err)
			}
		}
	}
	if token == "" {
		return errors.New("busy: no token: set $TILLBOX_POS_TOKEN or pos.token in the configuration")
	}
	cl := &posapi.Client{BaseURL: strings.TrimSuffix(*baseURL, "/"), Token: token, HTTPClient: hc}
	rctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	b, err := cl.Busy(rctx)
	if err != nil {
		return fmt.Errorf("busy: cannot tell: %w", err)
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(b); err != nil {
			return err
		}
	} else if b.Busy {
		fmt.Fprintf(stdout, "busy: %d payment(s) in flight: %s\n", len(b.InFlight), strings.Join(b.InFlight, " "))
	} else {
		fmt.Fprintf(stdout, "idle (%d commands queued)\n", b.Queued)
	}
	if b.Busy {
		return &exitError{code: ExitBusy}
	}
	return nil
}
