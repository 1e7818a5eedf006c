package technician

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Settings are the settings of the box the page changes: cmd/tillbox keeps
// them in an overlay in the data folder, laid over the configuration file
// (which the service never writes), validates them with the
// configuration's rules, and applies what can change while the box runs.
type Settings interface {
	// Load returns the settings as the configuration file and the
	// overlay have them. The
	// new-secret fields are empty; Secrets says which are set and where
	// from.
	Load() (SettingsValues, error)
	// Save validates v and, when every rule holds, writes it and applies
	// what can change live. Problems name the fields that broke a rule;
	// nothing is written then.
	Save(v SettingsValues) (SaveResult, error)
	// SetPassword stores the technician password's hash (HashPassword).
	SetPassword(hash string) error
}

// SettingsValues are the settings on the page, as text.
type SettingsValues struct {
	// Environment is "test", "production" or "simulator" (BaseURL).
	Environment string
	BaseURL     string
	MSN         string
	ClientID    string
	// ClientSecret and SubscriptionKey are new values; empty keeps the
	// current ones. Load never fills them.
	ClientSecret    string
	SubscriptionKey string
	// Secrets say, for the page, whether each secret is set and where
	// from. Never the value.
	Secrets               []SecretState
	Language              string
	Languages             []string // to choose from
	CustomerPresentWindow string   // a duration: "2m", "90s"
	Scanners              []ScannerValues
	File                  string   // the configuration file (never written by the page)
	OverlayFile           string   // where the page saves: <data_dir>/settings.toml
	FromPage              []string // the fields whose value was set on this page ("vipps.msn", "scanner")
	Overridden            []string
	// From says where the value of each field on the page comes from:
	// "vipps.msn": "the configuration file", "the technician page",
	// "headquarters, the store's layer (acme.store.oslo-1, revision 5)"…
	// ("scanner" for the scanners, "vipps.environment" for the address).
	From map[string]string
	// HQ is headquarters' layered configuration as the box took it: the
	// layers applied and refused, what waits for a restart; nil when the
	// box takes none.
	HQ *wire.ConfigState
}

// SecretState is what the page says of a secret.
type SecretState struct {
	Field string // "vipps.client_secret"
	Set   bool
	From  string // "configuration file", "file /etc/tillbox/client_secret", …
	Fixed bool   // from an environment variable: cannot change here
}

// ScannerValues are one scanner's settings.
type ScannerValues struct {
	Name, Driver, Match, Mode, Layout, Baud, Terminator string
}

// SaveResult says what saving did.
type SaveResult struct {
	// Problems map fields ("vipps.msn", "scanner[2].match") to what is
	// wrong; nothing was written.
	Problems map[string]string
	// Applied are the settings changed at once; Restart those that apply
	// after a restart.
	Applied []string
	Restart []string
}

// settingsFuncs are the template functions of the settings pages.
var settingsFuncs = template.FuncMap{
	"inc":         func(i int) int { return i + 1 },
	"minPassword": func() int { return MinPassword },
	"has":         func(list []string, v string) bool { return slices.Contains(list, v) },
}

// maxScanners bounds the scanner rows of the form.
const maxScanners = 8

type settingsData struct {
	CSRF     string
	Code     bool
	V        SettingsValues
	Problems map[string]string
	Other    []string // problems of no field on the form
	Saved    bool
	Result   SaveResult
	LoadErr  string
	Layouts  []string
	Modes    []string
}

// fromNote is where the value of Field comes from, for the page.
type fromNote struct{ Field, Text string }

// From is where the value of field comes from (its Text empty when not
// known).
func (d settingsData) From(field string) fromNote { return fromNote{field, d.V.From[field]} }

// Problem is the reason beside field, or "".
func (d settingsData) Problem(field string) string { return d.Problems[field] }

// Secret is the state of a secret field.
func (d settingsData) Secret(field string) SecretState {
	for _, s := range d.V.Secrets {
		if s.Field == field {
			return s
		}
	}
	return SecretState{Field: field, From: "not set"}
}

// onForm lists the fields the form shows beside an input.
func onForm(field string) bool {
	switch field {
	case "vipps.environment", "vipps.base_url", "vipps.msn", "vipps.client_id", "vipps.client_secret",
		"vipps.subscription_key", "display.language", "sales.customer_present_window":
		return true
	}
	return strings.HasPrefix(field, "scanner[")
}

