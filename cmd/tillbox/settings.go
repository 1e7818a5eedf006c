package main

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/display"
	"github.com/tillbox/tillbox/display/technician"
)

// settingsFile is the technician page's settings: the configuration file
// with the page's overlay laid over it (config.Load). Saving validates with
// the configuration's own rules and writes the overlay in the data folder
// (config.Save), never the configuration file, which is read-only to the
// service's user; the display language and the customer-present window
// change at once, the rest at the next start.
type settingsFile struct {
	mu        sync.Mutex // one change of the file at a time
	path      string
	overrides []string      // the fields the command line overrides
	agent     *agent.Agent  // the customer-present window changes live
	till      *display.Till // the display's language changes live; nil without a display
	log       *slog.Logger
	// passwordDir is the data directory when the password is in
	// `tillbox passwd`'s file there: a new one goes there too.
	passwordDir string
	// hq is headquarters' layered configuration as the box took it
	// (fleet_config.go); nil, or nil from it, when it takes none.
	hq func() *wire.ConfigState
}

func (s *settingsFile) load() (*config.Config, error) {
	c, err := config.Load(s.path)
	if c == nil {
		return nil, err
	}
	return c, err
}

// Load reads the file (not the settings in force: flags may override
// them, and the file may have changed since the start).
func (s *settingsFile) Load() (technician.SettingsValues, error) {
	c, err := s.load()
	if c == nil {
		return technician.SettingsValues{}, err
	}
	v := technician.SettingsValues{
		Environment: c.Vipps.Environment, BaseURL: c.Vipps.BaseURL,
		MSN: c.Vipps.MSN, ClientID: c.Vipps.ClientID,
		Language: c.Display.Language, Languages: config.Languages,
		CustomerPresentWindow: c.Sales.CustomerPresentWindow.String(),
		File:                  s.path, OverlayFile: c.OverlayFile, FromPage: c.Overlaid(),
		Overridden: s.overrides,
	}
	if v.Environment == "" {
		v.Environment = "simulator"
	}
	v.From = s.from(c)
	if s.hq != nil {
		v.HQ = s.hq()
	}
	for _, sc := range c.Scanners {
		row := technician.ScannerValues{Name: sc.Name, Driver: sc.Driver, Match: sc.Match, Mode: sc.Mode,
			Layout: sc.Layout, Terminator: sc.Terminator}
		if sc.Baud != 0 {
			row.Baud = strconv.Itoa(sc.Baud)
		}
		v.Scanners = append(v.Scanners, row)
	}
	for _, f := range []struct {
		field string
		value epayment.Secret
	}{{"vipps.client_secret", c.Vipps.ClientSecret}, {"vipps.subscription_key", c.Vipps.SubscriptionKey}} {
		src := c.SecretSource(f.field)
		from := src.String()
		if src.Kind == config.FromOverlay {
			from = "the technician page (" + src.Where + ")"
		}
		v.Secrets = append(v.Secrets, technician.SecretState{Field: f.field, Set: f.value != "", From: from,
			Fixed: src.Kind == config.FromEnv})
	}
	return v, err
}

// from says where the value of each field on the page comes from: the
// file, the page's overlay, a layer of headquarters (docs/chain.md), and
// whether the command line overrides it.
func (s *settingsFile) from(c *config.Config) map[string]string {
	from := map[string]string{}
	for _, field := range []string{"vipps.environment", "vipps.msn", "vipps.client_id", "display.language", "sales.customer_present_window", "scanner"} {
		key := field
		if field == "vipps.environment" && c.Vipps.Environment == "" {
			key = "vipps.base_url"
		}
		src := c.KeySource(key)
		text := src.String()
		switch src.Kind {
		case config.FromOverlay:
			text = "the technician page (" + src.Where + ")"
		case config.FromConfig:
			text = "the configuration file"
		}
		flag := key
		if key == "scanner" {
			flag = "scanners"
		}
		if slices.Contains(s.overrides, flag) {
			text += "; the command line of tillbox run overrides it"
		}
		from[field] = text
	}
	return from
}

// Save applies v to the file's configuration, validates and writes it,
// then applies what can change live.
func (s *settingsFile) Save(v technician.SettingsValues) (technician.SaveResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res technician.SaveResult
	c, err := s.load()
	if err != nil {
		return res, fmt.Errorf("the configuration has problems; fix them by hand first: %w", err)
	}
	old := *c
	old.Scanners = slices.Clone(c.Scanners)
	problems := map[string]string{}

	applyVipps(c, &old, v, problems)
	c.Display.Language = v.Language
	if d, err := config.ParseDuration(v.CustomerPresentWindow); err != nil {
		problems["sales.customer_present_window"] = err.Error()
	} else {
		c.Sales.CustomerPresentWindow = d
	}
	applyScanners(c, &old, v.Scanners, problems)
	if len(problems) > 0 {
		res.Problems = problems
		return res, nil
	}
	if err := c.Save(); err != nil {
		var ce *config.Error
		if !errors.As(err, &ce) {
			return res, err
		}
		for _, p := range ce.Problems {
			if _, dup := problems[p.Field]; !dup {
				problems[p.Field] = p.Reason
			}
		}
		res.Problems = problems
		return res, nil
	}
	s.applyChanges(c, &old, &res)
	return res, nil
}

