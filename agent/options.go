package agent

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment"
)

// Options configure an Agent. The zero value of each field is a sensible
// default for a shop counter (see withDefaults).
type Options struct {
	// Till identifies this till within the sales unit; it goes into
	// generated references. Letters, digits and dashes.
	Till string
	// MSN is the merchant serial number of the sales unit.
	MSN string
	// Currency is the sales unit's currency (NOK, DKK, EUR).
	Currency epayment.Currency
	// ReferencePrefix starts every generated reference; default "tb-" + Till.
	ReferencePrefix string
	// DefaultDescription is the paymentDescription of a sale without one.
	DefaultDescription string

	// CustomerPresentWindow: a createPayment not sent within it is
	// abandoned, never pushed later. Default 2 minutes.
	CustomerPresentWindow time.Duration
	// ScanWindow: a scan waits this long for the next sale. Default 60 s.
	ScanWindow time.Duration
	// ManualCapture: when false (the default for a shop counter) an
	// authorised payment is captured at once; when true the POS captures.
	ManualCapture bool

	// MaxQueued caps the commands waiting in the outbox; beyond it new sales
	// are refused (commands already queued are never dropped). Default 10 000.
	MaxQueued int
	// MaxQueueAge: while the oldest queued command is older, new sales are
	// refused. Default 24 h.
	MaxQueueAge time.Duration

	// PollDelay is the first poll after a create was sent (5 s), PollEvery
	// the interval after it (2 s) — FACTS.md §10.
	PollDelay, PollEvery time.Duration
	// RetryBase and RetryMax bound the outbox's back-off with jitter.
	RetryBase, RetryMax time.Duration
	// ProbeEvery is how often, while offline with commands queued, the
	// agent asks ePayment's host for any answer (no command, no secret), so
	// that the queue drains as soon as the network is back rather than at
	// the back-off's pace; ProbeTimeout bounds each probe. Defaults 1 s, 3 s.
	ProbeEvery, ProbeTimeout time.Duration
	// Workers is the number of commands sent at once (each sale's still one
	// at a time, in order). Default 16: a backlog after an outage drains with
	// their answers settled several to a durable commit. An answer waiting
	// for its commit does not hold a worker; at most 4 × Workers commands
	// are on their way, sent or waiting.
	Workers int
	// StopGrace is how long the calls to Vipps MobilePay in flight when Run's
	// context ends may take to finish (their answers settled and committed)
	// before they are cancelled and their commands parked for the next
	// start. Default 5 s; keep it well within the service's stop timeout.
	StopGrace time.Duration
	// PruneEvery is how often finished sales and old events past the
	// store's retention are dropped. Default 1 h.
	PruneEvery time.Duration

	// CheckScan decides whether a scan is a personal QR code before it goes
	// anywhere (e.g. device/classify); an error refuses it with its message.
	// Nil accepts any text ePayment's length rule allows.
	CheckScan func(code string) error

	// WebhookURL is the public URL registered with the Webhooks API and
	// WebhookSecret its secret; both empty disables the webhook endpoint.
	WebhookURL    string
	WebhookSecret epayment.Secret

	Logger *slog.Logger
	// Clock is the time source; nil is the real clock. A [clock.Fake]
	// makes tests of expiry, polling and back-off run in milliseconds.
	Clock clock.Clock
}

var tillPattern = regexp.MustCompile(`^[a-zA-Z0-9-]{1,20}$`)

func (o Options) withDefaults() (Options, error) {
	if o.Till == "" {
		o.Till = "till1"
	}
	if !tillPattern.MatchString(o.Till) {
		return o, fmt.Errorf("agent: till %q: use 1 to 20 letters, digits or dashes", o.Till)
	}
	if o.Currency == "" {
		o.Currency = epayment.NOK
	}
	if _, ok := epayment.MinAmount(o.Currency); !ok {
		return o, fmt.Errorf("agent: currency %q: use NOK, DKK or EUR", o.Currency)
	}
	if o.ReferencePrefix == "" {
		o.ReferencePrefix = "tb-" + o.Till
	}
	if !refPrefixPattern.MatchString(o.ReferencePrefix) {
		return o, fmt.Errorf("agent: reference prefix %q: use 1 to 40 letters, digits or dashes", o.ReferencePrefix)
	}
	if o.DefaultDescription == "" {
		o.DefaultDescription = "Purchase in store"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.CustomerPresentWindow, 2*time.Minute)
	def(&o.ScanWindow, time.Minute)
	def(&o.MaxQueueAge, 24*time.Hour)
	def(&o.PollDelay, 5*time.Second)
	def(&o.PollEvery, 2*time.Second)
	def(&o.RetryBase, time.Second)
	def(&o.RetryMax, time.Minute)
	def(&o.ProbeEvery, time.Second)
	def(&o.ProbeTimeout, 3*time.Second)
	def(&o.PruneEvery, time.Hour)
	def(&o.StopGrace, 5*time.Second)
	if o.MaxQueued <= 0 {
		o.MaxQueued = 10_000
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if (o.WebhookURL == "") != (o.WebhookSecret == "") {
		return o, fmt.Errorf("agent: webhook URL and secret go together: set both or neither")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return o, nil
}

var refPrefixPattern = regexp.MustCompile(`^[a-zA-Z0-9-]{1,40}$`)
