package main

import (
	"context"
	"fmt"

	"github.com/tillbox/tillbox/agent/fleet"
	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/agent/version"
)

// boxLink is the link to headquarters ([fleet], docs/chain.md) that Main
// runs beside the agent: it ships the event log, sends heartbeats and
// takes relayed webhooks. Nothing of the box waits for it.
type boxLink struct {
	link   *fleet.Link
	config *fleetConfig // headquarters' layered configuration (fleet_config.go), or nil
	stop   context.CancelFunc
	done   chan error // nil until started
}

// openFleet makes the link when [fleet] is on (the store is open with
// HoldUnshipped then: see open).
func (m *Main) openFleet() error {
	o, on := m.Config.FleetOptions()
	if !on {
		return nil
	}
	a := m.agent
	o.Logger = m.log.With("component", "fleet")
	o.Changed = a.EventsChanged
	o.Relay = func(_ context.Context, body []byte) error {
		if err := a.RelayedWebhook(body); err != nil {
			return fmt.Errorf("%w: %w", fleet.ErrRejected, err)
		}
		return nil
	}
	o.Describe = m.describe
	o.Refunds = m.refundHooks() // refund anywhere in the chain (fleet_refund.go)
	o.Act = m.fleetActions()    // fleet_actions.go
	fc, err := m.openFleetConfig()
	if err != nil {
		return err
	}
	if fc != nil {
		o.ConfigLayer = fc.take
	}
	l, err := fleet.New(m.db, o)
	if err != nil {
		return fmt.Errorf("[fleet]: %w", err)
	}
	m.fleet = &boxLink{link: l, config: fc, stop: func() {}}
	if m.tokens != nil {
		m.tokens.link.Store(l) // fleet_token.go
	}
	return nil
}

// describe is what the box says of itself in a heartbeat: no secret, no
// customer data.
func (m *Main) describe() wire.Heartbeat {
	a := m.agent
	h := wire.Heartbeat{Version: version.String(), MSN: m.Config.Vipps.MSN, ReferencePrefix: a.Options().ReferencePrefix}
	if st, err := a.Status(); err == nil {
		h.Online, h.Queue, h.LastError = st.Online, st.Queued, st.LastError
		h.QueueCap, h.Auth = st.MaxQueued, st.Auth // Health (alerts)
	} else {
		h.LastError = err.Error()
	}
	for _, s := range m.scanners.Statuses() {
		h.Scanners = append(h.Scanners, wire.Scanner{Name: s.Name, Connected: s.Connected})
	}
	if fc := m.fleet.config; fc != nil {
		st := fc.state()
		h.Config = &st
	}
	m.describeToken(&h) // fleet_token.go
	return h
}

// startFleet starts the link (serve.go: start).
func (m *Main) startFleet() {
	if m.fleet == nil {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	m.fleet.stop, m.fleet.done = stop, make(chan error, 1)
	go func() { m.fleet.done <- m.fleet.link.Run(ctx) }()
}

// stopFleet stops the link and waits for it (serve.go: shutdown); the
// events it has not shipped wait in the store.
func (m *Main) stopFleet() error {
	if m.fleet == nil || m.fleet.done == nil {
		return nil
	}
	m.fleet.stop()
	err := <-m.fleet.done
	m.fleet.done = nil
	return err
}

// fleetStatus is the link's status for the technician page and /metrics;
// nil when [fleet] is off.
func (m *Main) fleetStatus() func() fleet.Status {
	if m.fleet == nil {
		return nil
	}
	fc := m.fleet.config
	return func() fleet.Status {
		s := m.fleet.link.Status()
		if fc != nil {
			st := fc.state()
			s.Config = &st
		}
		s.Token = m.tokenState() // fleet_token.go
		return s
	}
}
