package sim

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/clock"
	"github.com/tillbox/tillbox/agent/epayment"
)

// Options configures a simulator. The zero value is a usable test sales unit:
// any credentials, any MSN, NOK, a customer app that approves after 2 s.
type Options struct {
	// Clock is the simulator's time. nil means the real clock.
	Clock clock.Clock
	// Logger receives request and delivery logs. nil discards them. Secrets and
	// tokens are never logged.
	Logger *slog.Logger

	// ClientID, ClientSecret and SubscriptionKey pin the sales unit's keys:
	// "" accepts any value, a set value must match or the call gets 401.
	ClientID, ClientSecret, SubscriptionKey string
	// MSN pins the merchant serial number: "" accepts any MSN matching
	// ^[0-9]{4,10}$, a set value answers 403 to any other.
	MSN string
	// Currency is the sales unit's market currency (default NOK). A payment in
	// any other currency gets 5040.
	Currency epayment.Currency
	// TokenLifetime is the life of an access token by the simulator's clock
	// (default 1 h, as in the test environment). With a scaled clock
	// (NewScaledClock, --speed) the token answer reports it in real seconds
	// (see handleToken), so that a client on the real clock refreshes in time.
	TokenLifetime time.Duration
	// Retention is how long, by the simulator's clock, a payment in a final
	// state (any state but CREATED) is kept after its last event, with its
	// idempotency keys and the receipt sent with it; then a sweep forgets it
	// and a call for it gets 404 as for an unknown reference. 0 means 24 h;
	// a negative value keeps everything. It bounds the memory of a long soak.
	Retention time.Duration
	// App is the default behaviour of the simulated customer app. The zero
	// value means {Action: Approve, Delay: 2 s}.
	App AppPolicy
	// PushDisabled makes the sales unit unapproved for PUSH_MESSAGE (5080).
	PushDisabled bool
	// Seed seeds the randomness of fault injection; 0 seeds from the time.
	Seed int64
	// WebhookClient sends webhook deliveries. nil means a client with timeouts
	// that refuses redirects and, unless AllowRemoteWebhooks, non-loopback hosts.
	WebhookClient *http.Client
	// AllowRemoteWebhooks lets deliveries go to hosts other than loopback. By
	// default a registration may name any https host (as the real API allows),
	// but its deliveries are refused, so tests only ever talk to loopback.
	AllowRemoteWebhooks bool

	// The Report API's ledger (reportbook.go). ReportLag is how long after a
	// capture or refund its row shows, by the simulator's clock (0: 2 h;
	// negative: at once); ReportZone the ledger dates' time zone (nil:
	// Europe/Oslo); ReportPageSize the rows per page (0: 100); ReportFee the
	// capture fee (nil: 1.75 %; &ReportFee{}: none); ReportKeepDays how many
	// ledger dates back it keeps (0: 62; negative: all).
	ReportLag      time.Duration
	ReportZone     *time.Location
	ReportPageSize int
	ReportFee      *ReportFee
	ReportKeepDays int
}

// Action is what the simulated customer does with a payment request.
type Action int

// Actions of the simulated customer app. The zero Action means "not set".
const (
	Approve Action = iota + 1 // the customer approves: AUTHORIZED
	Reject                    // the customer rejects: ABORTED
	Ignore                    // the customer does nothing: EXPIRED after 10 minutes
)

// String gives the action's name as used by the control API and the flags.
func (a Action) String() string {
	switch a {
	case Approve:
		return "approve"
	case Reject:
		return "reject"
	case Ignore:
		return "ignore"
	}
	return "unset"
}

