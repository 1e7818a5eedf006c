package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/agent/tlscert"
)

const posUsage = `tillbox pos — talk to a box's POS API, as a cash register would

Usage:
  tillbox pos [--url URL] [--token TOKEN] [--json] COMMAND [ARGS]

Commands:
  sale --amount N [--currency NOK] [--description TEXT] [--reference REF]
       [--qr CODE | --phone MSISDN] [--capture auto|manual] [--wait]
                          send a sale (amount in minor units: 49900 is 499.00);
                          --wait follows it to its result
  get REF                 show a sale
  list [--after REF] [--limit N]
                          list sales in reference order
  cancel REF              cancel a sale (again is harmless)
  capture REF [--amount N]
                          capture an authorised sale (all that is left without --amount)
  refund REF [--amount N] [--id ID]
                          refund part of a captured sale, or all that is left
                          without --amount
  events [--after SEQ] [--follow]
                          print the event log after SEQ; --follow keeps streaming
  status                  the box's health and queue
  scan CODE               send a scanned code, as the box's scanner would

The token comes from --token or $TILLBOX_POS_TOKEN (prefer the variable: a
flag shows in the process list), the URL from --url or $TILLBOX_POS_URL.
A box with [tls] mode = "self-signed" is reached with --url https://BOX:8080
and --pin FINGERPRINT (or $TILLBOX_POS_PIN): its certificate's SHA-256, as
tillbox doctor, GET /api/v1/status and the technician page show it; any
other certificate is refused before the token is sent.
Output is one short line per item, or JSON with --json. The exit status is
1 when the box refuses the request (its message is printed), and for
--wait when the sale ends without payment.
`

// posCmd is one run of tillbox pos.
type posCmd struct {
	client  *posapi.Client
	json    bool
	timeout time.Duration
	out     io.Writer
}

// runPOS runs tillbox pos.
func runPOS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tillbox pos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), posUsage) }
	baseURL := fs.String("url", envOr("TILLBOX_POS_URL", "http://127.0.0.1:8080"), "the box's POS API")
	token := fs.String("token", "", "the till's POS token (default $TILLBOX_POS_TOKEN)")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "bound of each request (not of --wait and --follow)")
	pin := fs.String("pin", os.Getenv("TILLBOX_POS_PIN"), "the SHA-256 `fingerprint` of the box's TLS certificate (tillbox doctor on the box shows it): only that box is talked to, over https (default $TILLBOX_POS_PIN)")
	// The flags of tillbox pos come before its COMMAND, whose own flags
	// may come before or after its arguments.
	if _, err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, posUsage)
		return errUsage
	}
	if wantsHelp(fs.Args()) { // before asking for a token
		fmt.Fprint(stdout, posUsage)
		return flag.ErrHelp
	}
	if *token == "" {
		*token = os.Getenv("TILLBOX_POS_TOKEN")
	}
	if *token == "" {
		return errors.New("pos: no token: set $TILLBOX_POS_TOKEN or --token (the till's POS token from the box's configuration)")
	}
	c := &posCmd{
		client:  &posapi.Client{BaseURL: strings.TrimSuffix(*baseURL, "/"), Token: epayment.Secret(*token)},
		json:    *asJSON,
		timeout: *timeout,
		out:     stdout,
	}
	if *pin != "" {
		if !strings.HasPrefix(strings.ToLower(*baseURL), "https://") {
			return fmt.Errorf("pos: --pin needs the box's https:// URL (--url or $TILLBOX_POS_URL), not %q: the token would cross the network in clear text", *baseURL)
		}
		if err := c.client.Pin(*pin); err != nil {
			return fmt.Errorf("pos: --pin: %w", err)
		}
	}
	cmd, args := fs.Arg(0), fs.Args()[1:]
	var err error
	switch cmd {
	case "sale":
		err = c.sale(ctx, args, stderr)
	case "get":
		err = c.oneRef(ctx, "get", args, stderr, c.client.GetSale)
	case "list":
		err = c.list(ctx, args, stderr)
	case "cancel":
		err = c.oneRef(ctx, "cancel", args, stderr, c.client.CancelSale)
	case "capture":
		err = c.capture(ctx, args, stderr)
	case "refund":
		err = c.refund(ctx, args, stderr)
	case "events":
		err = c.events(ctx, args, stderr)
	case "status":
		err = c.status(ctx, args, stderr)
	case "scan":
		err = c.scan(ctx, args, stderr)
	default:
		fmt.Fprintf(stderr, "tillbox pos: unknown command %q\n\n%s", cmd, posUsage)
		return errUsage
	}
	return c.explain(err)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// explain turns an error into the line the user sees: the box's message,
