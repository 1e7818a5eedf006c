package main

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// fleetConfig is the box's side of headquarters' layered configuration
// (agent/config/layers.go; docs/chain.md): it takes each new revision of
// the box's three keys from the link, checks the layers with the file's
// rules as the box would load them (file < chain < store < till <
// overlay < environment < command line), keeps the last good ones in the
// data folder, applies at once what can change live, and says in the
// heartbeat what it applied, what it refused (field and reason) and what
// waits for a restart. A layer it refuses leaves the last good one in
// force.
type fleetConfig struct {
	path  string           // the configuration file
	flags config.Overrides // the command line's, which win over every layer
	key   wire.ConfigKey
	till  wire.Till
	// started is the configuration the box started with: what differs
	// from it and cannot change live waits for a restart.
	started *config.Config
	// live changes what can change while the box runs: the display's
	// language and the customer-present window.
	live map[string]func(c *config.Config) error
	log  *slog.Logger

	mu      sync.Mutex
	layers  []config.Layer       // the last good layers, least specific first
	refused []wire.ConfigRefusal // the newest refused layer of each key
	restart []string             // the fields that wait for a restart
	// unapplied are the live fields whose setter failed: they wait for a
	// restart too, until a later layer sets them.
	unapplied map[string]bool
	running   *config.Config // the configuration the last good layers give
}

// openFleetConfig makes the box's key for sealed secrets at the first
// start (mode 0600, in the data folder) and takes the layers Load laid
// over the file. nil without a configuration file (the demo).
func (m *Main) openFleetConfig() (*fleetConfig, error) {
	c, log := m.Config, m.log.With("component", "fleet-config")
	if m.configPath == "" || c.ConfigKeyPath() == "" {
		return nil, nil
	}
	key, made, err := config.EnsureConfigKey(c.ConfigKeyPath())
	if err != nil {
		return nil, fmt.Errorf("[fleet]: %w", err)
	}
	if made {
		log.Info("made the box's key for the secrets headquarters seals for it; its public half goes in the heartbeat", "file", c.ConfigKeyPath())
	}
	f := &fleetConfig{path: m.configPath, flags: m.flags, key: key, till: c.FleetTill(), started: c, log: log,
		layers: c.Layers(), refused: c.LayersRefused(), running: c}
	f.live = map[string]func(c *config.Config) error{
		"sales.customer_present_window": func(c *config.Config) error {
			return m.agent.SetCustomerPresentWindow(c.Sales.CustomerPresentWindow.D())
		},
		"display.language": func(c *config.Config) error {
			if m.display == nil {
				return nil // no display: nothing to change
			}
			return m.display.till.SetLanguage(c.Display.Language)
		},
	}
	for _, r := range c.LayersLeftOut() {
		log.Warn("a layer of headquarters kept in the data folder breaks a rule with the configuration as it is now: left out", "key", r.Key, "revision", r.Revision, "field", r.Field, "reason", r.Reason)
	}
	for _, l := range f.layers {
		log.Info("configuration from headquarters", "key", l.Key, "revision", l.Revision)
	}
	return f, nil
}

// take is the link's Options.ConfigLayer: the newest value of key.
func (f *fleetConfig) take(key string, rev uint64, value []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.layers, func(l config.Layer) bool { return l.Key == key })
	if (i >= 0 && f.layers[i].Revision == rev) || (i < 0 && len(value) == 0) {
		if f.forget(key) { // headquarters went back to the layer in force
			f.keep()
		}
		return
	}
	lv, err := wire.ParseConfigLayer(value)
	if err != nil {
		f.refuse(wire.ConfigRefusal{Key: key, Revision: rev, Field: "layer", Reason: err.Error()})
		return
	}
	cand := slices.DeleteFunc(slices.Clone(f.layers), func(l config.Layer) bool { return l.Key == key })
	if len(value) > 0 {
		cand = append(cand, config.Layer{Key: key, Revision: rev, Value: lv})
	}
	order := f.till.ConfigKeys()
	for i := 1; i < len(cand); i++ { // the chain's, the store's, the till's: at most three
		for j := i; j > 0 && slices.Index(order, cand[j].Key) < slices.Index(order, cand[j-1].Key); j-- {
			cand[j], cand[j-1] = cand[j-1], cand[j]
		}
	}
	c, refusal := f.check(key, rev, cand)
	if refusal != nil {
		f.refuse(*refusal)
		return
	}
	f.layers = cand
	f.forget(key)
	f.keep()
	f.apply(key, rev, c)
}

