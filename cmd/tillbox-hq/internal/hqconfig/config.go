// Package hqconfig is the configuration file of tillbox-hq: one TOML file
// with the chain's id, the NATS servers and credentials, PostgreSQL, the
// HTTP listener and the sales units whose webhooks headquarters relays.
// [Example] prints a commented file with every key.
//
// [Load] reads a file strictly: an unknown key, a value of the wrong type
// and every rule [Config.Validate] checks is reported, all at once, naming
// the field. Secrets (nats.password, postgres.dsn, unit.webhook_secret) are
// [epayment.Secret]s, shown as "[redacted]" everywhere; each comes from the
// environment, its <key>_file or the key itself, first that is set.
package hqconfig

import (
	_ "embed"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// DefaultPath is where tillbox-hq looks for its configuration file.
const DefaultPath = "/etc/tillbox-hq/hq.toml"

//go:embed example.toml
var example string

// Example is a commented configuration file with every key.
func Example() string { return example }

// Config is the configuration of headquarters.
type Config struct {
	HQ       HQ       `toml:"hq"`
	NATS     NATS     `toml:"nats"`
	Postgres Postgres `toml:"postgres"`
	HTTP     HTTP     `toml:"http"`
	Log      Log      `toml:"log"`
	Units    []Unit   `toml:"unit"`
	Users    []User   `toml:"user"`
	Alerts   Alerts   `toml:"alerts"`
	Vipps    Vipps    `toml:"vipps"` // the token broker's Vipps MobilePay host (tokens.go)
	Recon    Recon    `toml:"recon"` // the reconciliation against the settlement ledger (recon.go)

	// Warnings are doubtful but working settings.
	Warnings []string `toml:"-"`
}

// HQ is the [hq] section.
type HQ struct {
	Chain             string   `toml:"chain"`
	TimeZone          string   `toml:"time_zone"`
	HeartbeatInterval Duration `toml:"heartbeat_interval"`
	ShutdownTimeout   Duration `toml:"shutdown_timeout"`
}

// NATS is the [nats] section.
type NATS struct {
	Servers       []string        `toml:"servers"`
	User          string          `toml:"user"`
	Password      epayment.Secret `toml:"password"`
	PasswordFile  string          `toml:"password_file"`
	CredsFile     string          `toml:"creds_file"`
	CAFile        string          `toml:"ca_file"`
	Replicas      int             `toml:"replicas"`
	JournalMaxAge Duration        `toml:"journal_max_age"`
	RelayMaxAge   Duration        `toml:"relay_max_age"`
}

// Postgres is the [postgres] section.
type Postgres struct {
	DSN     epayment.Secret `toml:"dsn"`
	DSNFile string          `toml:"dsn_file"`
}

// HTTP is the [http] section.
type HTTP struct {
	Listen   string `toml:"listen"`
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// Hosts are the names the fleet page is reached by (besides the
	// listener's addresses and localhost); other Host headers are refused.
	Hosts []string `toml:"hosts"`
	// SecureCookies marks the fleet page's session cookie Secure: set it
	// when a TLS proxy is in front.
	SecureCookies bool `toml:"secure_cookies"`
}

// Log is the [log] section.
type Log struct {
	Level string `toml:"level"`
}

// Unit is one [[unit]]: a sales unit whose webhooks come to headquarters.
type Unit struct {
	MSN               string          `toml:"msn"`
	WebhookURL        string          `toml:"webhook_url"`
	WebhookSecret     epayment.Secret `toml:"webhook_secret"`
	WebhookSecretFile string          `toml:"webhook_secret_file"`
	UnitTokens                        // the token broker's credentials of the unit (tokens.go)
}

// User is one [[user]]: a person who may log in to the fleet page.
type User struct {
	Name string `toml:"name"`
	// PasswordHash is the argon2id hash of the password (as `tillbox
	// passwd` makes it).
	PasswordHash     epayment.Secret `toml:"password_hash"`
	PasswordHashFile string          `toml:"password_hash_file"`
}

// Default is the configuration before the file is read.
func Default() *Config {
	return &Config{
		HQ: HQ{TimeZone: "Europe/Oslo", HeartbeatInterval: Duration(10 * time.Second),
			ShutdownTimeout: Duration(15 * time.Second)},
		NATS: NATS{Servers: []string{"nats://127.0.0.1:4222"}, Replicas: 1,
			JournalMaxAge: Duration(30 * 24 * time.Hour), RelayMaxAge: Duration(7 * 24 * time.Hour)},
		HTTP:   HTTP{Listen: "127.0.0.1:8080"},
		Log:    Log{Level: "info"},
		Alerts: DefaultAlerts(),
		Vipps:  Vipps{BaseURL: epayment.ProductionBaseURL},
		Recon:  DefaultRecon(),
	}
}

// Location is the chain's time zone.
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.HQ.TimeZone)
	if err != nil {
		return time.UTC // Validate refused it already
	}
	return loc
}