// or what to check when the box cannot be reached.
func (c *posCmd) explain(err error) error {
	var e *posapi.Error
	switch {
	case err == nil, errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return err
	case errors.As(err, &e) && e.Status == http.StatusUnauthorized:
		return fmt.Errorf("pos: the box refused the token: check $TILLBOX_POS_TOKEN or --token")
	case errors.As(err, &e):
		if e.RetryAfter > 0 {
			return fmt.Errorf("pos: %s (%s; try again in %s)", e.Message, e.Code, e.RetryAfter)
		}
		if e.Code == "" || e.Field != "" {
			return fmt.Errorf("pos: %s", e.Message) // a field's message says it all
		}
		return fmt.Errorf("pos: %s (%s)", e.Message, e.Code)
	}
	var pe *tlscert.PinError
	if errors.As(err, &pe) {
		return fmt.Errorf("pos: refused %s: %w", c.client.BaseURL, pe)
	}
	var ne *net.OpError
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("pos: cannot reach the box at %s: %w", c.client.BaseURL, err)
	}
	return err
}

func (c *posCmd) flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tillbox pos "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), posUsage) }
	return fs
}

func (c *posCmd) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

func (c *posCmd) sale(ctx context.Context, args []string, stderr io.Writer) error {
	fs := c.flags("sale", stderr)
	var req agent.SaleRequest
	fs.Int64Var(&req.Amount, "amount", 0, "amount in minor units (49900 is 499.00)")
	fs.StringVar(&req.Currency, "currency", "NOK", "currency of the till's sales unit")
	fs.StringVar(&req.Description, "description", "", "shown to the customer (default: the till's)")
	fs.StringVar(&req.Reference, "reference", "", "your reference (default: the box makes one)")
	fs.StringVar(&req.Capture, "capture", "", "auto or manual (default: the till's)")
	qr := fs.String("qr", "", "the whole text of the customer's personal QR code")
	phone := fs.String("phone", "", "the customer's phone number: country code and number, digits only")
	wait := fs.Bool("wait", false, "follow the sale to its result")
	if _, err := parseArgs(fs, args, c.out); err != nil {
		return err
	}
	if *qr != "" || *phone != "" {
		req.Customer = &agent.Customer{PersonalQR: *qr, PhoneNumber: *phone}
	}
	var from uint64
	if *wait {
		// The events of this sale come after the newest one now.
		rctx, cancel := c.bounded(ctx)
		st, err := c.client.Status(rctx)
		cancel()
		if err != nil {
			return err
		}
		from = st.LastSeq
	}
	rctx, cancel := c.bounded(ctx)
	s, _, err := c.client.CreateSale(rctx, req)
	cancel()
	if err != nil {
		return err
	}
	c.printSale(s)
	if !*wait || done(s) {
		return result(s, *wait)
	}
	errDone := errors.New("done")
	last := s
	err = c.client.StreamEvents(ctx, from, func(ev agent.Event) error {
		if ev.Reference != s.Reference {
			return nil
		}
		if ev.Sale.State != last.State || ev.Sale.Aggregate != last.Aggregate {
			c.printSale(ev.Sale) // not the change already printed
		}
		last = ev.Sale
		if done(ev.Sale) {
			return errDone
		}
		return nil
	})
	switch {
	case errors.Is(err, errDone):
		return result(last, true)
	case err == nil:
		return ctx.Err()
	}
	return err
}