// applyVipps sets the page's [vipps] values on c (old is the file as it
// was), and adds a problem for each kept secret that must be typed again.
func applyVipps(c, old *config.Config, v technician.SettingsValues, problems map[string]string) {
	if v.Environment == "simulator" {
		c.Vipps.Environment, c.Vipps.BaseURL = "", v.BaseURL
	} else {
		c.Vipps.Environment, c.Vipps.BaseURL = v.Environment, ""
	}
	c.Vipps.MSN, c.Vipps.ClientID = v.MSN, v.ClientID
	if v.ClientSecret != "" {
		c.Vipps.ClientSecret = epayment.Secret(v.ClientSecret)
	}
	if v.SubscriptionKey != "" {
		c.Vipps.SubscriptionKey = epayment.Secret(v.SubscriptionKey)
	}
	// The secrets are write-only: a new address of Vipps MobilePay (one
	// typed on this page may be anyone's host) gets only secrets typed
	// with it, never the kept ones.
	if c.BaseURL() != old.BaseURL() {
		for _, f := range []struct {
			field, typed string
			kept         epayment.Secret
		}{{"vipps.client_secret", v.ClientSecret, old.Vipps.ClientSecret}, {"vipps.subscription_key", v.SubscriptionKey, old.Vipps.SubscriptionKey}} {
			if f.typed == "" && f.kept != "" {
				problems[f.field] = "type it again: the address of Vipps MobilePay changes (" + c.BaseURL() + "), and the kept one is not sent to a new address"
			}
		}
	}
}

// applyScanners replaces c's scanners by the page's rows, keeping the keys
// the page does not show from old, and adds a problem for each bad baud.
func applyScanners(c, old *config.Config, rows []technician.ScannerValues, problems map[string]string) {
	c.Scanners = nil
	for i, row := range rows {
		sc := config.Scanner{Name: row.Name, Driver: row.Driver, Match: row.Match, Mode: row.Mode, Layout: row.Layout,
			Terminator: row.Terminator}
		if row.Baud != "" {
			n, err := strconv.Atoi(row.Baud)
			if err != nil {
				problems[fmt.Sprintf("scanner[%d].baud", i+1)] = fmt.Sprintf("%q is not a whole number", row.Baud)
			}
			sc.Baud = n
		}
		// The keys the page does not show stay as they were: the same
		// device's, wherever its row is now (a row above removed).
		j := slices.IndexFunc(old.Scanners, func(o config.Scanner) bool { return o.Driver == sc.Driver && o.Match == sc.Match })
		if j < 0 && i < len(old.Scanners) && old.Scanners[i].Match == sc.Match {
			j = i
		}
		if j >= 0 {
			sc.Prefix, sc.Suffix = old.Scanners[j].Prefix, old.Scanners[j].Suffix
		}
		c.Scanners = append(c.Scanners, sc)
	}
}

// applyChanges tells in res what changed from old to the saved c, and
// applies now what can change live; the rest waits for the next start.
func (s *settingsFile) applyChanges(c, old *config.Config, res *technician.SaveResult) {
	changed := func(name string, differ bool, live func() error) {
		if !differ {
			return
		}
		if live != nil {
			if err := live(); err == nil {
				res.Applied = append(res.Applied, name)
				return
			} else {
				s.log.Warn("settings: cannot apply live; at the next start", "setting", name, "err", err)
			}
		}
		res.Restart = append(res.Restart, name)
	}
	changed("environment", c.Vipps.Environment != old.Vipps.Environment || c.Vipps.BaseURL != old.Vipps.BaseURL, nil)
	changed("MSN", c.Vipps.MSN != old.Vipps.MSN, nil)
	changed("client id", c.Vipps.ClientID != old.Vipps.ClientID, nil)
	changed("client secret", c.Vipps.ClientSecret != old.Vipps.ClientSecret, nil)
	changed("subscription key", c.Vipps.SubscriptionKey != old.Vipps.SubscriptionKey, nil)
	changed("scanners", !slices.Equal(c.Scanners, old.Scanners), nil)
	var setLanguage func() error
	if s.till != nil {
		setLanguage = func() error { return s.till.SetLanguage(c.Display.Language) }
	}
	changed("display language", c.Display.Language != old.Display.Language, setLanguage)
	changed("customer-present window", c.Sales.CustomerPresentWindow != old.Sales.CustomerPresentWindow, func() error {
		return s.agent.SetCustomerPresentWindow(c.Sales.CustomerPresentWindow.D())
	})
}

// SetPassword writes the technician password's hash where the password
// in force came from: `tillbox passwd`'s file in the data directory (also
// when there is none yet: a first boot's password goes there), or, when
// the configuration holds one (console.password_hash or its file, which
// the service cannot write), the page's overlay, which takes precedence.
func (s *settingsFile) SetPassword(hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.passwordDir != "" {
		if err := technician.WritePasswordFile(s.passwordDir, hash); err != nil {
			return err
		}
		s.log.Info("technician password set", "file", s.passwordDir+"/"+technician.PasswordFile)
		return nil
	}
	c, err := s.load()
	if err != nil {
		return fmt.Errorf("the configuration has problems; fix them by hand first: %w", err)
	}
	c.Console.PasswordHash = epayment.Secret(hash)
	if err := c.Save(); err != nil {
		return err
	}
	s.log.Info("technician password set", "file", c.OverlayFile)
	return nil
}