// check loads the configuration with the candidate layers as the box
// would at its next start: a problem of the new layer, or one the
// layers in force did not have, refuses it.
func (f *fleetConfig) check(key string, rev uint64, cand []config.Layer) (*config.Config, *wire.ConfigRefusal) {
	loadWith := func(layers []config.Layer) (*config.Config, error) {
		c, err := config.LoadLayers(f.path, layers)
		if c != nil && err == nil {
			err = c.Override(f.flags)
		}
		return c, err
	}
	c, err := loadWith(cand)
	if c == nil {
		return nil, &wire.ConfigRefusal{Key: key, Revision: rev, Field: "configuration file", Reason: err.Error()}
	}
	for _, r := range c.LayersLeftOut() {
		if r.Key == key {
			return nil, &r
		}
	}
	var ce *config.Error
	if !errors.As(err, &ce) && len(c.LayersLeftOut()) == 0 {
		return c, nil
	}
	base, berr := loadWith(f.layers)
	for _, r := range c.LayersLeftOut() { // another layer breaks a rule with this one
		if base == nil || !slices.ContainsFunc(base.LayersLeftOut(), func(b wire.ConfigRefusal) bool { return b.Key == r.Key }) {
			return nil, &wire.ConfigRefusal{Key: key, Revision: rev, Field: r.Field, Reason: r.Reason + " (with the layer " + r.Key + " in force)"}
		}
	}
	if ce == nil {
		return c, nil
	}
	var before []config.Problem
	var be *config.Error
	if errors.As(berr, &be) {
		before = be.Problems
	}
	for _, p := range ce.Problems {
		if !slices.ContainsFunc(before, func(b config.Problem) bool { return b.Field == p.Field && b.Reason == p.Reason }) {
			return nil, &wire.ConfigRefusal{Key: key, Revision: rev, Field: p.Field, Reason: p.Reason}
		}
	}
	return c, nil // no worse than the layers in force
}

// apply applies c, the configuration the new layers give: at once what
// can change live, the rest at the next start.
func (f *fleetConfig) apply(key string, rev uint64, c *config.Config) {
	changed := config.RemoteDiff(f.running, c)
	var applied []string
	for _, field := range changed {
		if set := f.live[field]; set != nil {
			if err := set(c); err != nil {
				f.log.Warn("configuration from headquarters: cannot apply live; at the next start", "field", field, "err", err)
				if f.unapplied == nil {
					f.unapplied = map[string]bool{}
				}
				f.unapplied[field] = true
				continue
			}
			delete(f.unapplied, field)
			applied = append(applied, field)
		}
	}
	f.restart = slices.DeleteFunc(config.RemoteDiff(f.started, c), func(field string) bool { return f.live[field] != nil })
	for field := range f.unapplied {
		if !slices.Contains(f.restart, field) {
			f.restart = append(f.restart, field)
		}
	}
	slices.Sort(f.restart)
	f.running = c
	f.log.Info("configuration from headquarters applied", "key", key, "revision", rev, "changed", changed, "applied", applied, "restart", f.restart)
}

// refuse keeps the layer in force and reports r.
func (f *fleetConfig) refuse(r wire.ConfigRefusal) {
	f.forget(r.Key)
	f.refused = append(f.refused, r)
	f.keep()
	f.log.Warn("configuration from headquarters refused: the last good layer stays", "key", r.Key, "revision", r.Revision, "field", r.Field, "reason", r.Reason)
}

// forget drops the refusal of key; false when there was none.
func (f *fleetConfig) forget(key string) bool {
	n := len(f.refused)
	f.refused = slices.DeleteFunc(f.refused, func(r wire.ConfigRefusal) bool { return r.Key == key })
	return len(f.refused) != n
}

// keep writes the layers and refusals to the data folder, so that a
// restart without headquarters runs with them.
func (f *fleetConfig) keep() {
	if err := config.WriteLayers(f.started.LayersPath(), f.layers, f.refused); err != nil {
		f.log.Error("configuration from headquarters: cannot keep the layers in the data folder; a restart runs with the ones kept before", "err", err)
	}
}

// state is what the heartbeat and the pages say of it.
func (f *fleetConfig) state() wire.ConfigState {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := wire.ConfigState{Key: f.key.Public(), Refused: slices.Clone(f.refused), Restart: slices.Clone(f.restart)}
	for _, l := range f.layers {
		s.Applied = append(s.Applied, wire.LayerRevision{Key: l.Key, Revision: l.Revision})
	}
	return s
}

// fleetConfigState is headquarters' layered configuration as the box took
// it, for the technician page; nil when it takes none.
func (m *Main) fleetConfigState() *wire.ConfigState {
	if m.fleet == nil || m.fleet.config == nil {
		return nil
	}
	st := m.fleet.config.state()
	return &st
}