// done reports whether --wait has seen the end: a result, or an
// authorisation left to the POS to capture.
func done(s agent.Sale) bool {
	return s.Outcome || (s.State == agent.Authorized && s.ManualCapture && s.Aggregate.Captured == 0)
}

// result is the exit status of sale: an error when a followed sale ended
// without payment.
func result(s agent.Sale, waited bool) error {
	if !waited || s.State == agent.Completed || s.State == agent.Authorized {
		return nil
	}
	msg := fmt.Sprintf("pos: sale %s ended %s", s.Reference, s.State)
	if s.Message != "" {
		msg += ": " + s.Message
	}
	return errors.New(msg)
}

func (c *posCmd) oneRef(ctx context.Context, name string, args []string, stderr io.Writer,
	call func(context.Context, string) (agent.Sale, error)) error {
	pos, err := parseArgs(c.flags(name, stderr), args, c.out, "REF")
	if err != nil {
		return err
	}
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	s, err := call(rctx, pos[0])
	if err != nil {
		return err
	}
	c.printSale(s)
	return nil
}

func (c *posCmd) capture(ctx context.Context, args []string, stderr io.Writer) error {
	fs := c.flags("capture", stderr)
	amount := fs.Int64("amount", 0, "amount in minor units (default: all that is left)")
	pos, err := parseArgs(fs, args, c.out, "REF")
	if err != nil {
		return err
	}
	if *amount < 0 {
		return fmt.Errorf("pos: --amount must be positive")
	}
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	s, err := c.client.CaptureSale(rctx, pos[0], *amount)
	if err != nil {
		return err
	}
	c.printSale(s)
	return nil
}

func (c *posCmd) refund(ctx context.Context, args []string, stderr io.Writer) error {
	fs := c.flags("refund", stderr)
	amount := fs.Int64("amount", 0, "amount in minor units (default: all that is captured and not refunded)")
	id := fs.String("id", "", "your id of this refund: the same id refunds once")
	pos, err := parseArgs(fs, args, c.out, "REF")
	if err != nil {
		return err
	}
	if *amount < 0 {
		return fmt.Errorf("pos: --amount must be positive")
	}
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	s, err := c.client.RefundSale(rctx, pos[0], *amount, *id)
	if err != nil {
		return err
	}
	c.printSale(s)
	return nil
}

func (c *posCmd) list(ctx context.Context, args []string, stderr io.Writer) error {
	fs := c.flags("list", stderr)
	after := fs.String("after", "", "start after this reference")
	limit := fs.Int("limit", 0, "at most this many (default: the box's, 100)")
	if _, err := parseArgs(fs, args, c.out); err != nil {
		return err
	}
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	page, err := c.client.ListSales(rctx, *after, *limit)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(page)
	}
	for _, s := range page.Sales {
		c.printSale(s)
	}
	if page.Next != "" {
		fmt.Fprintf(c.out, "more: tillbox pos list --after %s\n", page.Next)
	}
	return nil
}

func (c *posCmd) events(ctx context.Context, args []string, stderr io.Writer) error {
	fs := c.flags("events", stderr)
	after := fs.Uint64("after", 0, "print the events after this seq")
	follow := fs.Bool("follow", false, "keep streaming new events until interrupted")
	if _, err := parseArgs(fs, args, c.out); err != nil {
		return err
	}
	if *follow {
		err := c.client.StreamEvents(ctx, *after, func(ev agent.Event) error {
			c.printEvent(ev)
			return nil
		})
		return c.ahead(ctx, *after, err)
	}
	for {
		rctx, cancel := c.bounded(ctx)
		page, err := c.client.Events(rctx, *after, 0, 0)
		cancel()
		if err != nil {
			return c.ahead(ctx, *after, err)
		}
		for _, ev := range page.Events {
			c.printEvent(ev)
		}
		if len(page.Events) == 0 {
			return nil
		}
		*after = page.Next
	}
}