// LogLevel is log.level as a slog level.
func (c *Config) LogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.Log.Level)) // Validate checked it
	return l
}

// Unit returns the sales unit msn, if configured.
func (c *Config) Unit(msn string) (Unit, bool) {
	for _, u := range c.Units {
		if u.MSN == msn {
			return u, true
		}
	}
	return Unit{}, false
}

// Validate returns every problem of c.
func (c *Config) Validate() []Problem {
	var ps []Problem
	fail := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if err := wire.CheckID("chain", c.HQ.Chain); err != nil {
		fail("hq.chain", "%v", err)
	}
	if _, err := time.LoadLocation(c.HQ.TimeZone); err != nil || c.HQ.TimeZone == "" {
		fail("hq.time_zone", "%q is not a time zone (e.g. Europe/Oslo)", c.HQ.TimeZone)
	}
	if c.HQ.HeartbeatInterval.D() < time.Second {
		fail("hq.heartbeat_interval", "at least 1s")
	}
	if c.HQ.ShutdownTimeout.D() < time.Second {
		fail("hq.shutdown_timeout", "at least 1s")
	}
	ps = append(ps, c.NATS.validate()...)
	ps = append(ps, c.Alerts.validate()...)
	ps = append(ps, c.Recon.validate()...)
	if c.Postgres.DSN == "" {
		fail("postgres.dsn", "missing: set dsn_file, TILLBOX_HQ_POSTGRES_DSN or dsn")
	}
	if c.HTTP.Listen == "" {
		fail("http.listen", "missing")
	}
	if (c.HTTP.CertFile == "") != (c.HTTP.KeyFile == "") {
		fail("http.cert_file", "set cert_file and key_file together")
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Log.Level)); err != nil {
		fail("log.level", "%q: use debug, info, warn or error", c.Log.Level)
	}
	seen := map[string]bool{}
	for i, u := range c.Units {
		f := fmt.Sprintf("unit[%d].", i)
		if u.MSN == "" || strings.ContainsAny(u.MSN, "./*> \t") || len(u.MSN) > 40 {
			fail(f+"msn", "%q: the sales unit's number (MSN)", u.MSN)
		} else if seen[u.MSN] {
			fail(f+"msn", "%s appears twice", u.MSN)
		}
		seen[u.MSN] = true
		if p, err := url.Parse(u.WebhookURL); err != nil || p.Host == "" || (p.Scheme != "https" && p.Scheme != "http") {
			fail(f+"webhook_url", "the absolute URL registered with Vipps MobilePay")
		}
		if u.WebhookSecret == "" {
			fail(f+"webhook_secret", "missing: set webhook_secret_file, %s or webhook_secret", unitEnv(u.MSN))
		}
	}
	ps = append(ps, c.validateTokens()...) // the token broker (tokens.go)
	names := map[string]bool{}
	for i, u := range c.Users {
		f := fmt.Sprintf("user[%d].", i)
		if u.Name == "" || names[u.Name] {
			fail(f+"name", "%q: a name, once", u.Name)
		}
		names[u.Name] = true
		if !strings.HasPrefix(u.PasswordHash.Reveal(), "$argon2id$") {
			fail(f+"password_hash", "missing or not an argon2id hash: make one with `tillbox-hq passwd`")
		}
	}
	return ps
}

func (n *NATS) validate() []Problem {
	var ps []Problem
	fail := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if len(n.Servers) == 0 {
		fail("nats.servers", "name at least one server")
	}
	for _, s := range n.Servers {
		if u, err := url.Parse(s); err != nil || u.Host == "" {
			fail("nats.servers", "%q is not a URL like nats://host:4222", s)
		}
	}
	if n.CredsFile != "" && (n.User != "" || n.Password != "") {
		fail("nats.creds_file", "use either creds_file or user and password")
	}
	if n.User != "" && n.Password == "" {
		fail("nats.password", "missing: set password_file, TILLBOX_HQ_NATS_PASSWORD or password")
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		fail("nats.replicas", "1 to 5 (3 on a cluster, 1 on a single server)")
	}
	if n.JournalMaxAge.D() < time.Hour {
		fail("nats.journal_max_age", "at least 1h: events not yet at headquarters must stay")
	}
	if n.RelayMaxAge.D() < time.Minute {
		fail("nats.relay_max_age", "at least 1m")
	}
	return ps
}

// Problem is one thing wrong with the configuration.
type Problem struct {
	Field, Reason string
}

func (p Problem) String() string { return p.Field + ": " + p.Reason }

// Error is every problem of a configuration file.
type Error struct {
	Path     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s)", e.Path, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// Duration is a time.Duration written as "10s" or "720h".
type Duration time.Duration

// D is d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalText reads "10s", "720h" and the like.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 10s or 720h", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d as time.Duration does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.D().String()), nil }
