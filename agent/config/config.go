// Package config is the configuration file of a till box: one TOML file
// (by default /etc/tillbox/tillbox.toml) with the sales unit's Vipps
// MobilePay keys, the sale rules, the local API, the store, the scanners and
// the pages. [Example] prints a commented file with every key.
//
// [Load] reads a file strictly: an unknown key, a value of the wrong type and
// every rule [Config.Validate] checks is reported, all at once, as an
// [*Error] naming each field ("vipps.client_id") and the reason, with the
// line where it can be found. Doubtful but working settings (a file with
// secrets that every user can read) are warnings in [Config.Warnings].
//
// Secrets (client_secret, subscription_key, webhook_secret, the POS token,
// the technician password hash) are [epayment.Secret]s: they print as
// "[redacted]" everywhere, including [Config.String] and every error. Each
// can come from three places; the first that is set wins:
//
//  1. the environment variable TILLBOX_<SECTION>_<KEY>, e.g.
//     TILLBOX_VIPPS_CLIENT_SECRET or TILLBOX_POS_TOKEN (systemd's
//     Environment= or EnvironmentFile=);
//  2. the file named by <key>_file, e.g. client_secret_file (surrounding
//     white space and the final newline are dropped; a relative path is
//     relative to the configuration file's directory);
//  3. the key itself in the configuration file.
//
// Setting both <key> and <key>_file in the file is an error.
//
// The technician page never writes the configuration file (it is
// read-only to the service's user): [Config.Save] writes the page's
// settings to an overlay, <box.data_dir>/settings.toml (overlay.go), which
// Load lays over the file. The overlay may hold only the page's keys
// ([PageKeys] and [[scanner]] tables); a secret there wins over the file's
// and its <key>_file, and an environment variable still wins over both.
//
// With the link to headquarters on, headquarters' layers for the chain,
// the store and the till (layers.go), as the box kept them in its data
// folder, lie between the file and the overlay: file < chain < store <
// till < overlay < environment < command line.
//
// Only cmd/tillbox imports this package; it converts a Config into the
// options of the agent, the ePayment client and the store, and its
// [[scanner]] entries into the drivers' device.Specs ([Specs]).
package config

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/store"
)

// DefaultPath is where tillbox looks for its configuration file.
const DefaultPath = "/etc/tillbox/tillbox.toml"

// DBFile is the name of the database file in the data directory.
const DBFile = "tillbox.db"

// Config is the configuration of one till box.
type Config struct {
	Box      Box       `toml:"box"`
	Vipps    Vipps     `toml:"vipps"`
	Sales    Sales     `toml:"sales"`
	Sync     Sync      `toml:"sync"`
	POS      POS       `toml:"pos"`
	Store    Store     `toml:"store"`
	Log      Log       `toml:"log"`
	Metrics  Metrics   `toml:"metrics"`
	Display  Display   `toml:"display"`
	Console  Console   `toml:"console"`
	TLS      TLS       `toml:"tls"`
	Fleet    Fleet     `toml:"fleet"`
	Scan     Scan      `toml:"scan"`
	Scanners []Scanner `toml:"scanner"`

	// File is the path the configuration was loaded from, if any.
	File string `toml:"-"`
	// OverlayFile is the technician page's settings laid over File
	// (<box.data_dir>/settings.toml), whether it exists or not; empty
	// when the configuration did not come from a file.
	OverlayFile string `toml:"-"`
	// Warnings are settings that work but deserve a look: a file with
	// secrets that every user can read, polling faster than Vipps advises.
	Warnings []Problem `toml:"-"`

	// inline lists the secrets written in the file itself (not taken from
	// the environment or a file): the permission check needs them.
	inline []string
	// lines maps a field ("vipps.msn", "scanner[1].baud") to its line in
	// the file, as far as a simple scan of the file could tell.
	lines map[string]int
	// sources tells where each secret that is set came from (source.go).
	sources map[string]Source
	// overlaid maps each field the overlay set ("vipps.msn", "scanner")
	// to its line in the overlay.
	overlaid map[string]int
	// layers are headquarters' layers laid over the file, layered the
	// fields they set and from which, layersRefused the kept layers left
	// out (layers.go).
	layers        []Layer
	layered       map[string]Source
	layersRefused []wire.ConfigRefusal
}

