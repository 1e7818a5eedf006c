package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/epayment"
	"github.com/tillbox/tillbox/agent/fleet"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// Fleet is the [fleet] section: the box's link to headquarters (the chain
// tier, docs/chain.md). It is off unless Servers is set.
type Fleet struct {
	// Chain and Store name the box's chain and store; Till its till
	// (default box.till). Each is 1 to 40 letters, digits or dashes
	// (wire.IDRule): they make the box's subjects.
	Chain string `toml:"chain,omitempty"`
	Store string `toml:"store,omitempty"`
	Till  string `toml:"till,omitempty"`
	// Servers are headquarters' NATS URLs: tls://host:4222, wss://host
	// (WebSocket on 443, for shops that only let HTTPS out), or nats://
	// (TLS when ca_file is set; plain only to loopback).
	Servers []string `toml:"servers,omitempty"`
	// Credentials, one kind: CredsFile (a NATS .creds file), NKeyFile (an
	// nkey seed), or User with Password (or password_file, or
	// TILLBOX_FLEET_PASSWORD).
	CredsFile    string          `toml:"creds_file,omitempty"`
	NKeyFile     string          `toml:"nkey_file,omitempty"`
	User         string          `toml:"user,omitempty"`
	Password     epayment.Secret `toml:"password,omitempty"`
	PasswordFile string          `toml:"password_file,omitempty"`
	// CAFile holds the PEM roots headquarters' certificate chains to;
	// empty: the system's.
	CAFile string `toml:"ca_file,omitempty"`
	// Heartbeat is how often the box tells headquarters how it is.
	Heartbeat Duration `toml:"heartbeat"`
}

func defaultFleet() Fleet { return Fleet{Heartbeat: Duration(fleet.DefaultHeartbeat)} }

// FleetOn reports whether the link to headquarters is on: fleet.servers
// is set.
func (c *Config) FleetOn() bool { return len(c.Fleet.Servers) > 0 }

// FleetTill is the box's name in the chain.
func (c *Config) FleetTill() wire.Till {
	t := wire.Till{Chain: c.Fleet.Chain, Store: c.Fleet.Store, Till: c.Fleet.Till}
	if t.Till == "" {
		t.Till = c.Box.Till
	}
	return t
}

// FleetOptions converts [fleet] into the link's options (false when the
// link is off); relative files are taken from the configuration's folder.
// The caller sets Logger and the box's hooks.
func (c *Config) FleetOptions() (fleet.Options, bool) {
	if !c.FleetOn() {
		return fleet.Options{}, false
	}
	f := &c.Fleet
	return fleet.Options{
		Till:      c.FleetTill(),
		Servers:   append([]string(nil), f.Servers...),
		CredsFile: c.resolve(f.CredsFile),
		NKeyFile:  c.resolve(f.NKeyFile),
		User:      f.User,
		Password:  f.Password,
		CAFile:    c.resolve(f.CAFile),
		Heartbeat: f.Heartbeat.D(),
		MSN:       c.Vipps.MSN, // the token broker's (token_source.go)
	}, true
}

// resolve takes a relative path from the configuration's folder, as the
// secrets' *_file are.
func (c *Config) resolve(path string) string {
	if path == "" || filepath.IsAbs(path) || c.File == "" {
		return path
	}
	return filepath.Join(filepath.Dir(c.File), path)
}

// fleet checks [fleet].
func (k *checker) fleet() {
	f := &k.c.Fleet
	k.between("fleet.heartbeat", f.Heartbeat, time.Second, 5*time.Minute)
	if !k.c.FleetOn() {
		for _, s := range []struct{ field, v string }{
			{"fleet.chain", f.Chain}, {"fleet.store", f.Store}, {"fleet.creds_file", f.CredsFile},
			{"fleet.nkey_file", f.NKeyFile}, {"fleet.user", f.User},
		} {
			if s.v != "" {
				k.warn(s.field, "is set but fleet.servers is empty: the link to headquarters is off")
				return
			}
		}
		return
	}
	t := k.c.FleetTill()
	for _, id := range []struct{ field, what, v string }{
		{"fleet.chain", "the chain's id", t.Chain}, {"fleet.store", "the store's id", t.Store}, {"fleet.till", "the till's id", t.Till},
	} {
		switch err := wire.CheckID(id.field, id.v); {
		case id.v == "":
			k.add(id.field, "missing: %s at headquarters (%s)", id.what, wire.IDRule)
		case err != nil:
			k.add(id.field, "%q: use %s", id.v, wire.IDRule)
		case id.field == "fleet.store" && id.v == "unrouted":
			k.add(id.field, "%q is reserved at headquarters: name the store otherwise", id.v)
		}
	}
	for i, s := range f.Servers {
		if reason := fleet.CheckServer(s, f.CAFile != ""); reason != "" {
			k.errs = append(k.errs, Problem{Field: fmt.Sprintf("fleet.servers[%d]", i+1), Reason: reason, Line: k.c.lines["fleet.servers"]})
		}
	}
	k.fleetCredentials()
}

// fleetCredentials checks that exactly one kind of credentials is set.
func (k *checker) fleetCredentials() {
	f := &k.c.Fleet
	var kinds []string
	if f.CredsFile != "" {
		kinds = append(kinds, "creds_file")
	}
	if f.NKeyFile != "" {
		kinds = append(kinds, "nkey_file")
	}
	if f.User != "" {
		kinds = append(kinds, "user")
	} else if f.Password != "" {
		kinds = append(kinds, "password")
	}
	switch {
	case len(kinds) == 0:
		k.add("fleet.creds_file", "missing: the box's credentials at headquarters: creds_file (a NATS .creds file), nkey_file, or user with password (or password_file, or %s)", envName("fleet.password"))
	case len(kinds) > 1:
		k.add("fleet."+kinds[1], "set together with fleet.%s: keep one kind of credentials", kinds[0])
	case kinds[0] != "user" && kinds[0] != "password":
	case f.Password == "":
		k.add("fleet.password", "missing while fleet.user is set: the password, or password_file, or %s", envName("fleet.password"))
	case f.User == "":
		k.add("fleet.user", "missing while fleet.password is set")
	case strings.IndexFunc(f.Password.Reveal(), func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0:
		k.add("fleet.password", "holds a control character: copy it again")
	}
}