// ahead explains a position past the box's newest event: it comes from
// another database (a backup restored on the box, or another box). Other
// errors are returned as they are.
func (c *posCmd) ahead(ctx context.Context, after uint64, err error) error {
	if !errors.Is(err, agent.ErrEventsAhead) {
		return err
	}
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	st, serr := c.client.Status(rctx)
	if serr != nil {
		return err
	}
	return fmt.Errorf("pos: the box's newest event is #%d, before --after %d: that position comes from another database "+
		"(a backup restored on the box, or another box); check your open sales with tillbox pos get REF, "+
		"then go on with --after %d", st.LastSeq, after, st.LastSeq)
}

func (c *posCmd) status(ctx context.Context, args []string, stderr io.Writer) error {
	if _, err := parseArgs(c.flags("status", stderr), args, c.out); err != nil {
		return err
	}
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	st, err := c.client.Status(rctx)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(st)
	}
	online := "online"
	if !st.Online {
		online = "OFFLINE"
		if st.LastError != "" {
			online += " (" + st.LastError + ")"
		}
	}
	full := ""
	if st.QueueFull {
		full = ", QUEUE FULL: new sales are refused"
	}
	fmt.Fprintf(c.out, "%s, queued %d of %d%s, unfinished %d, last event %d\n", online, st.Queued, st.MaxQueued, full, st.Unfinished, st.LastSeq)
	return nil
}

func (c *posCmd) scan(ctx context.Context, args []string, stderr io.Writer) error {
	pos, err := parseArgs(c.flags("scan", stderr), args, c.out, "CODE")
	if err != nil {
		return err
	}
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	res, err := c.client.Scan(rctx, pos[0])
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(res)
	}
	switch res.Outcome {
	case "bound":
		fmt.Fprintf(c.out, "scan bound to sale %s\n", res.Reference)
	default:
		fmt.Fprintf(c.out, "scan %s: %s\n", res.Outcome, res.Message)
	}
	return nil
}

func (c *posCmd) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.out, "%s\n", b)
	return err
}

// printSale prints a sale on one line: reference, state, amount, what
// moved, description, customer, message.
func (c *posCmd) printSale(s agent.Sale) {
	if c.json {
		_ = c.printJSON(s)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  %s %s", s.Reference, s.State, money(s.Amount), s.Currency)
	if a := s.Aggregate; a.Captured > 0 || a.Refunded > 0 || a.Cancelled > 0 {
		fmt.Fprintf(&b, "  (captured %s", money(a.Captured))
		if a.Refunded > 0 {
			fmt.Fprintf(&b, ", refunded %s", money(a.Refunded))
		}
		if a.Cancelled > 0 {
			fmt.Fprintf(&b, ", released %s", money(a.Cancelled))
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "  %q", s.Description)
	if cu := s.Customer; cu != nil {
		if cu.Masked != "" {
			fmt.Fprintf(&b, "  customer %s", cu.Masked)
		} else {
			b.WriteString("  customer by QR")
		}
	}
	if s.Message != "" {
		fmt.Fprintf(&b, "  — %s", s.Message)
	}
	fmt.Fprintln(c.out, b.String())
}

func (c *posCmd) printEvent(ev agent.Event) {
	if c.json {
		_ = c.printJSON(ev)
		return
	}
	fmt.Fprintf(c.out, "#%d  %s  ", ev.Seq, ev.At.Local().Format(time.TimeOnly))
	c.printSale(ev.Sale)
}

// money formats minor units with two decimals (NOK, DKK and EUR have two).
func money(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return sign + strconv.FormatInt(minor/100, 10) + "." + fmt.Sprintf("%02d", minor%100)
}
