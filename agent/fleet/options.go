package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// DefaultHeartbeat is how often the box says how it is, by default.
const DefaultHeartbeat = 10 * time.Second

// Options configure a [Link]. Till, Servers and one kind of credentials
// are required; cmd/tillbox converts the [fleet] section of the
// configuration into them and sets the box's hooks.
type Options struct {
	// Till names the box in the chain: its subjects, its durable relay
	// consumer and its reply inbox follow from it.
	Till wire.Till
	// Servers are headquarters' NATS URLs: nats:// (TLS when CAFile is set
	// or the server asks for it), tls://, ws:// or wss://. The link tries
	// them in turn.
	Servers []string

	// Credentials, one kind: CredsFile (a NATS .creds file: the user's JWT
	// and its nkey seed), NKeyFile (an nkey seed), or User and Password.
	CredsFile string
	NKeyFile  string
	User      string
	Password  epayment.Secret

	// CAFile holds the PEM roots that headquarters' TLS certificate must
	// chain to; empty: the system's roots.
	CAFile string

	// Heartbeat is how often the box publishes a heartbeat. Default
	// [DefaultHeartbeat].
	Heartbeat time.Duration

	// Describe returns what the box says of itself in a heartbeat (its
	// version, MSN, reference prefix, whether Vipps MobilePay answers, its
	// queue and scanners, its last error without secrets). The link fills
	// in Till, At, LastSeq and Shipped. nil: those four only.
	Describe func() wire.Heartbeat
	// Changed returns a channel that is closed when the next event is
	// committed to the store (the agent's notification). The link reads
	// the channel before the store, so it never misses a commit. nil: the
	// link looks every MaxIdle.
	Changed func() <-chan struct{}
	// Relay applies a Vipps MobilePay webhook relayed by headquarters (its
	// body, already verified there). The link acknowledges the message once
	// Relay returns nil; an error that wraps [ErrRejected] drops it, any
	// other has it delivered again later. nil: the link does not read the
	// relay.
	Relay func(ctx context.Context, body []byte) error
	// Refunds connect refunds across the chain (refund.go); nil: none.
	Refunds *RefundHooks
	// Act answers a remote technician action headquarters asked for
	// (actions.go; wire/action.go); ctx ends when the link stops. nil:
	// the link takes no actions.
	Act func(ctx context.Context, req wire.ActionRequest) wire.ActionReply
	// ConfigLayer takes the newest value of one of the box's keys of
	// headquarters' configuration (config.go): at each connect and each
	// change, whenever its revision differs from the last one handed
	// over. An empty value is an empty layer (a key deleted, purged, or
	// never set: revision 0). A heartbeat follows at once. nil: the link
	// does not read the configuration.
	ConfigLayer func(key string, revision uint64, value []byte)

	// MSN is the sales unit whose access token [Link.Token] asks
	// headquarters for (token.go); "": the box asks none.
	MSN string

	// MaxIdle bounds the wait for a new event without a notification.
	// Default 30 s.
	MaxIdle time.Duration
	// MarkEvery and MarkAfter batch the writes of the shipped mark: one
	// write per MarkEvery acknowledgements, or MarkAfter after the first
	// one not written. Default 100 and 200 ms.
	MarkEvery int
	MarkAfter time.Duration
	// RetryMin and RetryMax bound the back-off of reconnecting and of
	// resuming after an error. Default 500 ms and 30 s.
	RetryMin, RetryMax time.Duration
	// Timeout bounds one request to headquarters (a publish's
	// acknowledgement, a read). Default 10 s.
	Timeout time.Duration

	Logger *slog.Logger // nil: discard
}

// ErrRejected marks an error of [Options.Relay] that a later delivery would
// not change: the message is dropped.
var ErrRejected = errors.New("relayed message rejected")

func (o Options) withDefaults() (Options, error) {
	if err := o.Check(); err != nil {
		return o, err
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.MaxIdle <= 0 {
		o.MaxIdle = 30 * time.Second
	}
	if o.MarkEvery <= 0 {
		o.MarkEvery = 100
	}
	if o.MarkAfter <= 0 {
		o.MarkAfter = 200 * time.Millisecond
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 500 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(30*time.Second, o.RetryMin)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Schemes are the URL schemes of [Options.Servers].
var Schemes = []string{"nats", "tls", "ws", "wss"}

// Check reports the first thing in o that a link cannot work with. It
// never looks at the disk or the network.
func (o Options) Check() error {
	if err := o.Till.Check(); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	if len(o.Servers) == 0 {
		return errors.New("fleet: no server")
	}
	for _, s := range o.Servers {
		if reason := CheckServer(s, o.CAFile != ""); reason != "" {
			return fmt.Errorf("fleet: server %s", reason)
		}
	}
	n := 0
	for _, set := range []bool{o.CredsFile != "", o.NKeyFile != "", o.User != "" || o.Password != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return errors.New("fleet: no credentials: a creds file, an nkey seed file, or a user and password")
	case n > 1:
		return errors.New("fleet: more than one kind of credentials: keep one of the creds file, the nkey seed file, and the user and password")
	case o.User != "" && o.Password == "":
		return errors.New("fleet: a user without a password")
	case o.User == "" && o.Password != "":
		return errors.New("fleet: a password without a user")
	}
	return nil
}

// CheckServer returns why raw is not a server URL the link may use, or "".
// Plain nats:// and ws:// carry the box's credentials and its sales in
// clear text: only to loopback, unless tlsRoots (the link then requires
// TLS on nats://).
func CheckServer(raw string, tlsRoots bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Sprintf("%q is not a URL like tls://hq.example.com:4222 or wss://hq.example.com", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	known := false
	for _, s := range Schemes {
		known = known || scheme == s
	}
	switch {
	case !known:
		return fmt.Sprintf("%q: the scheme is not nats, tls, ws or wss", raw)
	case u.User != nil:
		return fmt.Sprintf("%q holds a user name or password: give the credentials in their own settings", redactURL(u))
	case u.Path != "" && u.Path != "/" && scheme != "ws" && scheme != "wss":
		return fmt.Sprintf("%q has a path: only a WebSocket URL (ws, wss) may", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Sprintf("%q has a query or a fragment", raw)
	case scheme == "ws" && !loopback(u.Hostname()):
		return fmt.Sprintf("%q: plain ws:// would carry the box's credentials and sales in clear text; use wss://, or ws:// only to loopback", raw)
	case scheme == "nats" && !tlsRoots && !loopback(u.Hostname()):
		return fmt.Sprintf("%q: plain nats:// would carry the box's credentials and sales in clear text; use tls:// (or set the CA file, which makes nats:// use TLS), or nats:// only to loopback", raw)
	}
	return ""
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