// Box is the [box] section: this till and where it keeps its data.
type Box struct {
	// Till identifies the till in the sales unit: 1 to 20 letters, digits
	// or dashes. It goes into generated references.
	Till string `toml:"till"`
	// DataDir holds the database (tillbox.db) and its backups' default home.
	DataDir string `toml:"data_dir"`
	// Currency of the sales unit: NOK, DKK or EUR.
	Currency string `toml:"currency"`
	// ShutdownTimeout bounds a graceful stop: in-flight requests finish and
	// the agent parks its commands within it.
	ShutdownTimeout Duration `toml:"shutdown_timeout"` // Hosts are the names (besides its addresses, localhost and its host
	// name) the box answers to on the customer display and the technician
	// page: a browser asking for any other is refused (DNS rebinding). They
	// go into the self-made certificate too.
	Hosts []string `toml:"hosts,omitempty"`
}

// Vipps is the [vipps] section: where ePayment is and the sales unit's keys.
type Vipps struct {
	// Environment is "test" (apitest.vipps.no) or "production"
	// (api.vipps.no); BaseURL instead points at a simulator. Exactly one of
	// the two is set.
	Environment string `toml:"environment,omitempty"`
	BaseURL     string `toml:"base_url,omitempty"`

	ClientID            string          `toml:"client_id"`
	ClientSecret        epayment.Secret `toml:"client_secret"`
	ClientSecretFile    string          `toml:"client_secret_file,omitempty"`
	SubscriptionKey     epayment.Secret `toml:"subscription_key"`
	SubscriptionKeyFile string          `toml:"subscription_key_file,omitempty"`
	// MSN is the merchant serial number of the sales unit.
	MSN string `toml:"msn"`
	// TokenSource is where the access token comes from: "box" (the token
	// call with client_id and client_secret), "hq" (headquarters' token
	// broker over [fleet]: no client secret on the box), or "auto": hq
	// when [fleet] is on, falling back on client_secret when one is set;
	// box otherwise. See TokenBroker.
	TokenSource string `toml:"token_source"`

	// WebhookURL is the public HTTPS URL registered with the Webhooks API
	// that reaches this box's POST /webhooks/vipps; WebhookSecret is the
	// secret the registration answered. Both or neither.
	WebhookURL        string          `toml:"webhook_url,omitempty"`
	WebhookSecret     epayment.Secret `toml:"webhook_secret,omitempty"`
	WebhookSecretFile string          `toml:"webhook_secret_file,omitempty"`

	// Timeout bounds one call to Vipps MobilePay.
	Timeout Duration `toml:"timeout"`

	// The Vipps-System-* headers; empty means tillbox and its version.
	SystemName    string `toml:"system_name,omitempty"`
	SystemVersion string `toml:"system_version,omitempty"`
	PluginName    string `toml:"plugin_name,omitempty"`
	PluginVersion string `toml:"plugin_version,omitempty"`
}

// Sales is the [sales] section: the rules of a sale.
type Sales struct {
	// CustomerPresentWindow: a payment request not sent within it is
	// abandoned, never pushed to a customer who has left.
	CustomerPresentWindow Duration `toml:"customer_present_window"`
	// ScanWindow: how long a scan waits for the next sale.
	ScanWindow Duration `toml:"scan_window"`
	// Capture is "auto" (capture once authorised) or "manual" (the POS does).
	Capture string `toml:"capture"`
	// MaxQueued and MaxQueueAge cap the outbox: beyond either, new sales are
	// refused (queued commands are never dropped).
	MaxQueued   int      `toml:"max_queued"`
	MaxQueueAge Duration `toml:"max_queue_age"`
	// ReferencePrefix starts generated references; empty means "tb-<till>".
	ReferencePrefix string `toml:"reference_prefix,omitempty"`
	// DefaultDescription is the payment description of a sale without one.
	DefaultDescription string `toml:"default_description"`
}

// Sync is the [sync] section: how the agent follows up with ePayment.
type Sync struct {
	// PollDelay is the first poll after a payment request, PollEvery the
	// interval after it.
	PollDelay Duration `toml:"poll_delay"`
	PollEvery Duration `toml:"poll_every"`
	// RetryBase and RetryMax bound the back-off of a failed command.
	RetryBase Duration `toml:"retry_base"`
	RetryMax  Duration `toml:"retry_max"`
	// Workers is how many commands are sent at once.
	Workers int `toml:"workers"`
}