// MarshalText encodes the action as "approve", "reject" or "ignore".
func (a Action) MarshalText() ([]byte, error) {
	if a < Approve || a > Ignore {
		return nil, fmt.Errorf("sim: unknown action %d", int(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText decodes "approve", "reject" or "ignore" (any case).
func (a *Action) UnmarshalText(b []byte) error {
	act, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = act
	return nil
}

// ParseAction parses "approve", "reject" or "ignore".
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "approve":
		return Approve, nil
	case "reject":
		return Reject, nil
	case "ignore":
		return Ignore, nil
	}
	return 0, fmt.Errorf("sim: action %q is not approve, reject or ignore", s)
}

// AppPolicy is how the simulated customer app answers a payment request: what it
// does and how long after the request it does it (by the simulator's clock).
type AppPolicy struct {
	Action Action
	Delay  time.Duration
}

const (
	defaultAppDelay      = 2 * time.Second
	defaultTokenLifetime = time.Hour
	defaultRetention     = 24 * time.Hour
)

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Currency == "" {
		o.Currency = epayment.NOK
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = defaultTokenLifetime
	}
	if o.Retention == 0 {
		o.Retention = defaultRetention
	}
	if o.App.Action == 0 {
		o.App = AppPolicy{Action: Approve, Delay: defaultAppDelay}
	}
	if o.App.Delay < 0 {
		o.App.Delay = 0
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	return o
}

// RegisterFlags adds the flags of `tillbox sim` to fs, writing into o. Call it
// before fs.Parse; the current values of o are the defaults.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	if o.Currency == "" {
		o.Currency = epayment.NOK
	}
	if o.App.Action == 0 {
		o.App = AppPolicy{Action: Approve, Delay: defaultAppDelay}
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = defaultTokenLifetime
	}
	if o.Retention == 0 {
		o.Retention = defaultRetention
	}
	fs.StringVar(&o.ClientID, "client-id", o.ClientID, "pin the client_id the token call must send (empty: accept any)")
	fs.StringVar(&o.ClientSecret, "client-secret", o.ClientSecret, "pin the client_secret the token call must send (empty: accept any)")
	fs.StringVar(&o.SubscriptionKey, "subscription-key", o.SubscriptionKey, "pin the Ocp-Apim-Subscription-Key (empty: accept any)")
	fs.StringVar(&o.MSN, "msn", o.MSN, "pin the Merchant-Serial-Number (empty: accept any of 4-10 digits)")
	fs.Func("currency", "the sales unit's currency: NOK, DKK or EUR (default "+string(o.Currency)+")", func(s string) error {
		c := epayment.Currency(strings.ToUpper(s))
		if _, ok := epayment.MinAmount(c); !ok {
			return fmt.Errorf("currency %q is not NOK, DKK or EUR", s)
		}
		o.Currency = c
		return nil
	})
	fs.Func("app", "what the simulated customer does: approve, reject or ignore (default "+o.App.Action.String()+")", func(s string) error {
		a, err := ParseAction(s)
		if err != nil {
			return err
		}
		o.App.Action = a
		return nil
	})
	fs.DurationVar(&o.App.Delay, "app-delay", o.App.Delay, "how long the simulated customer takes to act, in simulated time")
	fs.DurationVar(&o.TokenLifetime, "token-lifetime", o.TokenLifetime, "access token lifetime, in simulated time (with --speed, expires_in is reported in real seconds: lifetime/speed)")
	fs.DurationVar(&o.Retention, "retention", o.Retention, "how long a payment in a final state is kept after its last event, in simulated time (negative: forever)")
	fs.BoolVar(&o.PushDisabled, "push-disabled", o.PushDisabled, "the sales unit is not approved for PUSH_MESSAGE (5080)")
	o.registerReportFlags(fs)
	var speed, fake bool
	fs.Func("speed", "clock speed factor: 60 runs one simulated minute per real second (default 1); payment expiry, app delay, token lifetime and rate limits all follow it", func(s string) error {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("speed %q is not a positive number", s)
		}
		if fake {
			return errors.New("--speed and --fake-clock exclude each other: a fake clock moves only when told to")
		}
		speed = true
		o.Clock = NewScaledClock(f)
		return nil
	})
	fs.BoolFunc("fake-clock", "the clock stands still and moves only by POST /sim/clock/advance (for scripted tests: the app's delay, expiry and webhook retries then wait for it)", func(s string) error {
		on, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("fake-clock %q is not true or false", s)
		}
		if on && speed {
			return errors.New("--speed and --fake-clock exclude each other: a fake clock moves only when told to")
		}
		if on {
			o.Clock = clock.NewFake(time.Now())
		} else if fake {
			o.Clock = nil
		}
		fake = on
		return nil
	})
}
