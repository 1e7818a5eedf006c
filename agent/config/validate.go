package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/device"
)

// hostName is a DNS name, without a final dot or with one.
var hostName = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)

// Problem is one thing wrong (or doubtful) in a configuration: the field in
// dotted form ("vipps.client_id", "scanner[2].baud"; scanners count from 1),
// why, and the line of the file when known. A Reason never holds a secret.
type Problem struct {
	Field  string
	Reason string
	Line   int    // 0 when unknown
	File   string // the technician page's overlay when the problem is there; empty: the configuration file
}

// String is "FIELD: REASON", followed by " (line N)" when the line is
// known, or " (in FILE, line N)" when the problem is in the overlay.
func (p Problem) String() string {
	s := p.Field + ": " + p.Reason
	switch {
	case p.File != "" && p.Line > 0:
		s += " (in " + p.File + ", line " + strconv.Itoa(p.Line) + ")"
	case p.File != "":
		s += " (in " + p.File + ")"
	case p.Line > 0:
		s += " (line " + strconv.Itoa(p.Line) + ")"
	}
	return s
}

// Error is every problem of a configuration that cannot be used.
type Error struct {
	File     string // empty when the configuration did not come from a file
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.File != "" {
		b.WriteString(" " + e.File)
	}
	if len(e.Problems) == 1 {
		return b.String() + ": " + e.Problems[0].String()
	}
	fmt.Fprintf(&b, ": %d problems", len(e.Problems))
	for i, p := range e.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

var (
	tillPattern      = regexp.MustCompile(`^[a-zA-Z0-9-]{1,20}$`)
	refPrefixPattern = regexp.MustCompile(`^[a-zA-Z0-9-]{1,40}$`)
	msnPattern       = regexp.MustCompile(`^[0-9]{4,10}$`)
	guidPattern      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// Languages are the languages of the customer display.
var Languages = []string{"nb", "da", "fi", "en"}

// Validate checks every rule of the configuration and returns all that are
// broken as an [*Error], or nil. It never looks at the disk or the network.
func (c *Config) Validate() error {
	errs, _ := c.check()
	if len(errs) == 0 {
		return nil
	}
	return &Error{File: c.File, Problems: errs}
}

// checker gathers the problems and the warnings of one configuration.
type checker struct {
	c           *Config
	errs, warns []Problem
}

func (k *checker) add(field, format string, a ...any) {
	k.errs = append(k.errs, Problem{Field: field, Reason: fmt.Sprintf(format, a...), Line: k.c.lines[field]})
}

func (k *checker) warn(field, format string, a ...any) {
	k.warns = append(k.warns, Problem{Field: field, Reason: fmt.Sprintf(format, a...), Line: k.c.lines[field]})
}

// between adds a problem when d is not from lo to hi.
func (k *checker) between(field string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		k.add(field, "%s is out of range: use %s to %s", d, Duration(lo), Duration(hi))
	}
}

// check returns the problems and the warnings of the configuration.
func (c *Config) check() (errs, warns []Problem) {
	k := &checker{c: c}
	k.box()
	c.checkVipps(k.add)
	k.sales()
	k.sync()
	k.pos()
	k.store()
	k.log()
	k.servers()
	k.tls()
	k.consolePassword()
	c.checkAddresses(k.add)
	c.Scan.check(k.add, k.warn)
	k.scanners()
	k.fleet() // fleet.go
	return k.errs, k.warns
}

// box checks [box].
func (k *checker) box() {
	b := &k.c.Box
	if !tillPattern.MatchString(b.Till) {
		k.add("box.till", "%q: use 1 to 20 letters, digits or dashes", b.Till)
	}
	if strings.TrimSpace(b.DataDir) == "" {
		k.add("box.data_dir", "missing: the directory of the database, e.g. /var/lib/tillbox")
	}
	if _, ok := epayment.MinAmount(epayment.Currency(b.Currency)); !ok {
		k.add("box.currency", "%q is not NOK, DKK or EUR (the sales unit's currency, in capitals)", b.Currency)
	}
	k.between("box.shutdown_timeout", b.ShutdownTimeout, time.Second, 10*time.Minute)
	for i, h := range b.Hosts {
		if !hostName.MatchString(h) {
			k.add(fmt.Sprintf("box.hosts[%d]", i+1), "%q is not a host name (letters, digits, dashes and dots, e.g. \"till7.shop.lan\"; no scheme, port or address: the box's addresses are allowed anyway)", h)
		}
	}
}

// sales checks [sales].
func (k *checker) sales() {
	s := &k.c.Sales
	k.between("sales.customer_present_window", s.CustomerPresentWindow, time.Second, 10*time.Minute)
	k.between("sales.scan_window", s.ScanWindow, time.Second, 10*time.Minute)
	if s.Capture != "auto" && s.Capture != "manual" {
		k.add("sales.capture", "%q is not \"auto\" or \"manual\"", s.Capture)
	}
	if s.MaxQueued < 1 || s.MaxQueued > 1_000_000 {
		k.add("sales.max_queued", "%d is out of range: use 1 to 1000000", s.MaxQueued)
	}
	k.between("sales.max_queue_age", s.MaxQueueAge, time.Minute, 30*24*time.Hour)
	if s.ReferencePrefix != "" && !refPrefixPattern.MatchString(s.ReferencePrefix) {
		k.add("sales.reference_prefix", "%q: use 1 to 40 letters, digits or dashes", s.ReferencePrefix)
	}
	if n := len([]rune(s.DefaultDescription)); n < 3 || n > 100 {
		k.add("sales.default_description", "is %d characters long: use 3 to 100", n)
	}
}

// sync checks [sync], and warns of polling the real Vipps MobilePay too often.
func (k *checker) sync() {
	y := &k.c.Sync
	k.between("sync.poll_delay", y.PollDelay, time.Millisecond, time.Minute)
	k.between("sync.poll_every", y.PollEvery, time.Millisecond, time.Minute)
	k.between("sync.retry_base", y.RetryBase, time.Millisecond, time.Minute)
	k.between("sync.retry_max", y.RetryMax, time.Millisecond, time.Hour)
	if y.RetryMax < y.RetryBase {
		k.add("sync.retry_max", "%s is shorter than sync.retry_base (%s)", y.RetryMax, y.RetryBase)
	}
	if y.Workers < 1 || y.Workers > 64 {
		k.add("sync.workers", "%d is out of range: use 1 to 64", y.Workers)
	}
	if k.c.real() {
		for _, f := range []struct {
			field string
			d     Duration
		}{{"sync.poll_delay", y.PollDelay}, {"sync.poll_every", y.PollEvery}} {
			if f.d.D() < time.Second {
				k.warn(f.field, "%s: polling Vipps MobilePay more often than every second risks its rate limits; it advises 5s after the request, then every 2s", f.d)
			}
		}
	}
}

// pos checks [pos]: its address and its bearer token.
func (k *checker) pos() {
	listen(k.add, "pos.listen", k.c.POS.Listen, true)
	switch t := k.c.POS.Token.Reveal(); {
	case t == "":
		k.add("pos.token", "missing: the cash register's bearer token (make one with `openssl rand -hex 24`), or pos.token_file, or TILLBOX_POS_TOKEN")
	case len(t) < 16:
		k.add("pos.token", "is %d characters long: use at least 16 (make one with `openssl rand -hex 24`)", len(t))
	case strings.IndexFunc(t, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		k.add("pos.token", "holds a space, a control character or a non-ASCII character: a bearer token must be plain ASCII")
	case k.c.real() && t == exampleToken:
		k.add("pos.token", "is still the example's placeholder: make one with `openssl rand -hex 24`")
	}
}

// store checks [store].
func (k *checker) store() {
	st := &k.c.Store
	k.between("store.retention", st.Retention, time.Hour, 10*365*24*time.Hour)
	if st.EventRetention != 0 {
		k.between("store.event_retention", st.EventRetention, time.Hour, 10*365*24*time.Hour)
	}
	k.between("store.lock_timeout", st.LockTimeout, time.Millisecond, time.Minute)
}

// log checks [log].
func (k *checker) log() {
	l := &k.c.Log
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		k.add("log.level", "%q is not debug, info, warn or error", l.Level)
	}
	if l.Format != "text" && l.Format != "json" {
		k.add("log.format", "%q is not text or json", l.Format)
	}
}

// servers checks [metrics], [display] and [console] (but the password: see
// consolePassword).
func (k *checker) servers() {
	c := k.c
	if c.Metrics.Listen != "" {
		listen(k.add, "metrics.listen", c.Metrics.Listen, true)
		if !c.Metrics.Enabled {
			k.warn("metrics.listen", "%q is not listened on: metrics.enabled is false", c.Metrics.Listen)
		}
	}
	if c.Display.Listen != "" {
		listen(k.add, "display.listen", c.Display.Listen, true)
	}
	if !slices.Contains(Languages, c.Display.Language) {
		k.add("display.language", "%q is not one of %s", c.Display.Language, strings.Join(Languages, ", "))
	}
	if c.Console.Listen != "" {
		listen(k.add, "console.listen", c.Console.Listen, true)
	}
}

// tls checks [tls].
func (k *checker) tls() {
	switch t := k.c.TLS; t.Mode {
	case TLSOff, TLSSelfSigned:
		for _, f := range []struct{ field, v string }{{"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile}} {
			if f.v != "" {
				k.add(f.field, "is set but tls.mode is %q: set mode = \"files\" to use it, or remove it", t.Mode)
			}
		}
	case TLSFiles:
		for _, f := range []struct{ field, v, what string }{{"tls.cert_file", t.CertFile, "certificate"}, {"tls.key_file", t.KeyFile, "private key"}} {
			if f.v == "" {
				k.add(f.field, "missing: tls.mode = \"files\" needs the PEM file of the %s", f.what)
			} else if !filepath.IsAbs(f.v) {
				k.add(f.field, "%q is not an absolute path", f.v)
			}
		}
	default:
		k.add("tls.mode", "%q is not off, self-signed or files", t.Mode)
	}
}

// consolePassword checks console.password_hash: a hash, never a password.
func (k *checker) consolePassword() {
	if h := k.c.Console.PasswordHash.Reveal(); h != "" && (!strings.HasPrefix(h, "$") || len(h) < 20 || strings.ContainsAny(h, " \t\r\n")) {
		k.add("console.password_hash", "is not a password hash in crypt form ($argon2id$…, $2b$…): make one with `tillbox passwd`; never write the password itself")
	}
}

// scanners checks each [[scanner]], and that no two share a name or a device.
func (k *checker) scanners() {
	names := map[string]int{}
	matches := map[string]int{}
	for i := range k.c.Scanners {
		sc := &k.c.Scanners[i]
		p := fmt.Sprintf("scanner[%d]", i+1)
		sc.validate(p, func(field, format string, a ...any) { k.add(field, format, a...) })
		if j, dup := names[sc.Name]; dup && sc.Name != "" {
			k.add(p+".name", "%q is also the name of scanner[%d]", sc.Name, j)
		}
		names[sc.Name] = i + 1
		// A device with a HID interface and a serial port (CDC-ACM) beside
		// it, as many scanners have, may be named by both drivers.
		if m, err := device.ParseMatch(sc.Match); err == nil {
			key := sc.Driver + " " + m.String()
			if j, dup := matches[key]; dup {
				k.add(p+".match", "%q also matches scanner[%d]: one device cannot be read twice", sc.Match, j)
			}
			matches[key] = i + 1
		}
	}
}

// real reports whether the configuration talks to the real Vipps MobilePay
// (test or production) rather than a simulator.
func (c *Config) real() bool { return c.Vipps.Environment != "" }

func (c *Config) checkVipps(add func(field, format string, a ...any)) {
	v := &c.Vipps
	switch {
	case v.Environment == "" && v.BaseURL == "":
		add("vipps.environment", "missing: set \"test\" or \"production\", or vipps.base_url for a simulator")
	case v.Environment != "" && v.BaseURL != "":
		add("vipps.base_url", "set together with vipps.environment: keep one (base_url is for a simulator)")
	case v.Environment != "" && v.Environment != "test" && v.Environment != "production":
		add("vipps.environment", "%q is not \"test\" or \"production\"", v.Environment)
	case v.BaseURL != "":
		if reason := checkURL(v.BaseURL, true); reason != "" {
			add("vipps.base_url", "%s", reason)
		}
	}

	// Values of this section are never echoed: a secret pasted into the
	// wrong key must not end up in a log.
	own := c.checkTokenSource(add) // token_source.go
	switch {
	case v.ClientID == "" && !own:
	case v.ClientID == "":
		add("vipps.client_id", "missing: the client_id of the sales unit (business portal, For developers)")
	case !guidPattern.MatchString(v.ClientID):
		add("vipps.client_id", "is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) as the business portal gives it")
	case c.real() && v.ClientID == exampleClientID:
		add("vipps.client_id", "is still the example's simulator placeholder: copy the sales unit's client_id from the business portal (For developers)")
	}
	secret := func(field string, value epayment.Secret, placeholder, what string) {
		s := value.Reveal()
		switch {
		case s == "" && field == "vipps.client_secret" && !own:
		case s == "" && field == "vipps.client_secret" && !c.FleetOn():
			add(field, "missing: the client_secret of the sales unit (business portal, For developers), or client_secret_file, or %s; or turn on the link to headquarters ([fleet]) and let headquarters' token broker give the access token (token_source = \"auto\" or \"hq\")", envName(field))
		case s == "":
			add(field, "missing: the %s of the sales unit (business portal, For developers), or %s_file, or %s", what, field[len("vipps."):], envName(field))
		case strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 || strings.TrimSpace(s) != s:
			add(field, "holds white space at an end or a control character: copy the %s again", what)
		case c.real() && s == placeholder:
			add(field, "is still the example's simulator placeholder: copy the sales unit's %s from the business portal (For developers)", what)
		}
	}
	secret("vipps.client_secret", v.ClientSecret, exampleClientSecret, "client_secret")
	secret("vipps.subscription_key", v.SubscriptionKey, exampleSubscriptionKey, "subscription key")
	switch {
	case v.MSN == "":
		add("vipps.msn", "missing: the merchant serial number of the sales unit (4 to 10 digits)")
	case !msnPattern.MatchString(v.MSN):
		add("vipps.msn", "is not 4 to 10 digits (the merchant serial number of the sales unit)")
	}

	switch {
	case v.WebhookURL == "" && v.WebhookSecret == "":
	case v.WebhookURL == "":
		add("vipps.webhook_url", "missing while vipps.webhook_secret is set: set both or neither")
	case v.WebhookSecret == "":
		add("vipps.webhook_secret", "missing while vipps.webhook_url is set: set both (the secret the webhook registration answered) or neither")
	default:
		if reason := checkURL(v.WebhookURL, !c.real()); reason != "" {
			add("vipps.webhook_url", "%s", reason)
		}
	}

	if v.Timeout.D() < time.Second || v.Timeout.D() > 5*time.Minute {
		add("vipps.timeout", "%s is out of range: use 1s to 5m", v.Timeout)
	}
	for _, h := range []struct{ field, v string }{
		{"vipps.system_name", v.SystemName}, {"vipps.system_version", v.SystemVersion},
		{"vipps.plugin_name", v.PluginName}, {"vipps.plugin_version", v.PluginVersion},
	} {
		if len(h.v) > 30 {
			add(h.field, "is %d characters long: Vipps allows at most 30", len(h.v))
		}
	}
}

// checkURL returns why raw is not a usable base or webhook URL, or "". Plain
// http is allowed only to loopback, and only when allowHTTP (a simulator).
func checkURL(raw string, allowHTTP bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Sprintf("%q is not an absolute http(s) URL", raw)
	}
	if u.User != nil {
		return "must not hold a user name or password"
	}
	if u.Fragment != "" {
		return fmt.Sprintf("%q has a #fragment", raw)
	}
	if u.Scheme == "http" {
		if !allowHTTP {
			return fmt.Sprintf("%q: Vipps MobilePay needs https", raw)
		}
		if !loopback(u.Hostname()) {
			return fmt.Sprintf("%q: plain http would carry credentials unencrypted; use https, or http only to a simulator on loopback (127.0.0.1)", raw)
		}
	}
	return ""
}

// listen adds a problem when addr is not a host:port to listen on.
func listen(add func(field, format string, a ...any), field, addr string, portZeroOK bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		add(field, "%q is not HOST:PORT (e.g. \"127.0.0.1:8080\", or \":8080\" for every interface)", addr)
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !portZeroOK) {
		add(field, "%q: port %q is not a number from 1 to 65535", addr, port)
	}
	if strings.ContainsAny(host, " /") {
		add(field, "%q: %q is not a host name or IP address", addr, host)
	}
}

// checkAddresses refuses two servers on one address.
func (c *Config) checkAddresses(add func(field, format string, a ...any)) {
	seen := map[string]string{}
	for _, a := range []struct{ field, addr string }{
		{"pos.listen", c.POS.Listen}, {"metrics.listen", c.Metrics.Listen},
		{"display.listen", c.Display.Listen}, {"console.listen", c.Console.Listen},
	} {
		if a.addr == "" || strings.HasSuffix(a.addr, ":0") {
			continue
		}
		if other, ok := seen[a.addr]; ok {
			add(a.field, "%q is also %s: give each its own port", a.addr, other)
			continue
		}
		seen[a.addr] = a.field
	}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