func (c *Console) settingsPage(w http.ResponseWriter, r *http.Request, s ctxSession) {
	if c.o.Settings == nil {
		http.Error(w, "settings are not available on this box", http.StatusNotFound)
		return
	}
	d := c.settingsData(s)
	v, err := c.o.Settings.Load()
	if err != nil {
		d.LoadErr = err.Error()
	}
	d.V = withBlankScanner(v)
	c.render(w, http.StatusOK, "settings.html", d)
}

func (c *Console) settingsData(s ctxSession) settingsData {
	return settingsData{CSRF: s.s.csrf, Code: c.Code() != "",
		Layouts: []string{"us", "no", "da", "sv-fi", "de"}, Modes: []string{"auto", "keyboard", "hidpos"}}
}

// withBlankScanner adds an empty row to add a scanner with.
func withBlankScanner(v SettingsValues) SettingsValues {
	if len(v.Scanners) < maxScanners {
		v.Scanners = append(slices.Clone(v.Scanners), ScannerValues{})
	}
	return v
}

// saveSettings takes the form: the secrets' fields empty keep the secrets,
// a scanner row without driver and match is dropped.
func (c *Console) saveSettings(w http.ResponseWriter, r *http.Request, s ctxSession) {
	if c.o.Settings == nil {
		http.Error(w, "settings are not available on this box", http.StatusNotFound)
		return
	}
	cur, err := c.o.Settings.Load()
	d := c.settingsData(s)
	if err != nil {
		d.LoadErr = err.Error()
		c.render(w, http.StatusInternalServerError, "settings.html", d)
		return
	}
	f := r.PostForm
	v := cur
	v.Environment = strings.TrimSpace(f.Get("environment"))
	v.BaseURL = strings.TrimSpace(f.Get("base_url"))
	v.MSN = strings.TrimSpace(f.Get("msn"))
	v.ClientID = strings.TrimSpace(f.Get("client_id"))
	v.ClientSecret = f.Get("client_secret")
	v.SubscriptionKey = f.Get("subscription_key")
	v.Language = f.Get("language")
	v.CustomerPresentWindow = strings.TrimSpace(f.Get("customer_present_window"))
	v.Scanners = nil
	// Every row the page showed: a file written by hand may hold more
	// scanners than the page offers rows for.
	for i := range max(maxScanners, len(cur.Scanners)) {
		p := "scanner" + strconv.Itoa(i) + "_"
		sc := ScannerValues{Name: strings.TrimSpace(f.Get(p + "name")), Driver: f.Get(p + "driver"),
			Match: strings.TrimSpace(f.Get(p + "match")), Mode: f.Get(p + "mode"), Layout: f.Get(p + "layout"),
			Baud: strings.TrimSpace(f.Get(p + "baud")), Terminator: strings.TrimSpace(f.Get(p + "terminator"))}
		if sc.Driver == "" && sc.Match == "" {
			continue // an empty row, or a scanner removed
		}
		v.Scanners = append(v.Scanners, sc)
	}
	res, err := c.o.Settings.Save(v)
	if err != nil {
		c.log.Error("technician: saving the settings", "err", err)
		d.LoadErr = "not saved: " + err.Error()
		v.ClientSecret, v.SubscriptionKey = "", ""
		d.V = withBlankScanner(v)
		c.render(w, http.StatusInternalServerError, "settings.html", d)
		return
	}
	// Never send a secret back, even one refused.
	v.ClientSecret, v.SubscriptionKey = "", ""
	if len(res.Problems) > 0 {
		d.Problems = res.Problems
		for field, reason := range res.Problems {
			if !onForm(field) {
				d.Other = append(d.Other, field+": "+reason)
			}
		}
		slices.Sort(d.Other)
		d.V = withBlankScanner(v)
		c.render(w, http.StatusUnprocessableEntity, "settings.html", d)
		return
	}
	c.log.Info("technician: settings saved", "applied", res.Applied, "restart", res.Restart, "client", client(r))
	if now, err := c.o.Settings.Load(); err == nil {
		v = now
	}
	d.Saved, d.Result, d.V = true, res, withBlankScanner(v)
	c.render(w, http.StatusOK, "settings.html", d)
}