// POS is the [pos] section: the local API of the cash register.
type POS struct {
	// Listen is the address of the POS API and the webhook endpoint.
	Listen string `toml:"listen"`
	// Token is the bearer token the cash register sends.
	Token     epayment.Secret `toml:"token"`
	TokenFile string          `toml:"token_file,omitempty"`
}

// Store is the [store] section: the database file.
type Store struct {
	// Retention: finished sales older than this are pruned.
	Retention Duration `toml:"retention"`
	// EventRetention: events older than this are pruned; 0 means Retention.
	EventRetention Duration `toml:"event_retention,omitempty"`
	// LockTimeout: how long to wait for a database another process holds.
	LockTimeout Duration `toml:"lock_timeout"`
}

// Log is the [log] section.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `toml:"level"`
	// Format is text or json.
	Format string `toml:"format"`
}

// Metrics is the [metrics] section: /metrics (Prometheus). The probes
// /healthz and /readyz stay on the POS API's listener whatever it says.
type Metrics struct {
	// Enabled serves /metrics; false serves none (404).
	Enabled bool `toml:"enabled"`
	// Listen is the address of /metrics on a listener of its own (plain
	// HTTP, also with [tls]), and then not beside the POS API; empty serves
	// it beside the POS API.
	Listen string `toml:"listen,omitempty"`
}

// Display is the [display] section: the customer display's pages.
type Display struct {
	// Listen is the address of the display pages; empty turns them off.
	Listen string `toml:"listen"`
	// Language is nb, da, fi or en.
	Language string `toml:"language"`
}

// Console is the [console] section: the technician page.
type Console struct {
	// Listen is the address of the technician page; empty turns it off.
	Listen string `toml:"listen"`
	// PasswordHash is the technician password's hash, made by
	// `tillbox passwd`; empty means a one-time code in
	// <data_dir>/first-boot-code, for someone with the box in hand.
	PasswordHash     epayment.Secret `toml:"password_hash,omitempty"`
	PasswordHashFile string          `toml:"password_hash_file,omitempty"`
}

// TLS is the [tls] section: the certificate of the POS API and the
// technician page (one for both: the box has one identity, one
// fingerprint for a POS to pin). The customer display stays plain HTTP.
type TLS struct {
	// Mode is "off" (plain HTTP), "self-signed" (a certificate the box
	// makes for itself on first start, in the data directory, and keeps)
	// or "files" (CertFile and KeyFile, PEM, the integrator's).
	Mode     string `toml:"mode"`
	CertFile string `toml:"cert_file,omitempty"`
	KeyFile  string `toml:"key_file,omitempty"`
}

// TLS modes.
const (
	TLSOff        = "off"
	TLSSelfSigned = "self-signed"
	TLSFiles      = "files"
)

// Default returns the configuration with every default filled in and no
// credentials.
func Default() *Config {
	return &Config{
		Box: Box{Till: "till1", DataDir: "/var/lib/tillbox", Currency: "NOK", ShutdownTimeout: Duration(15 * time.Second)},
		Vipps: Vipps{
			Timeout:     Duration(30 * time.Second),
			TokenSource: "auto",
		},
		Sales: Sales{
			CustomerPresentWindow: Duration(2 * time.Minute),
			ScanWindow:            Duration(time.Minute),
			Capture:               "auto",
			MaxQueued:             10_000,
			MaxQueueAge:           Duration(24 * time.Hour),
			DefaultDescription:    "Purchase in store",
		},
		Sync: Sync{
			PollDelay: Duration(5 * time.Second),
			PollEvery: Duration(2 * time.Second),
			RetryBase: Duration(time.Second),
			RetryMax:  Duration(time.Minute),
			Workers:   16,
		},
		POS:     POS{Listen: "127.0.0.1:8080"},
		Store:   Store{Retention: Duration(store.DefaultRetention), LockTimeout: Duration(store.DefaultTimeout)},
		Log:     Log{Level: "info", Format: "text"},
		Metrics: Metrics{Enabled: true},
		Display: Display{Listen: "127.0.0.1:8081", Language: "nb"},
		Console: Console{Listen: "127.0.0.1:8082"},
		Scan:    defaultScan(),
		TLS:     TLS{Mode: TLSOff},
		Fleet:   defaultFleet(),
	}
}

// BaseURL is the ePayment host the configuration names.
func (c *Config) BaseURL() string {
	switch c.Vipps.Environment {
	case "test":
		return epayment.TestBaseURL
	case "production":
		return epayment.ProductionBaseURL
	}
	return c.Vipps.BaseURL
}

// DBPath is the database file in the data directory.
func (c *Config) DBPath() string { return filepath.Join(c.Box.DataDir, DBFile) }

// AgentOptions converts the configuration into the agent's options: a scan
// is checked against the [scan] patterns. The caller sets Logger (and
// Clock in tests). It fails only on a configuration Validate refuses.
func (c *Config) AgentOptions() (agent.Options, error) {
	personalQR, err := c.Scan.Classifier()
	if err != nil {
		return agent.Options{}, fmt.Errorf("config: scan.pattern: %w", err)
	}
	return agent.Options{
		CheckScan: func(code string) error {
			_, err := personalQR.Classify(code)
			return err
		},
		Till:                  c.Box.Till,
		MSN:                   c.Vipps.MSN,
		Currency:              epayment.Currency(c.Box.Currency),
		ReferencePrefix:       c.Sales.ReferencePrefix,
		DefaultDescription:    c.Sales.DefaultDescription,
		CustomerPresentWindow: c.Sales.CustomerPresentWindow.D(),
		ScanWindow:            c.Sales.ScanWindow.D(),
		ManualCapture:         c.Sales.Capture == "manual",
		MaxQueued:             c.Sales.MaxQueued,
		MaxQueueAge:           c.Sales.MaxQueueAge.D(),
		PollDelay:             c.Sync.PollDelay.D(),
		PollEvery:             c.Sync.PollEvery.D(),
		RetryBase:             c.Sync.RetryBase.D(),
		RetryMax:              c.Sync.RetryMax.D(),
		Workers:               c.Sync.Workers,
		WebhookURL:            c.Vipps.WebhookURL,
		WebhookSecret:         c.Vipps.WebhookSecret,
		// A third of the stop: requests finish first, the agent's loops
		// stop after, and what is left of the timeout is margin.
		StopGrace: c.Box.ShutdownTimeout.D() / 3,
	}, nil
}

// EPaymentConfig converts the configuration into the ePayment client's. The
// caller sets Logger.
func (c *Config) EPaymentConfig() epayment.Config {
	cfg := epayment.Config{
		BaseURL:         c.BaseURL(),
		ClientID:        c.Vipps.ClientID,
		ClientSecret:    c.Vipps.ClientSecret,
		SubscriptionKey: c.Vipps.SubscriptionKey,
		MSN:             c.Vipps.MSN,
		SystemName:      c.Vipps.SystemName,
		SystemVersion:   c.Vipps.SystemVersion,
		PluginName:      c.Vipps.PluginName,
		PluginVersion:   c.Vipps.PluginVersion,
	}
	if t := c.Vipps.Timeout.D(); t > 0 {
		cfg.HTTPClient = &http.Client{Timeout: t}
	}
	return cfg
}

// StoreOptions converts the configuration into the store's options. The
// caller sets Logger.
func (c *Config) StoreOptions() store.Options {
	return store.Options{
		Timeout:        c.Store.LockTimeout.D(),
		Retention:      c.Store.Retention.D(),
		EventRetention: c.Store.EventRetention.D(),
	}
}

// Overrides are settings given on the command line; each one that is set
// replaces the file's.
type Overrides struct {
	Listen   string    // pos.listen
	DataDir  string    // box.data_dir
	BaseURL  string    // vipps.base_url; clears vipps.environment
	Scanners []Scanner // replace every [[scanner]] (see ParseScanner)
}

// Override applies o and validates the result as Load does. Problems of an
// overridden field carry no line: the value did not come from the file.
func (c *Config) Override(o Overrides) error {
	forget := func(prefix string) {
		for k := range c.lines {
			if k == prefix || strings.HasPrefix(k, prefix+".") || strings.HasPrefix(k, prefix+"[") {
				delete(c.lines, k)
			}
		}
	}
	if o.Listen != "" {
		c.POS.Listen = o.Listen
		forget("pos.listen")
	}
	if o.DataDir != "" {
		c.Box.DataDir = o.DataDir
		forget("box.data_dir")
	}
	if o.BaseURL != "" {
		c.Vipps.BaseURL, c.Vipps.Environment = o.BaseURL, ""
		forget("vipps.base_url")
		forget("vipps.environment")
	}
	if o.Scanners != nil {
		c.Scanners = make([]Scanner, len(o.Scanners))
		for i, s := range o.Scanners {
			c.Scanners[i] = s.withDefaults(i + 1)
		}
		forget(scannerKey)
	}
	return c.Validate()
}