// restart asks the box to restart; a payment in flight makes it ask for a
// confirmation first.
func (c *Console) restart(w http.ResponseWriter, r *http.Request, s ctxSession) {
	if c.o.Restart == nil {
		http.Error(w, "restart is not available on this box", http.StatusNotFound)
		return
	}
	force := r.PostFormValue("confirm") == "yes"
	inFlight, err := c.o.Restart(force)
	d := restartData{CSRF: s.s.csrf, InFlight: inFlight}
	switch {
	case err != nil:
		c.log.Error("technician: restart", "err", err)
		d.Problem = err.Error()
		c.render(w, http.StatusInternalServerError, "restart.html", d)
	case len(inFlight) > 0 && !force:
		c.log.Warn("technician: restart refused: a payment is in flight", "sales", inFlight, "client", client(r))
		c.render(w, http.StatusConflict, "restart.html", d)
	default:
		c.log.Info("technician: restart requested", "client", client(r), "forced", force)
		d.Restarting = true
		c.render(w, http.StatusAccepted, "restart.html", d)
	}
}

type restartData struct {
	CSRF       string
	InFlight   []string
	Restarting bool
	Problem    string
}

type passwordData struct {
	CSRF    string
	Code    bool // signed in with the one-time code: no current password
	Problem string
	Done    bool
}

func (c *Console) passwordPage(w http.ResponseWriter, r *http.Request, s ctxSession) {
	c.render(w, http.StatusOK, "password.html", passwordData{CSRF: s.s.csrf, Code: c.Code() != ""})
}

// setPassword stores a new password (typed twice); with a password already
// set, the current one is asked as well. It ends the one-time code.
func (c *Console) setPassword(w http.ResponseWriter, r *http.Request, s ctxSession) {
	if c.o.Settings == nil {
		http.Error(w, "the password cannot be set from this page: use `tillbox passwd`", http.StatusNotFound)
		return
	}
	d := passwordData{CSRF: s.s.csrf, Code: c.Code() != ""}
	refuse := func(status int, why string) {
		d.Problem = why
		c.render(w, status, "password.html", d)
	}
	pw, again := r.PostFormValue("password"), r.PostFormValue("again")
	if current := c.passwordHash(); current != "" {
		now := c.now()
		if ok, _ := c.limit.Allow(client(r), now); !ok {
			refuse(http.StatusTooManyRequests, "Too many attempts: wait a minute.")
			return
		}
		c.verify.Lock()
		err := CheckPassword(current, r.PostFormValue("current"))
		c.verify.Unlock()
		if err != nil {
			c.log.Warn("technician: password change refused: wrong current password", "client", client(r))
			refuse(http.StatusUnauthorized, "The current password is wrong.")
			return
		}
		c.limit.Forgive(client(r), now) // only wrong guesses count
	}
	switch {
	case pw != again:
		refuse(http.StatusUnprocessableEntity, "The two passwords differ.")
		return
	case len([]rune(pw)) < MinPassword:
		refuse(http.StatusUnprocessableEntity, fmt.Sprintf("Use at least %d characters.", MinPassword))
		return
	case len(pw) > 1024:
		refuse(http.StatusUnprocessableEntity, "Use at most 1024 characters.")
		return
	}
	hash, err := HashPassword(pw)
	if err == nil {
		err = c.o.Settings.SetPassword(hash)
	}
	if err != nil {
		c.log.Error("technician: setting the password", "err", err)
		refuse(http.StatusInternalServerError, "Not saved: "+err.Error())
		return
	}
	c.mu.Lock()
	c.hash, c.code = hash, ""
	c.mu.Unlock()
	// Whoever signed in with a one-time code or the old password is out.
	c.sessions.dropOthers(s.id)
	c.announceCode("")
	c.log.Info("technician: password set; the one-time code and every other session ended", "client", client(r))
	d.Done, d.Code = true, false
	c.render(w, http.StatusOK, "password.html", d)
}

// passwordHash is the password's hash in force, or "".
func (c *Console) passwordHash() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hash
}

// announceCode writes the code in force to Options.CodeFile ("" removes
// it). The code itself is never logged.
func (c *Console) announceCode(code string) {
	if c.o.CodeFile == "" {
		return
	}
	if err := writeCodeFile(c.o.CodeFile, code); err != nil {
		c.log.Error("technician: the one-time code's file", "file", c.o.CodeFile, "err", err)
	}
}

// mustSetPassword tells whether a session signed in with the one-time code
// must set a password before anything else.
func (c *Console) mustSetPassword() bool {
	return c.o.Settings != nil && c.Code() != ""
}

// ScannerProblem is the reason beside the key of the scanner in row i.
func (d settingsData) ScannerProblem(i int, key string) string {
	return d.Problems[fmt.Sprintf("scanner[%d].%s", i+1, key)]
}

// ScannerKeys are the keys of a scanner whose problems show in its row.
func (d settingsData) ScannerKeys() []string {
	return []string{"name", "driver", "match", "baud", "terminator", "mode", "layout", "prefix", "suffix"}
}
